// MPIScheduler: the K blocks of a detached rule on K MPI ranks (mpirun -np K, or srun --ntasks=K under
// Slurm), one block per rank, each on its own engine threads. The same block workers as the threaded
// pipeline (BlockWorker), talking through MPI messages instead of in-process channels:
//   - rank 0 runs the training loop: it reads the loader and sends each batch's (index, learning rate,
//     labels) to every other rank, runs block 1, and alone writes the run file and checkpoints. Why rank 0
//     reads the data: the order and augmentation come from one stream as in the sequential and threaded
//     runs, so the bits are the same; the labels cost 4 bytes a sample; a rank needs no dataset access
//     beyond the model's input shape.
//   - activations go from rank k to k+1 and BLL's chain targets from k+1 to k, as non-blocking sends from
//     depth + 1 buffers, so a rank computes while its transfers complete.
//   - at each epoch's end every rank sends rank 0 its blocks' state (parameters, BatchNorm statistics,
//     optimizer moments and steps, dropout streams), its loss sums, instrumentation and any failure;
//     rank 0 evaluates the whole network and checkpoints it, so rank 0's checkpoint holds every rank's
//     state and a killed MPI run resumes from it bit-identical.
// Collectives run in the same order on every rank: the config (rank 0's, e.g. its balanced cut), a
// handshake (did every rank prepare its run?), then rank 0's commands: start (with the full state,
// fresh or resumed) and train epoch e, epoch e+1, ..., finish.
// A failure at (batch, block) on any rank: that rank tells rank 0, which stops reading batches; every
// rank closes its links, reads and drops what is still coming, and the earliest failure in sequential
// order is the run's. A rank that dies: the launcher (mpirun; srun --kill-on-bad-exit) stops the others.

import Engine
import Foundation
import MessagePassing
import Methods

/// The MPI job this process belongs to, and the order of its collectives.
public final class MPISession: @unchecked Sendable {
    public let world: MPIWorld
    public let launcher: Launcher
    private var handshakeCodes: [Int32]? = nil
    private var finished = false
    fileprivate var started = false

