// The command line as a user runs it: the built executable, its output and exit status.
import XCTest
import Foundation

/// Runs the blocklocal executable built beside this test bundle.
struct CLI {
    var binary: URL {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("blocklocal")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/release/blocklocal")
    }

    /// Runs the binary to its end; `environment` adds to (or overrides) this process's variables.
    func run(_ args: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = binary; p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        var env = ProcessInfo.processInfo.environment; env["BLOCKLOCAL_NO_REEXEC"] = "1"
        env.merge(environment) { $1 }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

/// Open MPI refuses to start as root unless told; set on the child processes of the tests only.
let mpiRootEnvironment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]

/// A sweep spec of tiny S2S transformer runs (2 layers, d_model 16, K = 2) that train in about a second
/// each; `grid` and `extra` are TOML lines for [grid] and the end of [fixed].
func tinyS2SSpec(name: String, grid: String, extra: String = "", epochs: Int = 1, steps: Int = 3, testSubset: Int = 32) -> String {
    """
    [experiment]
    name = "\(name)"
    [grid]
    \(grid)
    [fixed]
    dataset = "s2s"
    model = "transformer"
    blocks = 2
    layers = 2
    d_model = 16
    heads = 2
    ffn = 32
    epochs = \(epochs)
    batch = 16
    s2s_steps = \(steps)
    test_subset = \(testSubset)
    \(extra)
    [profile.smoke]
    epochs = \(epochs)
    """
}

final class CLITests: XCTestCase {
    let cli = CLI()
    func run(_ args: [String], cwd: URL? = nil) throws -> (status: Int32, out: String, err: String) { try cli.run(args, cwd: cwd) }

    func testVersionAndHelp() throws {
        let v = try run(["--version"])
        XCTAssertEqual(v.status, 0); XCTAssertEqual(v.out.trimmingCharacters(in: .whitespacesAndNewlines), "0.5.0")
        let h = try run(["--help"])
        for sub in ["train", "data", "bench", "model"] { XCTAssert(h.out.contains(sub), "help lists \(sub)") }
    }

