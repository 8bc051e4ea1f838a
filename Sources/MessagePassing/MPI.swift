// MessagePassing: the MPI world of a process that mpirun or srun started (Debian's Open MPI), as typed
// Swift calls: rank and size, point-to-point byte messages (non-blocking send, probe then receive),
// broadcast and all-gather of 64-bit words and bytes. One thread of a process makes every MPI call
// (MPI_THREAD_FUNNELED); the engine's own threads never do. A failed MPI call cannot be recovered from
// (a peer is gone): it prints one line naming the call and the peer, and aborts the whole MPI job.

import CMPI
import Foundation

/// How this process was started, read from the launcher's environment before MPI is initialised.
public struct Launcher: Equatable, Sendable {
    public let name: String
    public let rank: Int
    public let size: Int

    /// mpirun (Open MPI) and srun (Slurm, with --mpi=pmix or pmi2) each export the rank and size; nil
    /// when neither did (a plain `blocklocal ...`).
    public static func detect(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Launcher? {
        func int(_ k: String) -> Int? { env[k].flatMap { Int($0) } }
        if let r = int("OMPI_COMM_WORLD_RANK"), let s = int("OMPI_COMM_WORLD_SIZE") {
            return Launcher(name: env["SLURM_STEP_ID"] != nil && env["OMPI_MCA_orte_launch"] == nil ? "srun" : "mpirun", rank: r, size: s)
        }
        if let r = int("PMIX_RANK"), let s = int("SLURM_STEP_NUM_TASKS") ?? int("SLURM_NTASKS") { return Launcher(name: "srun", rank: r, size: s) }
        if let r = int("PMI_RANK"), let s = int("PMI_SIZE") { return Launcher(name: "srun", rank: r, size: s) }
        return nil
    }
}

public final class MPIWorld: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// This rank's host (provenance; where each block ran).
    public let host: String
    private let comm: MPI_Comm
    private var finalized = false

    /// Initialises MPI (once per process).
    public init() {
        var provided: Int32 = 0
        _ = MPI_Init_thread(nil, nil, bl_mpi_thread_funneled(), &provided)
        comm = bl_mpi_comm_world()
        MPI_Comm_set_errhandler(comm, bl_mpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r); MPI_Comm_size(comm, &s)
        rank = Int(r); size = Int(s)
        host = ProcessInfo.processInfo.hostName
    }

    /// Ends MPI on this rank (every rank calls it once, after the last message).
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    /// Stops every rank of the job with `code`.
    public func abort(_ code: Int32) -> Never {
        MPI_Abort(comm, code)
        exit(code)
    }

    /// An MPI call that failed: one line, then the whole job stops (exit 2: an I/O failure between ranks).
    private func check(_ rc: Int32, _ what: @autoclosure () -> String) {
        guard rc != bl_mpi_success() else { return }
        var buffer = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        MPI_Error_string(rc, &buffer, &length)
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        FileHandle.standardError.write(Data("error: rank \(rank): \(what()) failed (\(text)); a peer rank is gone, so the MPI job stops; rerun the same command to resume from the last checkpoint\n".utf8))
        abort(2)
    }

    // MARK: point to point

    /// A non-blocking send in flight; its buffer must stay untouched until `wait` or `test` says done.
    public final class Request {
        fileprivate var raw: MPI_Request? = bl_mpi_request_null()
        fileprivate let world: MPIWorld
        fileprivate let what: String
        fileprivate init(world: MPIWorld, what: String) { self.world = world; self.what = what }
        public var done: Bool { raw == bl_mpi_request_null() }
        public func wait() {
            guard !done else { return }
            world.check(MPI_Wait(&raw, bl_mpi_status_ignore()), "waiting for \(what)")
        }
        /// True once the send has completed (progresses MPI without blocking).
        public func test() -> Bool {
            guard !done else { return true }
            var flag: Int32 = 0
            world.check(MPI_Test(&raw, &flag, bl_mpi_status_ignore()), "testing \(what)")
            return flag != 0
        }
    }

    /// Starts sending `count` bytes at `bytes` to rank `to`; the bytes must stay alive until it completes.
    public func sendLater(_ bytes: UnsafeRawPointer?, count: Int, to: Int, tag: Int) -> Request {
        let r = Request(world: self, what: "a send to rank \(to)")
        check(MPI_Isend(bytes, Int32(count), bl_mpi_byte(), Int32(to), Int32(tag), comm, &r.raw), "a send to rank \(to)")
        return r
    }

