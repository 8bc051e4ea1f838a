// The ranks of a `--parallel mpi` run other than rank 0: each prepares the same run (the config rank 0
// sent, so a balanced cut is rank 0's), builds no store and writes nothing, and trains its one block as
// rank 0 commands (Scheduling/MPIScheduler.swift). Rank 0 is an ordinary `run` or `train`.

import Datasets
import Foundation
import Scheduling

public enum MPIRank {
    /// Serves rank 0 until it says finish. A failure to prepare is handed to `announce` (to be printed)
    /// before the ranks compare notes, since the launcher may stop this process as soon as another rank
    /// exits; then, as when another rank failed, `MPISession.PeerFailure` is thrown, naming the rank.
    public static func serve(_ config: RunConfig, dataStore: DatasetStore, fetch: FetchOptions, execution: ExecutionSettings,
                             announce: (Error) -> Void) throws {
        guard let session = execution.session, !session.isRoot else { return }
        switch session.rootPrepared(0) {
        case 0: break
        case -1: return   // nothing to train: stored already, or another process trains it
        case let code: throw MPISession.PeerFailure(rank: 0, code: code)
        }
        let run: PreparedRun
        do { run = try PreparedRun(config, store: dataStore, fetch: fetch, execution: execution) }
        catch {
            announce(error)
            let code: Int32 = error is DatasetError ? 2 : 1
            session.allPrepared(code)
            throw MPISession.PeerFailure(rank: session.rank, code: code)
        }
        let codes = session.allPrepared(0)
        if let bad = codes.indices.first(where: { codes[$0] != 0 }) { throw MPISession.PeerFailure(rank: bad, code: codes[bad]) }
        guard let scheduler = run.trainer.scheduler as? MPIScheduler else { return }
        try scheduler.serve()
    }

    /// A `parallel = "mpi"` run of a local sweep: `mpirun --oversubscribe -np K` of this binary's `run
    /// --config`, the sweep's threads split among the ranks; the outcome read from the store afterwards.
    public static func launch(_ c: RunConfig, executor: RunExecutor, results: String, dataDir: String, threads: Int) throws -> RunOutcome {
        let dir = executor.runsDirectory + "/.configs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/" + c.runID + ".json"
        try c.canonicalJSON.write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mpirun", "--oversubscribe", "-np", String(c.blocks), URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
                       "run", "--config", file, "--threads-per-block", String(max(1, threads / c.blocks)),
                       "--results", results, "--data-dir", dataDir]
        try p.run()
        Interrupt.forward(to: [p.processIdentifier])
        p.waitUntilExit()
        if Interrupt.requested || p.terminationStatus == 130 { return .interrupted }
        let path = executor.finalPath(c.runID)
        switch executor.status(c.runID) {
        case .done: return .done(accuracy: (try? RunFile.summary(path).finalAccuracy ?? 0) ?? 0)
        case .diverged: return .diverged("see \(path)")
        case .failed: return .failed("see \(path)")
        default: return .failed("mpirun exited with \(p.terminationStatus) (is Open MPI installed? `make deps`; as root Open MPI also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)")
        }
    }
}
