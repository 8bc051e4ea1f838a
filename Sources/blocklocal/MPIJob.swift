import ArgumentParser
import Experiments
import Foundation
import MessagePassing
import Scheduling

/// `--parallel mpi` on the command line: joins the MPI job (one rank per block), runs `body` on every
/// rank and ends MPI. Rank 0 prints; the other ranks print only a failure of their own, prefixed with
/// their rank.
enum MPIJob {
    /// Resolves `parsed` (a balanced cut measured or read from `profiles`, and printed) and hands it to
    /// `root`: in this process, or for `--parallel mpi` on rank 0 of the MPI job, while every other rank
    /// serves it with rank 0's resolved config.
    static func dispatch(_ parsed: RunConfig, profiles: String, data: DataOptions, execution: @escaping (MPISession?) -> ExecutionSettings,
                         root: (RunConfig, MPISession?) throws -> Void) throws {
        func resolve() throws -> RunConfig {
            let (config, balance) = try BalancedSplit.resolve(parsed, profiles: profiles)
            if let balance { print(balance) }
            return config
        }
        guard parsed.parallel == .mpi else { try root(resolve(), nil); return }
        try run(blocks: parsed.blocks) { session in
            let config = try session.agree(resolve)   // rank 0's cut on every rank
            if session.isRoot { try root(config, session) }
            else {
                try MPIRank.serve(config, dataStore: data.store, fetch: data.fetchOptions, execution: execution(session)) { error in
                    FileHandle.standardError.write(Data("Error: rank \(session.rank): \(error)\n".utf8))
                }
            }
        }
    }

    static func run(blocks: Int, _ body: (MPISession) throws -> Void) throws {
        let session: MPISession
        do { session = try MPISession.join(blocks: blocks) }
        catch let e as PipelineError {
            if case .rankCount = e, (Launcher.detect()?.rank ?? 0) > 0 { throw ExitCode(0) }   // rank 0 says it and fails the job
            throw ValidationError("\(e)")
        }
        setvbuf(stdout, nil, _IOLBF, 0)   // one line at a time through the launcher's pipe
        do {
            try body(session)
            session.close(failed: false)
        } catch {
            session.close(failed: true)
            if session.isRoot { throw error }
            // the failing rank printed why; the others exit 0 so that the launcher does not stop the job
            // (and the failing rank with it) before that line is out: rank 0's status is the job's
            if let peer = error as? MPISession.PeerFailure { throw ExitCode(peer.rank == session.rank ? peer.code : 0) }
            if let code = error as? ExitCode { throw code }
            throw RankFailure(message: "rank \(session.rank): \(error)")
        }
    }

    /// A failure of this rank alone (printed even on ranks > 0).
    struct RankFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