    /// User mistakes: one line naming the problem and what is allowed, a non-zero status, no stack trace.
    func testBadInputIsOneLineWithoutATrace() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let cases: [([String], String)] = [
            (["model", "describe", "resnet19"], "invalid model 'resnet19'"),
            (["model", "describe", "resnet50", "--blocks", "7"], "except 7, 10, 11, 12"),
            (["train", "--method", "backprop"], "allowed bp, fa, predsim"),
            (["train", "--method", "bll", "--set", "lamda=1", "--dataset", "s2s"], "lambda, feedback"),
            (["data", "info", "imagenet", "--data-dir", tmp.path], "unknown dataset 'imagenet'"),
            (["bench", "--models", "r99"], "unknown model 'r99'"),
            (["train", "--method", "bp", "--dataset", "s2s", "--blocks", "2", "--parallel", "pipeline"], "bp is a locked rule"),
            (["train", "--method", "fa", "--dataset", "s2s", "--blocks", "2", "--parallel", "pipeline"], "fa is a locked rule"),
            (["train", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--parallel", "pipeline", "--workers", "3"], "allowed 1...2"),
            (["train", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--parallel", "pipeline", "--queue-depth", "0"], "--queue-depth '0': allowed 1...64"),
            (["train", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--parallel", "pipeline", "--threads-per-block", "999"], "--threads-per-block '999': allowed 1..."),
            (["train", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--parallel", "threads"], "allowed sequential, pipeline, mpi"),
            (["train", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--epochs", "1", "--bogus"], "Unknown option '--bogus'"),
            (["runs", "list", "--where", "colour=red"], "unknown field 'colour' for --where: allowed id, spec, status, method"),
            // did you mean: subcommands, methods, models, datasets, method settings, spec keys
            (["trian"], "unknown command 'trian' for blocklocal (did you mean 'train'?); commands: train, run"),
            (["runs", "lst"], "unknown command 'lst' for blocklocal runs (did you mean 'list'?)"),
            (["train", "--method", "predsm"], "(did you mean 'predsim'?)"),
            (["model", "describe", "resnt18"], "(did you mean 'resnet18'?)"),
            (["train", "--method", "bll", "--dataset", "fashion-mnst"], "(did you mean 'fashion-mnist'?)"),
            (["train", "--method", "bll", "--set", "lamda=1", "--dataset", "s2s"], "(did you mean 'lambda'?)"),
            (["sweep", "typo.toml", "--profile", "smoke", "--dry-run"], "unknown key 'epoch' in [fixed] (did you mean 'epochs'?)"),
            (["sweep", "slash.toml", "--profile", "smoke", "--slurm"], "slash.toml:2: invalid name 'a/b': allowed up to 64 letters"),
            (["runs", "list", "--format", "xml"], "unknown --format 'xml': allowed table, csv, json"),
            (["train", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--workers", "2"], "--workers applies to --parallel pipeline only"),
        ]
        // data that cannot be had is a data error: 2, one line, saying where to put the files
        let fetch = try run(["data", "fetch", "cifar10", "--offline", "--data-dir", tmp.path], cwd: tmp)
        XCTAssertEqual(fetch.status, 2, fetch.err)
        XCTAssert(fetch.err.contains("--mirror DIR") && fetch.err.split(separator: "\n").count == 1, fetch.err)
        try "[experiment]\nname = \"t\"\n[fixed]\nepoch = 2\n".write(to: tmp.appendingPathComponent("typo.toml"), atomically: true, encoding: .utf8)
        try "[experiment]\nname = \"a/b\"\n[fixed]\nepochs = 2\n".write(to: tmp.appendingPathComponent("slash.toml"), atomically: true, encoding: .utf8)
        for (args, expected) in cases {
            let r = try run(args, cwd: tmp)
            XCTAssertEqual(r.status, 1, "\(args): every user error exits 1")
            let lines = r.err.split(separator: "\n").filter { !$0.isEmpty }   // no usage footer after the error
            XCTAssertEqual(lines.count, 1, "\(args): \(r.err)")
            XCTAssert(r.err.contains(expected), "\(args): \(r.err)")
            XCTAssertFalse(r.err.contains("Fatal error") || r.err.contains("Stack dump"), r.err)
        }
    }

    /// `train --threads 1` and `train --parallel pipeline --threads-per-block 1` print the same per-epoch
    /// loss, accuracy and head columns (everything but the timings), and the pipelined run prints its
    /// per-block utilisation.
    func testPipelinedTrainPrintsTheSequentialColumns() throws {
        let base = ["train", "--method", "bll", "--dataset", "s2s", "--blocks", "3", "--layers", "4", "--d-model", "16",
                    "--heads", "2", "--epochs", "2", "--s2s-steps", "6", "--batch", "16", "--test-subset", "64", "--lr", "3e-3"]
        let seq = try run(base + ["--threads", "1"]), pipe = try run(base + ["--parallel", "pipeline", "--threads-per-block", "1"])
        XCTAssertEqual(seq.status, 0, seq.err); XCTAssertEqual(pipe.status, 0, pipe.err)
        func columns(_ out: String) -> [String] {
            out.split(separator: "\n").filter { $0.first?.isNumber == true }.map { $0.split(separator: " ").dropLast(2).joined(separator: " ") }
        }
        XCTAssertEqual(columns(seq.out).count, 2, seq.out)
        XCTAssertEqual(columns(pipe.out), columns(seq.out))
        XCTAssert(pipe.out.contains("pipelined: 3 workers") && pipe.out.contains("b1 busy") && pipe.out.contains("b3 busy"), pipe.out)
    }

    /// The bench prints a ratio to PyTorch only against PyTorch measured in the same run; a recorded anchor
    /// from another machine is shown as a reference, without a ratio.
    func testBenchRatioOnlyAgainstPyTorchMeasuredHere() throws {
        let anchor = try run(["bench", "--models", "mlp", "--steps", "1"])
        XCTAssertEqual(anchor.status, 0, anchor.err)
        XCTAssert(anchor.out.contains("no ratio across machines") && !anchor.out.contains("x PyTorch"), anchor.out)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("torch-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try #"{"config": "mlp", "threads": 2, "samples_per_s": 15000.0}"#.write(to: tmp, atomically: true, encoding: .utf8)
        let measured = try run(["bench", "--models", "mlp", "--steps", "1", "--threads", "2", "--torch", tmp.path])
        XCTAssertEqual(measured.status, 0, measured.err)
        XCTAssert(measured.out.contains("x PyTorch 15000.0, measured in this run"), measured.out)
    }

    /// A damaged or crafted file is a data error: exit 2, one line naming it; the format-1 files of 0.5.0
    /// and today's files are listed side by side.
    func testDamagedFilesExitTwoAndOldFilesStillList() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-cli-\(UUID().uuidString)")
        let runs = tmp.appendingPathComponent("results/runs")
        try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/runs-format1")
        for f in try FileManager.default.contentsOfDirectory(atPath: fixtures.path) {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(f), to: runs.appendingPathComponent(f))
        }
        let t = try run(["run", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--layers", "2", "--d-model", "16", "--heads", "2",
                         "--epochs", "1", "--s2s-steps", "3", "--batch", "16", "--test-subset", "32"], cwd: tmp)
        XCTAssertEqual(t.status, 0, t.err)
        let list = try run(["runs", "list", "--format", "csv"], cwd: tmp)
        XCTAssertEqual(list.status, 0, list.err)
        XCTAssertEqual(list.out.split(separator: "\n").count, 1 + 3 + 1, list.out)
        XCTAssertEqual(try run(["runs", "show", "0515fa"], cwd: tmp).status, 0)
        try Data("not an HDF5 file at all".utf8).write(to: runs.appendingPathComponent("00000000000000aa.h5"))
        let show = try run(["runs", "show", "00000000000000aa"], cwd: tmp)
        XCTAssertEqual(show.status, 2, show.err)
        XCTAssertEqual(show.err.split(separator: "\n").count, 1, show.err)
        XCTAssert(show.err.contains("00000000000000aa.h5") && show.err.contains("no HDF5 signature"), show.err)
        let report = try run(["report", "--no-figures", "--tables", "t", "--out", "r.md", "--parallel-bench", "none.json",
                              "--reference", URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("paper/reference.csv").path], cwd: tmp)
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssert(report.out.contains("warning: left out results/runs/00000000000000aa.h5"), report.out)
    }

    /// Values that used to crash or be stored as `done`: each is a one-line error naming the field, the
    /// value and the range (specs: with the file and the line), exit 1, and nothing is stored.
    func testBadValuesAreErrorsBeforeAnythingRuns() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-values-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let head = "[experiment]\nname = \"v\"\n[fixed]\ndataset = \"s2s\"\nmodel = \"transformer\"\nmethod = \"predsim\"\nepochs = 1\n"
        let specs: [(String, String)] = [
            ("hidden = [9223372036854775807]", "v.toml:8: predsim transformer s2s K=1 seed"),
            ("hidden = [100000000]", "invalid hidden '[100000000]': allowed sizes in 1...65536"),
            ("vgg_hidden = [-1]", "invalid vgg_hidden '[-1]'"), ("vgg_hidden = [0]", "invalid vgg_hidden '[0]'"),
            ("d_model = 0", "invalid d_model '0'"), ("ffn = -1", "invalid ffn '-1'"),
            ("train_subset = -5", "invalid train_subset '-5'"), ("test_subset = 0", "invalid test_subset '0'"),
            ("s2s_steps = -1", "invalid s2s_steps '-1'"), ("s2s_length = 1000000", "invalid s2s_length '1000000'"),
            ("batch = 9223372036854775807", "invalid batch '9223372036854775807'"),
            ("gamma = -1", "invalid gamma '-1.0'"), ("momentum = -3", "invalid momentum '-3.0'"),
            ("schedule = \"cycle\"\ncycle_peak = 0", "invalid cycle_peak '0.0'"),
            ("d_model = 8192\nffn = 65536\nlayers = 1000", "invalid model size"),
            ("batch = 65536\nd_model = 512\nlayers = 40", "invalid activation memory '"),
            ("[method.predsim]\ndim_in_decoder = 1e300", "invalid dim_in_decoder '1e+300'"),
            ("hidden = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), "arrays nested more than 8 deep"),
        ]
        for (i, (body, expected)) in specs.enumerated() {
            let name = "bad\(i).toml"
            try (head + body + "\n").replacingOccurrences(of: "name = \"v\"", with: "name = \"v\(i)\"").write(to: tmp.appendingPathComponent(name), atomically: true, encoding: .utf8)
            let r = try run(["sweep", name, "--profile", "x", "--results", "res"], cwd: tmp)
            XCTAssertEqual(r.status, 1, "\(body): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
            XCTAssert(r.err.contains(expected.replacingOccurrences(of: "v.toml", with: name)), "\(body): \(r.err)")
        }
        let flags: [([String], String)] = [
            (["--width", "nan"], "invalid width 'nan'"), (["--opt", "milestones=nan"], "invalid milestones"),
            (["--train-subset", "0"], "invalid train_subset '0'"), (["--batch", "9223372036854775807"], "invalid batch"),
            (["--opt", "gamma=-1"], "invalid gamma"), (["--dataset", "fashion-mnist", "--model", "resnet50", "--width", "16"], "invalid model size"),
            (["--dataset", "fashion-mnist", "--model", "resnet50", "--width", "1", "--batch", "65536"], "invalid activation memory '"),
            (["--init", "xavier"], "invalid init 'xavier': allowed torchvision, pytorch-default, local-loss, biotorch"),
            (["--init", "torchvision"], "invalid init 'torchvision': allowed pytorch-default, local-loss or biotorch for transformer"), (["--lr", "1e6"], "invalid lr '1000000.0': allowed a number in (0, 100]"),
        ]
        for (extra, expected) in flags {
            let r = try run(["run", "--method", "bll", "--dataset", "s2s", "--results", "res"] + extra, cwd: tmp)
            XCTAssertEqual(r.status, 1, "\(extra): \(r.err)")
            XCTAssert(r.err.contains(expected) && r.err.split(separator: "\n").count == 1, "\(extra): \(r.err)")
        }
        let stored = ((try? FileManager.default.contentsOfDirectory(atPath: tmp.appendingPathComponent("res/runs").path)) ?? []).filter { $0.hasSuffix(".h5") }
        XCTAssertEqual(stored, [], "nothing is stored")
    }

    /// A full disk: the failed write is one line, exit 2, no crash at exit (HDF5's exit handler used to
    /// segfault on the file whose flush failed) and no temporary left. Needs root to mount a small tmpfs.
    func testAFullDiskIsOneLineAndExitTwo() throws {
        let mnt = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mnt, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: mnt) }
        func sh(_ args: [String]) -> Int32 {
            let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/env"); p.arguments = args
            p.standardError = FileHandle.nullDevice; p.standardOutput = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return -1 }
            p.waitUntilExit(); return p.terminationStatus
        }
        guard getuid() == 0, sh(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", mnt.path]) == 0 else {
            throw XCTSkip("mounting a small tmpfs needs root")
        }
        defer { _ = sh(["umount", mnt.path]) }
        try FileManager.default.createDirectory(at: mnt.appendingPathComponent("res/runs/.locks"), withIntermediateDirectories: true)
        _ = sh(["dd", "if=/dev/zero", "of=" + mnt.appendingPathComponent("fill").path, "bs=1k", "count=190"])
        let r = try run(["run", "--method", "bll", "--dataset", "s2s", "--blocks", "2", "--layers", "2", "--d-model", "16", "--heads", "2",
                         "--epochs", "1", "--s2s-steps", "3", "--batch", "16", "--test-subset", "32", "--results", mnt.appendingPathComponent("res").path])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        XCTAssert(r.err.contains("the disk may be full") && !r.err.contains("crashed"), r.err)
        let left = try FileManager.default.contentsOfDirectory(atPath: mnt.appendingPathComponent("res/runs").path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(left, [], "no temporary or partial file is left")
    }

    /// One default width: `model describe` describes the model `train` trains (ResNet-18 w0.25: 16 channels in the stem).
    func testModelDescribeAndTrainShareTheDefaultWidth() throws {
        let d = try run(["model", "describe", "resnet18"])
        XCTAssertEqual(d.status, 0, d.err)
        XCTAssert(d.out.split(separator: "\n").contains { $0.hasPrefix("stem") && $0.contains("[16, 28, 28]") }, d.out)
    }

    func testTrainS2SPrintsTokenAndSequenceAccuracy() throws {
        let r = try run(["train", "--method", "bwbpf", "--dataset", "s2s", "--blocks", "2", "--layers", "2", "--d-model", "16",
                         "--heads", "2", "--epochs", "2", "--s2s-steps", "5", "--batch", "16", "--test-subset", "64", "--lr", "3e-3"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssert(r.out.contains("test acc %") && r.out.contains("seq acc %") && r.out.contains("test sequences also seen in training"), r.out)
        XCTAssertEqual(r.out.split(separator: "\n").filter { $0.hasPrefix("2 ") }.count, 1, r.out)
    }
}

/// Sweeps as a user runs them: killed at random moments and restarted, with parallel workers.
final class SweepCLITests: XCTestCase {
    let spec = tinyS2SSpec(name: "killable", grid: "method = [\"bp\", \"bwbpf\", \"bll\"]\nseed = [0, 1]", extra: "lr = 3e-3",
                           epochs: 3, steps: 40, testSubset: 64)

    func testKilledSweepsResumeToTheSameResults() throws {
        let cli = CLI()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try spec.write(to: dir.appendingPathComponent("k.toml"), atomically: true, encoding: .utf8)
        // the reference: one uninterrupted sweep
        let ref = try cli.run(["sweep", "k.toml", "--profile", "smoke", "--results", "ref"], cwd: dir)
        XCTAssertEqual(ref.status, 0, ref.err)
        // the same sweep, SIGKILLed at random moments and restarted until it finishes by itself
        var rng = SystemRandomNumberGenerator()
        var kills = 0
        for _ in 0..<40 {
            let p = Process(); p.executableURL = cli.binary
            p.arguments = ["sweep", "k.toml", "--profile", "smoke", "--results", "killed"]; p.currentDirectoryURL = dir
            var env = ProcessInfo.processInfo.environment; env["BLOCKLOCAL_NO_REEXEC"] = "1"; p.environment = env
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.6, using: &rng))
            if p.isRunning { kill(p.processIdentifier, SIGKILL); kills += 1 }
            p.waitUntilExit()
            if p.terminationReason == .exit && p.terminationStatus == 0 { break }
        }
        let finish = try cli.run(["sweep", "k.toml", "--profile", "smoke", "--results", "killed"], cwd: dir)
        XCTAssertEqual(finish.status, 0, finish.err)
        XCTAssertGreaterThan(kills, 0, "the test killed the sweep at least once")
        let list = try cli.run(["runs", "list", "--results", "killed"], cwd: dir)
        XCTAssertEqual(list.out.split(separator: "\n").filter { $0.contains(" done ") }.count, 6, list.out)
        XCTAssert(list.out.contains("6 runs in"), list.out)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("killed/runs").path)
        XCTAssertFalse(files.contains { $0.contains(".tmp") || $0.contains(".partial") }, "\(files)")
        // identical results, run by run
        // every column but the wall time and the date (CSV: id, spec, status, method, ..., accuracy, epochs, wall_s, date)
        let csv = { (results: String) throws -> Set<String> in
            let out = try CLI().run(["runs", "list", "--results", results, "--format", "csv"], cwd: dir).out
            XCTAssert(out.hasPrefix("id,spec,status,method,model,dataset,blocks,replicate,seed,profile,parallel,init,accuracy,epochs,wall_s,date\n"), out)
            return Set(out.split(separator: "\n").dropFirst().map { $0.split(separator: ",").prefix(14).joined(separator: ",") })
        }
        let reference = try csv("ref")
        XCTAssertEqual(reference.filter { $0.contains(",done,") }.count, 6)
        XCTAssertEqual(try csv("killed"), reference, "every run's final accuracy equals the uninterrupted sweep's")
        for id in reference.map({ String($0.split(separator: ",")[0]) }) {
            let a = try cli.run(["runs", "show", id, "--results", "ref"], cwd: dir).out
            let b = try cli.run(["runs", "show", id, "--results", "killed"], cwd: dir).out
            let metrics = { (s: String) in s.split(separator: "\n").filter { $0.first?.isNumber == true }.map { $0.split(separator: " ").prefix(3).joined(separator: " ") } }
            XCTAssertEqual(metrics(a), metrics(b), "run \(id): per-epoch accuracy and loss")
        }
    }

    /// `sweep --jobs 2`: the workers run in their own process groups, so a terminal's Ctrl-C reaches only
    /// the parent; it forwards it and every worker stops (exit 130). When the parent is killed outright,
    /// the workers notice and stop too. Nothing keeps training in the background.
    /// A fresh folder holding the spec as k.toml with `steps` S2S steps per epoch (removed by the caller).
    func workspace(steps: Int) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try spec.replacingOccurrences(of: "s2s_steps = 40", with: "s2s_steps = \(steps)").write(to: dir.appendingPathComponent("k.toml"), atomically: true, encoding: .utf8)
        return dir
    }

    func testCtrlCAndParentDeathStopEveryWorker() throws {
        let cli = CLI()
        let dir = try workspace(steps: 40000)
        defer { try? FileManager.default.removeItem(at: dir) }
        func workers() -> [pid_t] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name -> pid_t? in
                guard let pid = pid_t(name), let cmd = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
                let text = String(decoding: cmd, as: UTF8.self)
                return text.contains("--worker") && text.contains(dir.path) ? pid : nil
            }
        }
        func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end { if condition() { return true }; usleep(100_000) }
            return condition()
        }
        for signal in [SIGINT, SIGKILL] {
            let p = Process()
            p.executableURL = cli.binary
            p.arguments = ["sweep", "k.toml", "--profile", "smoke", "--jobs", "2", "--results", dir.appendingPathComponent("par-\(signal)").path]
            p.currentDirectoryURL = dir
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            XCTAssert(waitUntil(30) { workers().count == 2 }, "two workers start")
            usleep(500_000)
            kill(p.processIdentifier, signal)
            let stopped = waitUntil(15) { !p.isRunning }
            XCTAssert(stopped, "the parent stops within 15 s of \(signal == SIGINT ? "Ctrl-C" : "SIGKILL")")
            if stopped && signal == SIGINT { XCTAssertEqual(p.terminationStatus, 130) }
            XCTAssert(waitUntil(10) { workers().isEmpty }, "after \(signal == SIGINT ? "Ctrl-C" : "SIGKILL") of the parent no worker is left: \(workers())")
            if !stopped { kill(p.processIdentifier, SIGKILL) }
            for w in workers() { kill(w, SIGKILL) }
        }
    }

    /// A worker that crashes (here: SIGSEGV from outside, as a real crash ends) has its run marked failed
    /// with the signal; a new worker takes its place and the sweep finishes every other run.
    func testACrashedWorkerFailsItsRunAndTheSweepGoesOn() throws {
        let cli = CLI()
        let dir = try workspace(steps: 300)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = Pipe()
        let p = Process(); p.executableURL = cli.binary; p.currentDirectoryURL = dir
        p.arguments = ["sweep", "k.toml", "--profile", "smoke", "--jobs", "2", "--results", "crash"]
        // Swift's backtracer would catch a SIGSEGV sent from outside and let the process go on; without it
        // the signal ends the worker the way a real crash does
        var env = ProcessInfo.processInfo.environment; env["BLOCKLOCAL_NO_REEXEC"] = "1"; env["SWIFT_BACKTRACE"] = "enable=no"; p.environment = env
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        let workers = dir.appendingPathComponent("crash/runs/.workers").path
        var victim: (pid: pid_t, run: String)? = nil
        let end = Date().addingTimeInterval(60)
        while victim == nil && Date() < end {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: workers)) ?? [] {
                if let pid = pid_t(name), let run = try? String(contentsOfFile: workers + "/" + name, encoding: .utf8), !run.isEmpty { victim = (pid, run); break }
            }
            usleep(50_000)
        }
        let v = try XCTUnwrap(victim, "a worker records the run it trains")
        kill(v.pid, SIGSEGV)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssert(text.contains("FAILED \(v.run)") && text.contains("signal 11 (SIGSEGV)"), text)
        XCTAssert(text.contains("sweep: 5 done, 1 failed"), text)
        let show = try cli.run(["runs", "show", v.run, "--results", "crash"], cwd: dir)
        XCTAssert(show.out.contains("status: failed (the worker process crashed with signal 11 (SIGSEGV) while training it)"), show.out)
    }

    /// Issue 15: a run that crashes a single-process sweep (here SIGSEGV from outside, as a real crash ends)
    /// leaves its signal behind; the next sweep stores it as failed with that signal and finishes every other
    /// run, instead of crashing on it again on every retry.
    func testACrashInASingleProcessSweepFailsItsRunOnTheNextAttempt() throws {
        let cli = CLI()
        let dir = try workspace(steps: 300)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process(); p.executableURL = cli.binary; p.currentDirectoryURL = dir
        p.arguments = ["sweep", "k.toml", "--profile", "smoke", "--results", "crash1"]
        var env = ProcessInfo.processInfo.environment; env["BLOCKLOCAL_NO_REEXEC"] = "1"; p.environment = env
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        let crashed = dir.appendingPathComponent("crash1/runs/.crashed").path
        let end = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: crashed) && Date() < end { usleep(20_000) }
        usleep(300_000)   // inside the first run's training
        kill(p.processIdentifier, SIGSEGV)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertEqual(p.terminationStatus, SIGSEGV, "the process still dies of the signal")
        let markers = try FileManager.default.contentsOfDirectory(atPath: crashed)
        XCTAssertEqual(markers.count, 1)
        let id = try XCTUnwrap(markers.first)
        XCTAssertEqual(try String(contentsOfFile: crashed + "/" + id, encoding: .utf8), "11")
        let again = try cli.run(["sweep", "k.toml", "--profile", "smoke", "--results", "crash1"], cwd: dir)
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssert(again.out.contains("FAILED \(id)") && again.out.contains("crashed with signal 11 (SIGSEGV)"), again.out)
        XCTAssert(again.out.contains("sweep: 5 done, 1 failed"), again.out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: crashed), [], "the marker is consumed")
        let show = try cli.run(["runs", "show", id, "--results", "crash1"], cwd: dir)
        XCTAssert(show.out.contains("status: failed (the process crashed with signal 11 (SIGSEGV) while training it (an earlier attempt))"), show.out)
    }