    /// Joins the MPI job the launcher started; without a launcher, the one-line error says how to start
    /// a run of `blocks` blocks.
    public static func join(blocks: Int, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MPISession {
        guard let launcher = Launcher.detect(environment) else { throw PipelineError.noLauncher(blocks: blocks) }
        guard launcher.size == blocks else { throw PipelineError.rankCount(ranks: launcher.size, blocks: blocks) }
        return MPISession(world: MPIWorld(), launcher: launcher)
    }

    init(world: MPIWorld, launcher: Launcher) { self.world = world; self.launcher = launcher }

    public var rank: Int { world.rank }
    public var isRoot: Bool { world.rank == 0 }

    /// Rank 0's value on every rank: rank 0 computes it (or fails: every rank then throws), the others
    /// decode what it sends.
    public func agree<T: Codable>(_ compute: () throws -> T) throws -> T {
        var bytes: [UInt8] = []
        var failure: Error? = nil
        if isRoot {
            do { bytes = Array(try JSONEncoder().encode(compute())) } catch { failure = error; bytes = [] }
        }
        world.broadcast(bytes: &bytes)
        if bytes.isEmpty { rootCode = 1 }   // every rank knows rank 0 failed: nothing more is exchanged
        if let failure { throw failure }
        guard !bytes.isEmpty else { throw PeerFailure(rank: 0, code: 1) }
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }

    /// Rank 0 says first whether it prepared its run (0), failed (its exit code) or has nothing to train
    /// (−1: the run is stored already, or another process holds it); the other ranks prepare theirs only
    /// after (rank 0 may have fetched the dataset they read), then every rank's code is gathered.
    @discardableResult
    public func rootPrepared(_ code: Int32) -> Int32 {
        if let rootCode { return rootCode }
        var w = [Int64(code)]
        world.broadcast(&w)
        rootCode = Int32(truncatingIfNeeded: w[0])
        return rootCode!
    }
    private var rootCode: Int32? = nil

    /// Every rank's prepare code, in rank order (after `rootPrepared` said 0).
    @discardableResult
    public func allPrepared(_ code: Int32) -> [Int32] {
        if let handshakeCodes { return handshakeCodes }
        let codes = world.allGather(Int64(code)).map { Int32(truncatingIfNeeded: $0) }
        handshakeCodes = codes
        return codes
    }

    /// Rank 0, its run prepared: throws when another rank could not prepare its own (that rank printed why).
    public func requireAllReady() throws {
        rootPrepared(0)
        let codes = allPrepared(0)
        if let bad = codes.indices.first(where: { codes[$0] != 0 }) { throw PeerFailure(rank: bad, code: codes[bad]) }
    }

    enum Command: Int64 { case finish = 0, epoch = 1, start = 2 }

    fileprivate func command(_ c: Command, epoch: Int) {
        var words: [Int64] = [c.rawValue, Int64(epoch)]
        world.broadcast(&words)
    }

    fileprivate func nextCommand() -> (Command, Int) {
        var words: [Int64] = [0, 0]
        world.broadcast(&words)
        return (Command(rawValue: words[0]) ?? .finish, Int(words[1]))
    }

    /// Ends this rank's part, last: rank 0 says it failed or had nothing to train if it never got to say
    /// it was prepared, or sends the finish command when every rank was ready; then MPI ends.
    public func close(failed: Bool) {
        if isRoot {
            if rootCode == nil { rootPrepared(failed ? 1 : -1) }
            else if let codes = handshakeCodes, codes.allSatisfy({ $0 == 0 }) { finishServing() }
        }
        world.finalize()
    }

    /// Rank 0: the other ranks' `serve()` returns (once).
    public func finishServing() {
        guard isRoot, !finished else { return }
        finished = true
        command(.finish, epoch: 0)
    }

    /// A new protocol over the same MPI job (the bench measures one rule after another).
    public func next() -> MPISession { MPISession(world: world, launcher: launcher) }

    /// Joins the job without the K check (the bench's ranks measure several rules at the launcher's K).
    public static func joinAny() throws -> MPISession {
        guard let launcher = Launcher.detect() else { throw PipelineError.noLauncher(blocks: 2) }
        return MPISession(world: MPIWorld(), launcher: launcher)
    }

    public struct PeerFailure: Error, CustomStringConvertible {
        public let rank: Int, code: Int32
        public init(rank: Int, code: Int32) { self.rank = rank; self.code = code }
        public var description: String { "rank \(rank) could not prepare the run (its message is above)" }
    }
}

public final class MPIScheduler: StepScheduler {
    public let session: MPISession
    public let threadsPerWorker: Int
    public let queueDepth: Int
    let rule: DetachedBlockRule
    /// Rank r's blocks (one each: ranks = K).
    public let ranges: [Range<Int>]

    public init(rule: LearningRule, session: MPISession, threadsPerWorker: Int, queueDepth: Int = 1,
                cores: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        guard let detached = rule as? DetachedBlockRule else { throw PipelineError.lockedRule(rule.name.rawValue, mode: "mpi") }
        let blocks = rule.blocks.count
        guard session.world.size == blocks else { throw PipelineError.rankCount(ranks: session.world.size, blocks: blocks) }
        guard (1...max(1, cores)).contains(threadsPerWorker) else {
            throw PipelineError.invalid(name: "--threads-per-block", value: "\(threadsPerWorker)", allowed: "1...\(cores) (this machine's cores)")
        }
        guard (1...64).contains(queueDepth) else {
            throw PipelineError.invalid(name: "--queue-depth", value: "\(queueDepth)", allowed: "1...64 (batches a rank may run ahead of the next)")
        }
        self.session = session; self.rule = detached; self.threadsPerWorker = threadsPerWorker; self.queueDepth = queueDepth
        ranges = (0..<blocks).map { $0..<($0 + 1) }
    }

    public var evaluationWorkers: Int? { threadsPerWorker }
    var world: MPIWorld { session.world }
    var ranks: Int { world.size }

    func label(_ r: Int) -> String { "b\(ranges[r].lowerBound + 1)" }

    /// Rank r's links: activations in from r−1 and out to r+1, targets in from r+1 and out to r−1 where
    /// the rule's feedback chains (both sides decide the same from the rule).
    private func links(_ r: Int) -> (input: MPITensorLink?, output: MPITensorLink?, targetIn: MPITensorLink?, targetOut: MPITensorLink?) {
        let lo = ranges[r].lowerBound, hi = ranges[r].upperBound
        func link(_ peer: Int, _ tag: Int, _ d: MPITensorLink.Direction) -> MPITensorLink { MPITensorLink(world: world, peer: peer, tag: tag, direction: d, depth: queueDepth) }
        return (r > 0 ? link(r - 1, Tag.activation, .incoming) : nil,
                r < ranks - 1 ? link(r + 1, Tag.activation, .outgoing) : nil,
                r < ranks - 1 && rule.feedbackSource(hi - 1) == .nextBlock ? link(r + 1, Tag.target, .incoming) : nil,
                r > 0 && rule.feedbackSource(lo - 1) == .nextBlock ? link(r - 1, Tag.target, .outgoing) : nil)
    }

