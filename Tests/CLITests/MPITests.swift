// `--parallel mpi` under Debian's Open MPI, on this machine: `mpirun --oversubscribe -np 3` starts three
// ranks of the real binary. As root, Open MPI refuses to start unless two variables allow it: they are
// set here, for these child processes only. Skipped, with the reason, where mpirun is missing.
import XCTest
import Foundation

final class MPITests: XCTestCase {
    let cli = CLI()

    var mpirun: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func tmp() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// mpirun with `ranks` ranks of blocklocal `args`; output to files (read after it exits).
    func launch(_ ranks: Int, _ args: [String], cwd: URL) throws -> (Process, URL, URL) {
        guard let mpirun else { throw XCTSkip("mpirun not found (make deps installs openmpi-bin)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["--oversubscribe", "-np", "\(ranks)", cli.binary.path] + args
        p.currentDirectoryURL = cwd
        var env = ProcessInfo.processInfo.environment
        env["BLOCKLOCAL_NO_REEXEC"] = "1"
        env.merge(mpiRootEnvironment) { $1 }
        p.environment = env
        let out = cwd.appendingPathComponent("mpirun-\(UUID().uuidString).out"), err = cwd.appendingPathComponent("mpirun-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: out.path, contents: nil); FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out); p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    func mpi(_ ranks: Int, _ args: [String], cwd: URL) throws -> (status: Int32, out: String, err: String) {
        let (p, out, err) = try launch(ranks, args, cwd: cwd)
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// The per-epoch rows without their two timing columns.
    func columns(_ out: String) -> [String] {
        out.split(separator: "\n").filter { $0.first?.isNumber == true }.map { $0.split(separator: " ").dropLast(2).joined(separator: " ") }
    }

    static let small = ["--dataset", "s2s", "--blocks", "3", "--layers", "4", "--d-model", "16", "--heads", "2",
                        "--s2s-steps", "6", "--batch", "16", "--test-subset", "64", "--lr", "3e-3"]

    /// `mpirun -np 3 blocklocal train ... --parallel mpi --threads-per-block 1` prints the same per-epoch loss,
    /// accuracy and head/diagnostic columns as `blocklocal train ... --threads 1`, for bll (its chain
    /// feedback crosses ranks backwards) and predsim.
    func testMPITrainPrintsTheSequentialColumns() throws {
        let dir = try tmp(); defer { try? FileManager.default.removeItem(at: dir) }
        for method in ["bll", "predsim"] {
            let base = ["train", "--method", method, "--epochs", "2"] + Self.small
            let seq = try cli.run(base + ["--threads", "1"], cwd: dir)
            let ranks = try mpi(3, base + ["--parallel", "mpi", "--threads-per-block", "1"], cwd: dir)
            XCTAssertEqual(seq.status, 0, seq.err); XCTAssertEqual(ranks.status, 0, ranks.err + ranks.out)
            XCTAssertEqual(columns(seq.out).count, 2, seq.out)
            XCTAssertEqual(columns(ranks.out), columns(seq.out), method)
            XCTAssert(ranks.out.contains("MPI: 3 ranks (mpirun)") && ranks.out.contains("b3 busy"), ranks.out)
        }
    }

    /// Bad launches: without a launcher, with a rank count other than K, a locked rule: one line from rank
    /// 0 naming the numbers and the command to use; exit 1.
    func testBadMPILaunchesAreOneLine() throws {
        let dir = try tmp(); defer { try? FileManager.default.removeItem(at: dir) }
        let base = ["train", "--method", "bll", "--epochs", "1"] + Self.small + ["--parallel", "mpi"]
        let plain = try cli.run(base, cwd: dir)
        XCTAssertEqual(plain.status, 1, plain.err)
        XCTAssertEqual(plain.err.split(separator: "\n").count, 1, plain.err)
        XCTAssert(plain.err.contains("needs an MPI launcher") && plain.err.contains("mpirun -np 3"), plain.err)
        let two = try mpi(2, base, cwd: dir)
        XCTAssertNotEqual(two.status, 0)
        let ours = two.err.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(ours.count, 1, two.err)   // rank 0 alone says it
        XCTAssert(two.err.contains("started with 2 ranks but the run has K = 3 blocks") && two.err.contains("mpirun -np 3"), two.err)
        let locked = try mpi(3, ["train", "--method", "bp", "--epochs", "1"] + Self.small + ["--parallel", "mpi"], cwd: dir)
        XCTAssertEqual(locked.err.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count, 1, locked.err)
        XCTAssert(locked.err.contains("--parallel mpi: bp is a locked rule"), locked.err)
    }

    /// h5py's view of a run file: every metric series bit for bit (timings left out) and the final state's
    /// sha256 — what a researcher compares two runs by.
    func fingerprint(_ path: String) throws -> String {
        let script = """
        import h5py, sys
        f = h5py.File(sys.argv[1], "r")
        out = []
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not any(s in name for s in ("seconds", "samples_per_second", "pipeline")):
                out.append(name + " " + obj[()].tobytes().hex())
        f["metrics"].visititems(visit)
        out.append("state " + f["final"].attrs["state_sha256"])
        print("\\n".join(sorted(out)))
        """
        let p = Process()
        // Debian's python3 (python3-h5py installs for it), not one a version manager put first on PATH
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { throw XCTSkip("python3 not installed") }
        p.executableURL = URL(fileURLWithPath: python); p.arguments = ["-c", script, path]
        let pipe = Pipe(); p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            if text.contains("No module named 'h5py'") { throw XCTSkip("python3-h5py missing (make deps installs it)") }
            XCTFail(text); return ""
        }
        return text
    }

    func runFile(_ dir: URL) throws -> String {
        let runs = dir.appendingPathComponent("runs")
        let files = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasSuffix(".h5") && !$0.contains(".partial") }
        XCTAssertEqual(files.count, 1, "\(files)")
        return runs.appendingPathComponent(files.first ?? "").path
    }

    /// A rank killed mid-run: mpirun stops the others within 10 s and names the rank; the store holds no
    /// finished or half-written file, only the last checkpoint; the same command resumes from it, and the
    /// run ends with the same metrics and final state, bit for bit, as the sequential run on 1 thread.
    func testKilledRankStopsTheJobAndTheRunResumesBitIdentical() throws {
        let dir = try tmp(); defer { try? FileManager.default.removeItem(at: dir) }
        let base = ["run", "--method", "bll", "--epochs", "3"] + Self.small.map { $0 == "6" ? "150" : $0 }
        let seqDir = dir.appendingPathComponent("seq"), mpiDir = dir.appendingPathComponent("mpi")
        let seq = try cli.run(base + ["--threads", "1", "--results", seqDir.path], cwd: dir)
        XCTAssertEqual(seq.status, 0, seq.err)

        let args = base + ["--parallel", "mpi", "--threads-per-block", "1", "--results", mpiDir.path]
        let (job, _, errURL) = try launch(3, args, cwd: dir)
        let runs = mpiDir.appendingPathComponent("runs")
        func partial() -> Bool { ((try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []).contains { $0.hasSuffix(".partial.h5") } }
        let deadline = Date().addingTimeInterval(120)
        while !partial() && job.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssert(partial(), "the first epoch's checkpoint appeared")
        guard let rank1 = rankPID(1, under: job.processIdentifier) else { job.terminate(); return XCTFail("rank 1 not found") }
        kill(rank1, SIGKILL)
        let killed = Date()
        job.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(killed), 10, "the other ranks stop within 10 s")
        XCTAssertNotEqual(job.terminationStatus, 0)
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        XCTAssert(err.contains("rank 1"), "the error names the rank: \(err)")
        let left = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(left.count, 1, "only the checkpoint stays: \(left)")
        XCTAssert(left.allSatisfy { $0.hasSuffix(".partial.h5") }, "\(left)")

        let again = try mpi(3, args, cwd: dir)
        XCTAssertEqual(again.status, 0, again.err + again.out)
        XCTAssertFalse(again.out.contains("epoch 1:"), "resumed after epoch 1, not from scratch: \(again.out)")
        let a = try fingerprint(try runFile(seqDir)), b = try fingerprint(try runFile(mpiDir))
        XCTAssertFalse(a.isEmpty)
        XCTAssertEqual(a, b, "the MPI run stores the sequential run's bits")
    }

    /// `bench --parallel --transport mpi`: each K also as K ranks, with the message path measured (latency,
    /// bandwidth by size, bytes per step) and stored in the bench JSON that the report's figure reads.
    func testBenchMeasuresTheMPITransport() throws {
        guard mpirun != nil else { throw XCTSkip("mpirun not found (make deps installs openmpi-bin)") }
        let dir = try tmp(); defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("pb.json").path
        let r = try cli.run(["bench", "--parallel", "--transport", "mpi", "--models", "mlp", "--max-blocks", "2", "--passes", "1", "--steps", "2",
                             "--out", out, "--profiles", dir.appendingPathComponent("profiles").path], environment: mpiRootEnvironment)
        let text = r.out + r.err
        XCTAssertEqual(r.status, 0, text)
        XCTAssert(text.contains("MPI, K ranks × 1 thread") && text.contains("latency per message"), text)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: Any]
        let points = json["points"] as! [[String: Any]]
        let mpi = points.filter { $0["mode"] as? String == "mpi" }
        XCTAssertEqual(mpi.count, 3, "predsim, bwbpf and bll at K = 2 over MPI")
        XCTAssert(mpi.allSatisfy { (($0["samplesPerSecond"] as? [Double])?.first ?? 0) > 0 && $0["predicted"] != nil })
        let transport = json["transport"] as! [String: Any]
        let times = transport["oneWaySeconds"] as! [Double]
        XCTAssertEqual(times.count, 5)
        XCTAssert(times.allSatisfy { $0 > 0 } && times.last! > times.first!, "\(times)")
        XCTAssertEqual((json["mpiBytesPerStep"] as? [String: Double])?.count, 3)
    }

    /// A spec with `parallel = "mpi"` in a local sweep: the sweep starts each run with `mpirun -np K` and
    /// the runs are stored as MPI runs; a second sweep finds them done.
    func testLocalSweepLaunchesMPIRuns() throws {
        guard mpirun != nil else { throw XCTSkip("mpirun not found (make deps installs openmpi-bin)") }
        let dir = try tmp(); defer { try? FileManager.default.removeItem(at: dir) }
        try tinyS2SSpec(name: "mpi", grid: "method = [\"bll\", \"predsim\"]", extra: "parallel = \"mpi\"")
            .write(to: dir.appendingPathComponent("m.toml"), atomically: true, encoding: .utf8)
        func sweep() throws -> (Int32, String) {
            let r = try cli.run(["sweep", "m.toml", "--profile", "smoke"], cwd: dir, environment: mpiRootEnvironment)
            return (r.status, r.out + r.err)
        }
        let (status, out) = try sweep()
        XCTAssertEqual(status, 0, out)
        XCTAssertEqual(out.split(separator: "\n").filter { $0.contains("] done ") }.count, 2, out)
        let list = try cli.run(["runs", "list", "--where", "parallel=mpi", "--format", "csv"], cwd: dir)
        XCTAssertEqual(list.out.split(separator: "\n").filter { $0.contains(",done,") }.count, 2, list.out)
        let again = try sweep()
        XCTAssert(again.1.contains("2 runs (mpi, profile smoke): 2 done"), again.1)
    }

    /// The pid of `rank` among the children of mpirun `parent` (Open MPI puts the rank in each child's environment).
    func rankPID(_ rank: Int, under parent: Int32) -> pid_t? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { continue }
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            guard fields.count > 1, Int32(fields[1]) == parent,
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if env.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) { return pid }
        }
        return nil
    }
}
