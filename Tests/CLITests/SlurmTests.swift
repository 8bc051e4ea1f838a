// The generated Slurm job-array script against a real single-node Slurm that this test starts on this
// machine with scripts/slurm-local.sh (Debian's slurm-wlm and munge; root needed). Skipped, with the
// reason, where that cannot be done.
import XCTest
import Foundation

final class SlurmTests: XCTestCase {
    func sh(_ args: [String], env: [String: String] = [:], cwd: URL? = nil) throws -> (Int32, String) {
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/env"); p.arguments = args
        var e = ProcessInfo.processInfo.environment; for (k, v) in env { e[k] = v }; p.environment = e
        if let cwd { p.currentDirectoryURL = cwd }
        let out = Pipe(); p.standardOutput = out; p.standardError = out
        try p.run()
        let d = out.fileHandleForReading.readDataToEndOfFile(); p.waitUntilExit()
        return (p.terminationStatus, String(decoding: d, as: UTF8.self))
    }

    func testGeneratedArrayScriptRunsOnARealSlurm() throws {
        guard ProcessInfo.processInfo.environment["BLOCKLOCAL_SLURM_TEST"] == "1" else {
            throw XCTSkip("opt-in: `make test-slurm` (installs slurm-wlm and munge, starts a one-node Slurm)")
        }
        guard getuid() == 0 else { throw XCTSkip("starting slurmctld/slurmd needs root") }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = repo.appendingPathComponent("scripts/slurm-local.sh").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-slurm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let state = dir.appendingPathComponent("slurm").path
        let (rc, log) = try sh(["timeout", "300", script, "start", state])
        defer { _ = try? sh([script, "stop", state]); try? FileManager.default.removeItem(at: dir) }
        guard rc == 0 else { throw XCTSkip("could not start a local Slurm: \(log.suffix(300))") }
        let env = ["SLURM_CONF": state + "/slurm.conf", "BLOCKLOCAL_NO_REEXEC": "1"]
        try """
        [experiment]
        name = "slurm"
        [grid]
        method = ["bp", "bll"]
        seed = [0, 1]
        [fixed]
        dataset = "s2s"
        model = "transformer"
        blocks = 2
        layers = 2
        d_model = 16
        heads = 2
        ffn = 32
        epochs = 1
        batch = 16
        s2s_steps = 3
        test_subset = 32
        [profile.smoke]
        epochs = 1
        """.write(to: dir.appendingPathComponent("s.toml"), atomically: true, encoding: .utf8)
        let cli = CLI()
        let gen = try cli.run(["sweep", "s.toml", "--profile", "smoke", "--slurm", "--cpus", "1", "--parallel", "2", "--time", "0:10:00"], cwd: dir)
        XCTAssertEqual(gen.status, 0, gen.err)
        let batch = dir.appendingPathComponent("results/slurm/blocklocal-slurm-smoke.sbatch").path
        let (src, submitted) = try sh(["sbatch", batch], env: env, cwd: dir)
        XCTAssertEqual(src, 0, submitted)
        var finished = false
        for _ in 0..<120 {   // at most 2 minutes
            let (_, queue) = try sh(["squeue", "-h"], env: env)
            if queue.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { finished = true; break }
            Thread.sleep(forTimeInterval: 1)
        }
        XCTAssert(finished, "the job array finished within two minutes")
        let list = try cli.run(["runs", "list"], cwd: dir)
        XCTAssertEqual(list.out.split(separator: "\n").filter { $0.contains(" done ") }.count, 4, list.out)
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("results/slurm").path).filter { $0.hasSuffix(".out") }
        XCTAssertEqual(logs.count, 4, "one log per array task: \(logs)")
    }
}
