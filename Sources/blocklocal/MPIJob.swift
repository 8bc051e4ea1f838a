import ArgumentParser
import Foundation
import MessagePassing
import Scheduling

/// `--parallel mpi` on the command line: joins the MPI job (one rank per block), runs `body` on every
/// rank and ends MPI. Rank 0 prints; the other ranks print only a failure of their own, prefixed with
/// their rank.
enum MPIJob {
    static func run(blocks: Int, _ body: (MPISession) throws -> Void) throws {
        let session: MPISession
        do { session = try MPISession.join(blocks: blocks) }
        catch let e as PipelineError {
            if case .rankCount = e, (Launcher.detect()?.rank ?? 0) > 0 { throw ExitCode(1) }   // rank 0 says it
            throw ValidationError("\(e)")
        }
        setvbuf(stdout, nil, _IOLBF, 0)   // one line at a time through the launcher's pipe
        do {
            try body(session)
            session.close(failed: false)
        } catch {
            session.close(failed: true)
            if session.isRoot { throw error }
            if error is MPISession.PeerFailure { throw ExitCode(1) }
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