    /// Until every link of this rank has nothing left in flight this epoch (and, on ranks > 0, the labels
    /// stream has ended): drops what still arrives, completes sends. Polls without blocking, since the
    /// neighbours drain each other.
    private func drain(_ links: [MPITensorLink?], outboxes: [Outbox] = [], labelsEnded: inout Bool) {
        var scratch: [UInt8] = []
        while true {
            if !labelsEnded, let m = world.poll(from: 0, tag: Tag.labels) {
                scratch = [UInt8](repeating: 0, count: m.bytes)
                scratch.withUnsafeMutableBytes { world.receive(into: $0.baseAddress, capacity: m.bytes, from: 0, tag: Tag.labels) }
                if m.bytes == 0 { labelsEnded = true }
            }
            let done = links.allSatisfy { $0?.drained ?? true } && outboxes.allSatisfy(\.settled)
            if done && labelsEnded { return }
            usleep(50)
        }
    }

    // MARK: rank 0

    public func trainEpoch(_ learningRule: LearningRule, data: TrainingData, epoch: Int, rate: (Int) -> Float,
                           shouldStop: () -> Bool, progress: (Int) -> Void) -> EpochTraining {
        precondition(session.isRoot, "rank 0 runs the training loop; the other ranks serve()")
        if !session.started {
            session.started = true
            session.command(.start, epoch: epoch)
            var w = WireWriter()
            BlockState(rule: rule, blocks: 0..<rule.blocks.count).write(&w)
            var bytes = w.bytes
            world.broadcast(bytes: &bytes)
        } else {
            session.command(.epoch, epoch: epoch)
        }
        let t0 = nanoseconds()
        let state = PipelineState(workers: 1)
        let l = links(0)
        let labels = (1..<max(1, ranks)).map { Outbox(world: world, peer: $0, tag: Tag.labels, capacity: ranks * (queueDepth + 2) + 2) }
        let first = BlockWorker(index: 0, blocks: ranges[0], rule: rule, state: state,
                                input: nil, output: l.output, targetIn: l.targetIn, targetOut: nil)
        var batches = 0, samples = 0
        var lastLR: Float = 0
        Parallel.withWorkers(threadsPerWorker) {
            try? data.forEachTrainBatch(epoch: epoch) { x, y in
                if shouldStop() { state.interrupt(); throw StopIteration() }
                if world.poll(tag: Tag.up) != nil { throw StopIteration() }   // a rank failed: it says so at the epoch's end
                let info = BatchInfo(index: batches, labels: y, lr: rate(batches), input: x)
                var w = WireWriter()
                w.int(info.index); w.word(UInt64(info.lr.bitPattern)); w.int(y.count)
                for v in y { w.int(Int(v)) }
                for o in labels { o.post(bytes: w.bytes) }
                guard first.run(info) else { throw StopIteration() }
                lastLR = info.lr
                batches += 1; samples += x.shape[0]
                progress(batches)
            }
        }
        for o in labels { o.post(bytes: []) }   // the epoch's end
        first.finish()
        var ended = true
        drain([l.output, l.targetIn], outboxes: labels, labelsEnded: &ended)
        let seconds = Double(nanoseconds() - t0) / 1e9

        var out = EpochTraining()
        out.batches = batches; out.samples = samples; out.lastLR = lastLR
        var sums = state.sums[0]
        var stop: (position: (Int, Int), reason: EpochTraining.Stop)? = state.stop.map { (state.stopPosition, $0) }
        var stats = [state.stats[0]]
        for r in 1..<max(1, ranks) {
            var bytes = world.receive(from: r, tag: Tag.up)
            while bytes.first == 1 { bytes = world.receive(from: r, tag: Tag.up) }   // failure notices: the report follows
            do {
                var reader = WireReader(Array(bytes.dropFirst()))
                let report = try RankReport.read(&reader)
                try BlockState(rule: rule, blocks: ranges[r]).read(&reader)
                sums.merge(report.sums)
                stats.append(report.stats)
                if let s = report.stop, stop == nil || s.position < stop!.position { stop = s }
            } catch {
                stop = ((Int.min, Int.min), .failed(step: batches, block: ranges[r].lowerBound + 1, message: "rank \(r)'s report: \(error)"))
            }
        }
        if state.stop == .interrupted { stop = ((-1, -1), .interrupted) }
        out.stop = stop?.reason
        out.sums = sums.ordered
        for r in 0..<stats.count { stats[r].report(into: &out.pipeline, key: label(r), seconds: seconds) }
        return out
    }

