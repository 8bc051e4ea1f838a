// The generated Slurm job-array script against a real single-node Slurm that this test starts on this
// machine with scripts/slurm-local.sh (which installs Debian's slurm-wlm and munge when missing; root
// needed). Skipped, with the reason, where that cannot be done; BLOCKLOCAL_SLURM_TEST=0 switches it off.
import XCTest
import Foundation

final class SlurmTests: XCTestCase {
    /// Runs a command through /bin/sh with output to a file. Not Foundation's Process: here its
    /// waitUntilExit never saw the exit of a command whose children stay behind as daemons (the child
    /// was left a zombie), so this uses system(3), which waits with waitpid itself.
    func sh(_ args: [String], env: [String: String] = [:], cwd: URL? = nil) throws -> (Int32, String) {
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-sh-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        var line = cwd.map { "cd \(quote($0.path)) && " } ?? ""
        line += env.sorted { $0.key < $1.key }.map { "\($0.key)=\(quote($0.value)) " }.joined()
        line += args.map(quote).joined(separator: " ") + " </dev/null >\(quote(log.path)) 2>&1"
        let status = system(line)
        let code: Int32 = status == -1 ? -1 : (status >> 8) & 0xff
        return (code, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    func testGeneratedArrayScriptRunsOnARealSlurm() throws {
        guard ProcessInfo.processInfo.environment["BLOCKLOCAL_SLURM_TEST"] != "0" else {
            throw XCTSkip("BLOCKLOCAL_SLURM_TEST=0: the real-Slurm test is switched off")
        }
        guard getuid() == 0 else { throw XCTSkip("starting slurmctld/slurmd needs root; as root: `make test-slurm`") }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = repo.appendingPathComponent("scripts/slurm-local.sh").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-slurm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let state = dir.appendingPathComponent("slurm").path
        let (rc, log) = try sh(["timeout", "600", script, "start", state])
        defer { _ = try? sh([script, "stop", state]); try? FileManager.default.removeItem(at: dir) }
        guard rc == 0 else { throw XCTSkip("could not start a local Slurm: \(log.suffix(300))") }
        let env = ["SLURM_CONF": state + "/slurm.conf", "BLOCKLOCAL_NO_REEXEC": "1"]
        try tinyS2SSpec(name: "slurm", grid: "method = [\"bp\", \"bll\"]\nseed = [0, 1]")
            .write(to: dir.appendingPathComponent("s.toml"), atomically: true, encoding: .utf8)
        // block-parallel runs over MPI: one array task per run, K = 2 Slurm tasks each, started by srun
        try tinyS2SSpec(name: "mpi", grid: "method = [\"bll\", \"predsim\"]", extra: "parallel = \"mpi\"")
            .write(to: dir.appendingPathComponent("m.toml"), atomically: true, encoding: .utf8)
        let cli = CLI()
        let gen = try cli.run(["sweep", "s.toml", "m.toml", "--profile", "smoke", "--slurm", "--cpus", "1", "--parallel", "2", "--time", "0:10:00"], cwd: dir)
        XCTAssertEqual(gen.status, 0, gen.err)
        let batch = dir.appendingPathComponent("results/slurm/blocklocal-slurm+mpi-smoke.sbatch").path
        let mpiBatch = dir.appendingPathComponent("results/slurm/blocklocal-slurm+mpi-smoke-mpi-k2.sbatch").path
        let mpiScript = (try? String(contentsOfFile: mpiBatch, encoding: .utf8)) ?? ""
        XCTAssert(mpiScript.contains("#SBATCH --ntasks=2") && mpiScript.contains("#SBATCH --cpus-per-task=1") && mpiScript.contains("srun --mpi=pmix"), mpiScript)
        for script in [batch, mpiBatch] {
            let (src, submitted) = try sh(["sbatch", script], env: env, cwd: dir)
            XCTAssertEqual(src, 0, submitted)
        }
        var finished = false
        for _ in 0..<120 {   // at most 2 minutes
            let (_, queue) = try sh(["squeue", "-h"], env: env)
            if queue.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { finished = true; break }
            Thread.sleep(forTimeInterval: 1)
        }
        XCTAssert(finished, "the job array finished within two minutes")
        let list = try cli.run(["runs", "list"], cwd: dir)
        XCTAssertEqual(list.out.split(separator: "\n").filter { $0.contains(" done ") }.count, 6, list.out)
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("results/slurm").path).filter { $0.hasSuffix(".out") }
        XCTAssertEqual(logs.count, 6, "one log per array task: \(logs)")
        let ids = list.out.split(separator: "\n").filter { $0.contains(" done ") }.map { String($0.split(separator: " ")[0]) }
        let mpiRuns = try ids.filter { try cli.run(["runs", "show", $0], cwd: dir).out.contains("execution: MPI, 2 ranks (srun)") }
        XCTAssertEqual(mpiRuns.count, 2, "the MPI runs ran as 2 srun ranks: \(list.out)")
    }
}