    /// Sends and waits until the bytes may be reused.
    public func send(_ bytes: [UInt8], to: Int, tag: Int) {
        bytes.withUnsafeBytes { b in
            check(MPI_Send(b.baseAddress, Int32(b.count), bl_mpi_byte(), Int32(to), Int32(tag), comm), "a send to rank \(to)")
        }
    }

    /// Waits for the next message from `from` with `tag`; its size in bytes.
    public func probe(from: Int, tag: Int) -> Int {
        var status = MPI_Status()
        check(MPI_Probe(Int32(from), Int32(tag), comm, &status), "waiting for a message from rank \(from)")
        var count: Int32 = 0
        MPI_Get_count(&status, bl_mpi_byte(), &count)
        return Int(count)
    }

    /// The size and source of a message with `tag` that has arrived (from any rank when `from` is nil),
    /// without waiting; nil when none has.
    public func poll(from: Int? = nil, tag: Int) -> (source: Int, bytes: Int)? {
        var status = MPI_Status()
        var flag: Int32 = 0
        check(MPI_Iprobe(from.map { Int32($0) } ?? bl_mpi_any_source(), Int32(tag), comm, &flag, &status), "polling for messages")
        guard flag != 0 else { return nil }
        var count: Int32 = 0
        MPI_Get_count(&status, bl_mpi_byte(), &count)
        return (Int(bl_mpi_status_source(&status)), Int(count))
    }

    /// Receives the next message from `from` with `tag` into `buffer` (which holds at least its size).
    public func receive(into buffer: UnsafeMutableRawPointer?, capacity: Int, from: Int, tag: Int) {
        check(MPI_Recv(buffer, Int32(capacity), bl_mpi_byte(), Int32(from), Int32(tag), comm, bl_mpi_status_ignore()),
              "a receive from rank \(from)")
    }

    /// Receives the next message from `from` with `tag` as bytes.
    public func receive(from: Int, tag: Int) -> [UInt8] {
        let n = probe(from: from, tag: tag)
        var out = [UInt8](repeating: 0, count: n)
        out.withUnsafeMutableBytes { receive(into: $0.baseAddress, capacity: n, from: from, tag: tag) }
        return out
    }

    // MARK: collectives (every rank calls them in the same order)

    /// Rank `root`'s words, on every rank.
    public func broadcast(_ words: inout [Int64], root: Int = 0) {
        let n = words.count
        words.withUnsafeMutableBytes { b in
            check(MPI_Bcast(b.baseAddress, Int32(n * 8), bl_mpi_byte(), Int32(root), comm), "a broadcast from rank \(root)")
        }
    }

    /// Rank `root`'s bytes, on every rank (the others' `bytes` are replaced).
    public func broadcast(bytes: inout [UInt8], root: Int = 0) {
        var n = [Int64(bytes.count)]
        broadcast(&n, root: root)
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(n[0])) }
        let count = Int32(n[0])
        bytes.withUnsafeMutableBytes { b in
            check(MPI_Bcast(b.baseAddress, count, bl_mpi_byte(), Int32(root), comm), "a broadcast from rank \(root)")
        }
    }

    /// Every rank's `word`, in rank order, on every rank.
    public func allGather(_ word: Int64) -> [Int64] {
        var mine = word
        var all = [Int64](repeating: 0, count: size)
        all.withUnsafeMutableBytes { b in
            check(MPI_Allgather(&mine, 8, bl_mpi_byte(), b.baseAddress, 8, bl_mpi_byte(), comm), "an all-gather")
        }
        return all
    }

    /// Rank 0 and `peer` bounce `bytes` back and forth `repeats` times (after 3 unmeasured); every other
    /// rank returns at once. Rank 0 gets the mean one-way time in seconds; the others 0.
    public func pingPong(bytes: Int, repeats: Int, peer: Int = 1) -> Double {
        guard rank == 0 || rank == peer else { return 0 }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 8), alignment: 16)
        defer { buffer.deallocate() }
        memset(buffer, 1, max(bytes, 8))
        let other = rank == 0 ? peer : 0
        var t0 = 0.0
        for i in 0..<(repeats + 3) {
            if i == 3 { t0 = MPI_Wtime() }
            if rank == 0 {
                check(MPI_Send(buffer, Int32(bytes), bl_mpi_byte(), Int32(other), 9, comm), "a ping to rank \(other)")
                receive(into: buffer, capacity: bytes, from: other, tag: 9)
            } else {
                receive(into: buffer, capacity: bytes, from: other, tag: 9)
                check(MPI_Send(buffer, Int32(bytes), bl_mpi_byte(), Int32(other), 9, comm), "a pong to rank \(other)")
            }
        }
        return rank == 0 ? (MPI_Wtime() - t0) / Double(2 * repeats) : 0
    }
}
