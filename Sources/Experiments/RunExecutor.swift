// RunExecutor: trains one RunConfig into the run store, exactly once. A run holds an flock on
// results/runs/.locks/<id>.lock while it trains (released by the kernel even on SIGKILL), checkpoints at
// every epoch end into <id>.partial.h5, resumes from it after an interruption, and finally writes
// <id>.h5 (temporary name, then rename) with status done, diverged or failed. Nothing else writes there.

import Datasets
import Engine
import Foundation
import Methods
import Scheduling
import Store

/// Ctrl-C: the first SIGINT asks the current runs to stop at the next batch (their last checkpoint
/// stands); a second one exits at once. A process that supervises workers (`sweep --jobs N`, whose
/// workers run in their own process groups, out of the terminal's reach) forwards SIGINT and SIGTERM to
/// them; a worker stops as if interrupted when its parent is gone.
public enum Interrupt {
    nonisolated(unsafe) public static var requested = false
    /// Worker pids the handlers forward to: a fixed buffer, so the handlers only read memory and call kill(2).
    nonisolated(unsafe) static let children = UnsafeMutablePointer<pid_t>.allocate(capacity: 256)
    nonisolated(unsafe) static var childCount = 0

    public static func install() {
        signal(SIGINT) { _ in
            for i in 0..<Interrupt.childCount { kill(Interrupt.children[i], SIGINT) }
            if Interrupt.requested && Interrupt.childCount == 0 { _exit(130) }
            Interrupt.requested = true
        }
    }

    /// From now on SIGINT and SIGTERM reach these workers too (SIGTERM: they are killed, then this process
    /// exits with 143; each worker's last checkpoint stands).
    public static func forward(to pids: [pid_t]) {
        for (i, pid) in pids.prefix(256).enumerated() { children[i] = pid }
        childCount = min(256, pids.count)
        signal(SIGTERM) { _ in
            for i in 0..<Interrupt.childCount { kill(Interrupt.children[i], SIGTERM) }
            _exit(143)
        }
    }

    /// In a worker: asks the runs to stop (as Ctrl-C does) once the parent process has gone, checked every
    /// second on a background thread.
    public static func stopWhenOrphaned() {
        let parent = getppid()
        let watcher = Thread {
            while getppid() == parent { sleep(1) }
            Interrupt.requested = true
        }
        watcher.start()
    }
}

public struct RunLock {
    let fd: Int32
    /// Takes the lock without waiting; nil when another process holds it.
    public static func acquire(_ path: String) -> RunLock? {
        let fd = open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); return nil }
        return RunLock(fd: fd)
    }
    public func release() { flock(fd, LOCK_UN); close(fd) }
}

public enum RunOutcome: Equatable, Sendable {
    case done(accuracy: Double)
    case alreadyDone
    case failed(String)
    case diverged(String)
    case interrupted
    case busy            // another process holds the run's lock
    case unavailable(String)   // its dataset cannot be had here: nothing is written, the run stays missing
}

public struct RunExecutor {
    public let runsDirectory: String
    public let dataStore: DatasetStore
    public let fetch: FetchOptions
    /// Called once this process holds a run's lock and is about to train it, and when it stops holding it
    /// (a supervisor's record of which run a worker trains).
    public var onTraining: ((RunConfig) -> Void)? = nil
    public var onReleased: ((RunConfig) -> Void)? = nil
    public init(runsDirectory: String, dataStore: DatasetStore, fetch: FetchOptions = FetchOptions()) {
        self.runsDirectory = runsDirectory; self.dataStore = dataStore; self.fetch = fetch
    }

    public func finalPath(_ id: String) -> String { runsDirectory + "/" + id + ".h5" }
    public func partialPath(_ id: String) -> String { runsDirectory + "/" + id + ".partial.h5" }