    // MARK: ranks 1..K−1

    /// A rank > 0: trains its block for each epoch rank 0 commands, until it says finish.
    public func serve() throws {
        precondition(!session.isRoot)
        let r = world.rank
        while true {
            let (command, _) = session.nextCommand()
            switch command {
            case .finish: return
            case .start:
                var bytes: [UInt8] = []
                world.broadcast(bytes: &bytes)
                var reader = WireReader(bytes)
                try BlockState(rule: rule, blocks: 0..<rule.blocks.count).read(&reader)
            case .epoch: break
            }
            let state = PipelineState(workers: 1)
            let l = links(r)
            let worker = BlockWorker(index: 0, blocks: ranges[r], rule: rule, state: state,
                                     input: l.input, output: l.output, targetIn: l.targetIn, targetOut: l.targetOut)
            var labelsEnded = false
            Parallel.withWorkers(threadsPerWorker) {
                while true {
                    var reader = WireReader(world.receive(from: 0, tag: Tag.labels))
                    if reader.atEnd { labelsEnded = true; break }
                    guard let index = try? reader.int(), let lr = try? reader.word(), let n = try? reader.int(),
                          let y = try? (0..<n).map({ _ in Int32(truncatingIfNeeded: try reader.int()) }) else { break }
                    let info = BatchInfo(index: index, labels: y, lr: Float(bitPattern: UInt32(truncatingIfNeeded: lr)), input: nil)
                    if !worker.run(info) {
                        if state.stop != nil { world.send([1], to: 0, tag: Tag.up) }   // tell rank 0 to stop reading batches
                        break
                    }
                }
            }
            worker.finish()
            drain([l.input, l.output, l.targetIn, l.targetOut], labelsEnded: &labelsEnded)
            var w = WireWriter()
            RankReport(sums: state.sums[0], stats: state.stats[0], stop: state.stop.map { (state.stopPosition, $0) }).write(&w)
            BlockState(rule: rule, blocks: ranges[r]).write(&w)
            world.send([2] + w.bytes, to: 0, tag: Tag.up)
        }
    }
}

/// A rank's epoch for rank 0: its loss sums, instrumentation and failure (with its position).
struct RankReport {
    var sums: TermSums
    var stats: WorkerStats
    var stop: (position: (Int, Int), reason: EpochTraining.Stop)?

    func write(_ w: inout WireWriter) {
        let terms = sums.ordered
        w.int(terms.count)
        for (name, v) in terms { w.string(name); w.double(v) }
        for v in [stats.busy, stats.waitInput, stats.waitOutput] { w.word(v) }
        w.int(stats.bytes); w.int(stats.steps)
        guard let stop else { w.int(0); return }
        w.int(1)
        w.int(stop.position.0); w.int(stop.position.1)
        switch stop.reason {
        case let .diverged(step, term): w.int(1); w.int(step); w.string(term)
        case let .failed(step, block, message): w.int(2); w.int(step); w.int(block); w.string(message)
        case .interrupted: w.int(3)
        }
    }

    static func read(_ r: inout WireReader) throws -> RankReport {
        var sums = TermSums()
        let n = try r.int()
        guard (0...100_000).contains(n) else { throw WireError(what: "term count") }
        for _ in 0..<n { let name = try r.string(); sums.accumulate(name, try r.double()) }
        var stats = WorkerStats()
        stats.busy = try r.word(); stats.waitInput = try r.word(); stats.waitOutput = try r.word()
        stats.bytes = try r.int(); stats.steps = try r.int()
        guard try r.int() != 0 else { return RankReport(sums: sums, stats: stats, stop: nil) }
        let position = (try r.int(), try r.int())
        let reason: EpochTraining.Stop
        switch try r.int() {
        case 1: reason = .diverged(step: try r.int(), term: try r.string())
        case 2: reason = .failed(step: try r.int(), block: try r.int(), message: try r.string())
        default: reason = .interrupted
        }
        return RankReport(sums: sums, stats: stats, stop: (position, reason))
    }
}