    func testParallelWorkersRunEveryRunOnce() throws {
        let cli = CLI()
        let dir = try workspace(steps: 5)
        defer { try? FileManager.default.removeItem(at: dir) }
        // the dry run estimates every run (nothing stored yet: measured) and the wall time for the workers
        let plan = try cli.run(["sweep", "k.toml", "--profile", "smoke", "--jobs", "2", "--dry-run", "--results", "par"], cwd: dir)
        XCTAssertEqual(plan.status, 0, plan.err)
        XCTAssertEqual(plan.out.split(separator: "\n").filter { $0.contains(" missing ") && $0.contains(" measured ") }.count, 6, plan.out)
        XCTAssert(plan.out.contains("to run: 6 of 6 runs") && plan.out.contains("wall time: --jobs 2: about "), plan.out)
        let r = try cli.run(["sweep", "k.toml", "--profile", "smoke", "--jobs", "2", "--results", "par"], cwd: dir)
        XCTAssertEqual(r.status, 0, r.err)
        let done = r.out.split(separator: "\n").filter { $0.contains("] done ") }
        XCTAssertEqual(done.count, 6, "each run trained exactly once: \(r.out)")
        XCTAssert(done.contains { $0.contains("ETA of the rest") }, "each worker gives an ETA once it has finished a run: \(r.out)")
        XCTAssert(r.out.contains("sweep: 6 done"), r.out)
        // done runs are estimated by their own stored time; every one is recorded with its spec and replicate
        let after = try cli.run(["sweep", "k.toml", "--profile", "smoke", "--dry-run", "--results", "par"], cwd: dir)
        XCTAssertEqual(after.out.split(separator: "\n").filter { $0.contains(" done ") && $0.contains(" stored ") }.count, 6, after.out)
        XCTAssert(after.out.contains("to run: 0 of 6 runs"), after.out)
        let list = try cli.run(["runs", "list", "--results", "par", "--where", "spec=killable", "--format", "csv"], cwd: dir)
        XCTAssertEqual(list.out.split(separator: "\n").count, 1 + 6, list.out)
    }
}

/// The committed quick results are inputs, not build products: the run files shipped in
/// results/shipped/quick regenerate every committed quick table byte for byte.
final class ShippedResultsTests: XCTestCase {
    func testShippedQuickRunsRegenerateTheCommittedTables() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = root.appendingPathComponent("results/shipped/quick")
        let runs = try FileManager.default.contentsOfDirectory(atPath: shipped.path).filter { $0.hasSuffix(".h5") }
        XCTAssertGreaterThan(runs.count, 20, "the quick runs are shipped")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-shipped-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let cli = CLI()
        let collect = try cli.run(["runs", "collect", shipped.path], cwd: tmp)   // what `make report` does first
        XCTAssertEqual(collect.status, 0, collect.err)
        XCTAssert(collect.out.hasPrefix("copied \(runs.count) "), collect.out)
        let r = try cli.run(["report", "--profile", "quick", "--no-figures", "--tables", "tables", "--out", "REPRODUCTION-quick.md",
                             "--reference", root.appendingPathComponent("paper/reference.csv").path,
                             "--parallel-bench", root.appendingPathComponent("results/bench/parallel-quick.json").path], cwd: tmp)
        XCTAssertEqual(r.status, 0, r.err)
        let made = try FileManager.default.contentsOfDirectory(atPath: tmp.appendingPathComponent("tables").path).sorted()
        let committed = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("results/tables").path)
            .filter { $0.contains("-quick") }.sorted()
        XCTAssertEqual(made, committed, "the report of the shipped runs writes exactly the committed quick tables")
        for name in made {
            let a = try Data(contentsOf: tmp.appendingPathComponent("tables/" + name))
            let b = try Data(contentsOf: root.appendingPathComponent("results/tables/" + name))
            XCTAssertEqual(a, b, "\(name) regenerates byte for byte")
        }
        XCTAssertTrue(made.allSatisfy { $0.contains("-quick") }, "every name carries the profile: another profile's report never overwrites these")
    }
}