    /// Makes the store and checks that it is writable; a one-line error otherwise.
    public func prepareStore() throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: runsDirectory + "/.locks", withIntermediateDirectories: true) }
        catch { throw EngineError.invalidArgument(name: "results directory", value: runsDirectory, allowed: "a writable directory (\(error.localizedDescription))") }
        guard fm.isWritableFile(atPath: runsDirectory) else {
            throw EngineError.invalidArgument(name: "results directory", value: runsDirectory, allowed: "a writable directory")
        }
    }

    /// The stored status of a run. `damaged` is proven damage (HDF5File.condition, a file that opens but
    /// is not this run's, or a status no writer writes); `unreadable` (the system refuses to read it) is
    /// never treated as damage: such a run is left alone.
    public func status(_ id: String) -> StoredStatus {
        let fm = FileManager.default
        if fm.fileExists(atPath: finalPath(id)) {
            if let s = try? RunFile.summary(finalPath(id)) {
                guard s.id == id, let status = RunStatusName(rawValue: s.status) else { return .damaged }
                return StoredStatus(status)
            }
            // HDF5 opens it but it is no run file, or its bytes are proven bad: damaged; refused by the system: not
            if case .unreadable = HDF5File.condition(finalPath(id)) { return .unreadable }
            return .damaged
        }
        return fm.fileExists(atPath: partialPath(id)) ? .partial : .missing
    }

    /// Marks a run whose process crashed while training it (a worker killed by SIGSEGV, SIGBUS, ...) as
    /// failed with `reason`, so the sweep goes on and the next one does not crash on it again; its
    /// checkpoint stays (`--rerun-failed` resumes from it). Nothing happens when the run finished or
    /// another process holds it.
    @discardableResult
    public func markCrashed(_ config: RunConfig, reason: String, origin: RunOrigin? = nil) throws -> Bool {
        try prepareStore()
        let id = config.runID
        guard let lock = RunLock.acquire(runsDirectory + "/.locks/" + id + ".lock") else { return false }
        defer { lock.release() }
        guard [.missing, .partial].contains(status(id)) else { return false }
        try writeCrashed(config, reason: reason, origin: origin)
        return true
    }

    /// The failed file of a crashed run (under its lock); its checkpoint stays for `--rerun-failed`.
    func writeCrashed(_ config: RunConfig, reason: String, origin: RunOrigin?) throws {
        var p = Provenance.collect(threads: 0, datasetChecksums: [:]); p.values["threads"] = nil
        try RunFile.write(finalPath(config.runID), config: config, status: .failed, error: reason, records: [],
                          provenance: p, started: Date(), ended: Date(), origin: origin)
    }

    /// Where a crash of the process training run `id` leaves its signal (CrashMarker).
    func crashMarkerPath(_ id: String) -> String { runsDirectory + "/.crashed/" + id }

    /// Renames a damaged file to `<name>.damaged` (`.damaged-2`, ... when taken), out of the store's
    /// listing but kept for whoever wants to look at it.
    func moveAside(_ path: String) throws {
        var target = path + ".damaged", n = 1
        while FileManager.default.fileExists(atPath: target) { n += 1; target = path + ".damaged-\(n)" }
        try FileManager.default.moveItemReplacing(path, target)
    }

    /// Temporaries of this run's file and checkpoint left by a writer killed mid-write. Called under the
    /// run's lock, so no live writer owns them.
    func removeStaleTemporaries(_ id: String) {
        let fm = FileManager.default
        let files = [finalPath(id), partialPath(id)].map { ($0 as NSString).lastPathComponent }
        for name in (try? fm.contentsOfDirectory(atPath: runsDirectory)) ?? []
        where files.contains(where: { FileManager.isTemporary(name, of: $0) }) {
            try? fm.removeItem(atPath: runsDirectory + "/" + name)
        }
    }

    public func execute(_ config: RunConfig, threads: Int, rerunFailed: Bool = false, origin: RunOrigin? = nil,
                        onBatch: (Int, Int, Int) -> Void = { _, _, _ in },
                        progress: (EpochRecord) -> Void = { _ in }) throws -> RunOutcome {
        try execute(config, execution: ExecutionSettings(threads: threads), rerunFailed: rerunFailed, origin: origin,
                    onBatch: onBatch, progress: progress)
    }

    /// `origin`: the sweep that planned the run, recorded in its file (nil for a single `run`/`train`).
    public func execute(_ config: RunConfig, execution: ExecutionSettings, rerunFailed: Bool = false, origin: RunOrigin? = nil,
                        onBatch: (Int, Int, Int) -> Void = { _, _, _ in },
                        progress: (EpochRecord) -> Void = { _ in }) throws -> RunOutcome {
        let threads = execution.threads
        func provenance(_ checksums: [String: String]) -> Provenance {
            var p = Provenance.collect(threads: threads, datasetChecksums: checksums)
            for (k, v) in execution.provenance(mode: config.parallel, blocks: config.blocks) { p.values[k] = .int(Int64(v)) }
            if config.parallel == .mpi { p.values["mpi_launcher"] = .text(execution.session?.launcher.name ?? "?") }
            return p
        }
        try prepareStore()
        let id = config.runID
        guard let lock = RunLock.acquire(runsDirectory + "/.locks/" + id + ".lock") else { return .busy }
        onTraining?(config)
        defer { onReleased?(config); lock.release() }
        removeStaleTemporaries(id)
        let marker = crashMarkerPath(id)
        if FileManager.default.fileExists(atPath: marker) {
            // an earlier attempt crashed the process: fail the run instead of crashing again (a retry asked
            // for with --rerun-failed starts over from its checkpoint)
            let signal = CrashMarker.describe(markerAt: marker)
            try? FileManager.default.removeItem(atPath: marker)
            if !rerunFailed, [.missing, .partial].contains(status(id)) {
                let reason = "the process crashed with \(signal) while training it (an earlier attempt)"
                try writeCrashed(config, reason: reason, origin: origin)
                return .failed(reason)
            }
        }
        switch status(id) {
        case .done, .diverged: return .alreadyDone
        case .failed where !rerunFailed: return .alreadyDone
        case .unreadable: return .unavailable("its run file \(finalPath(id)) cannot be read (permissions or I/O); left as is")
        case .damaged: try moveAside(finalPath(id))   // never trusted, never deleted: kept beside, and the run trains again
        default: break
        }
        let started = Date()
        var run: PreparedRun
        do { run = try PreparedRun(config, store: dataStore, fetch: fetch, execution: execution) }
        catch let e as DatasetError {
            switch e {
            case .notFound, .checksumMismatch, .sizeMismatch, .notCached: return .unavailable("\(e)")
            default:
                try RunFile.write(finalPath(id), config: config, status: .failed, error: "\(e)", records: [],
                                  provenance: provenance([:]), started: started, ended: Date(), origin: origin)
                return .failed("\(e)")
            }
        }
        catch let e as EngineError where { if case .invalidArgument = e { return true }; return false }() {
            throw e   // a config the model cannot take (K, split, sizes): the user's to fix; nothing is stored
        }
        catch let e as PipelineError { throw e }
        catch {
            try RunFile.write(finalPath(id), config: config, status: .failed, error: "\(error)", records: [],
                              provenance: provenance([:]), started: started, ended: Date(), origin: origin)
            return .failed("\(error)")
        }
        var records: [EpochRecord] = []
        if FileManager.default.fileExists(atPath: partialPath(id)) {
            do { records = try Checkpoint.load(partialPath(id), into: run) }
            catch {   // a damaged checkpoint is never trusted: start again from fresh weights
                try? FileManager.default.removeItem(atPath: partialPath(id))
                records = []
                run = try PreparedRun(config, store: dataStore, fetch: fetch, execution: execution)
            }
        }
        try execution.session?.requireAllReady()   // --parallel mpi: every rank has built the same run
        try FileManager.default.createDirectory(atPath: runsDirectory + "/.crashed", withIntermediateDirectories: true)
        CrashMarker.arm(marker)
        defer { CrashMarker.disarm() }
        let result = try run.trainer.run(run.rule, data: run.data, startEpoch: records.count, shouldStop: { Interrupt.requested },
                                         onBatch: onBatch) { r in
            records.append(r)
            try Checkpoint.save(partialPath(id), run: run, records: records)
            progress(r)
        }
        var provenance = provenance(run.datasetChecksums)
        // the cut as resolved (a `balanced` split is computed from the model): the unit index each block starts at
        provenance.values["block_starts"] = .ints(run.rule.blocks.map { Int64($0.range.lowerBound) })
        provenance.values["block_units"] = .text(run.rule.blocks.map(\.name).joined(separator: " | "))
        let digest = Checkpoint.digest(run)
        switch result.status {
        case .interrupted: return .interrupted
        case .done:
            try RunFile.write(finalPath(id), config: config, status: .done, error: "", records: records,
                              provenance: provenance, started: started, ended: Date(), stateDigest: digest, origin: origin)
            try? FileManager.default.removeItem(atPath: partialPath(id))
            return .done(accuracy: records.last?.testAccuracy ?? 0)
        case .failed:
            try RunFile.write(finalPath(id), config: config, status: .failed, error: "\(result.status)", records: records,
                              provenance: provenance, started: started, ended: Date(), stateDigest: digest, origin: origin)
            try? FileManager.default.removeItem(atPath: partialPath(id))
            return .failed("\(result.status)")
        case .diverged:
            try RunFile.write(finalPath(id), config: config, status: .diverged, error: "\(result.status)", records: records,
                              provenance: provenance, started: started, ended: Date(), stateDigest: digest, origin: origin)
            try? FileManager.default.removeItem(atPath: partialPath(id))
            return .diverged("\(result.status)")
        }
    }
}
