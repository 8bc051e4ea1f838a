// The ranks of a `--parallel mpi` run other than rank 0: each prepares the same run (the config rank 0
// sent, so a balanced cut is rank 0's), builds no store and writes nothing, and trains its one block as
// rank 0 commands (Scheduling/MPIScheduler.swift). Rank 0 is an ordinary `run` or `train`.

import Datasets
import Foundation
import Scheduling

public enum MPIRank {
    /// Serves rank 0 until it says finish. Throws this rank's own failure to prepare (the caller prints
    /// it), or `MPISession.PeerFailure` when another rank failed (it printed why: say nothing more).
    public static func serve(_ config: RunConfig, dataStore: DatasetStore, fetch: FetchOptions, execution: ExecutionSettings) throws {
        guard let session = execution.session, !session.isRoot else { return }
        switch session.rootPrepared(0) {
        case 0: break
        case -1: return   // nothing to train: stored already, or another process trains it
        case let code: throw MPISession.PeerFailure(rank: 0, code: code)
        }
        let run: PreparedRun
        do { run = try PreparedRun(config, store: dataStore, fetch: fetch, execution: execution) }
        catch {
            session.allPrepared(error is DatasetError ? 2 : 1)
            throw error
        }
        let codes = session.allPrepared(0)
        if let bad = codes.indices.first(where: { codes[$0] != 0 }) { throw MPISession.PeerFailure(rank: bad, code: codes[bad]) }
        guard let scheduler = run.trainer.scheduler as? MPIScheduler else { return }
        try scheduler.serve()
    }
}
