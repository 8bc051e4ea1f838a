import XCTest
import Foundation
@testable import Engine
@testable import Methods
@testable import Experiments
import Scheduling
import Datasets
import Store

let tinySpec = """
[experiment]
name = "tiny"

[grid]
method = ["bp", "bll"]   # two methods
blocks = [1, 2]
seed = [0, 1]

[fixed]
dataset = "s2s"
model = "transformer"
layers = 2
d_model = 16
heads = 2
ffn = 32
epochs = 2
batch = 16
s2s_steps = 4
test_subset = 32
lr = 3e-3

[method.bll]
lambda = 0.5

[profile.smoke]
epochs = 1
seed = [0]
"""

final class ExperimentsTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        Engine.configure(threads: 2)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-exp-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func executor(_ sub: String = "runs") -> RunExecutor {
        RunExecutor(runsDirectory: dir.appendingPathComponent(sub).path, dataStore: DatasetStore(directory: dir.appendingPathComponent("data").path))
    }

    /// Run ids of 0.5.0, pinned: every rule of 0.5.0 at its defaults, and with settings of its own, planned
    /// by today's code, hash to the ids 0.5.0's binary planned for the same specs (`sweep --dry-run`, commit
    /// c2bfce7): the rule registry and its typed settings kept the canonical JSON.
    func testRunIDsOf050ArePinned() throws {
        let defaults = """
        [experiment]
        name = "pin"
        [grid]
        method = ["bp", "fa", "predsim", "bwbpf", "bwbpf-code", "bll", "bll-code"]
        blocks = [2]
        seed = [0]
        [fixed]
        dataset = "fashion-mnist"
        model = "resnet18"
        width = 0.25
        epochs = 1
        train_subset = 512
        [profile.pin]
        """
        XCTAssertEqual(try SweepSpec(file: "pin.toml", text: defaults).plan(profile: "pin").map(\.config.runID),
                       ["ad4d386b82874bb5", "025964bce9e184aa", "85acc30c5fb0a258", "0f51902159900658", "dec67eb23a160ce8",
                        "54dd2bf770c5e07f", "d3a41313c2e59eb6"])
        let settings = """
        [experiment]
        name = "pin2"
        [grid]
        method = ["predsim", "bll", "bll-code"]
        blocks = [3]
        seed = [1]
        [fixed]
        dataset = "s2s"
        model = "transformer"
        layers = 3
        d_model = 16
        heads = 2
        ffn = 32
        epochs = 1
        split = "cuts:1,2"
        [method.predsim]
        beta = 0.5
        init = "local-loss"
        [method.bll]
        feedback = "direct"
        distribution = "bernoulli"
        [method.bll-code]
        denoise = 0.5
        proto_sign = -1
        aux_pooling = "global"
        [profile.pin]
        """
        XCTAssertEqual(try SweepSpec(file: "pin2.toml", text: settings).plan(profile: "pin").map(\.config.runID),
                       ["d9dd54823e04225a", "2092369e9f000a1d", "03b83059c45e9521"])
    }

    /// Typed names: an unknown method, model, dataset or split is an error where it is parsed (a spec names
    /// its line) or decoded (a run file's config), never a fall-through to a default.
    func testUnknownNamesAreErrorsWhereTheyAreParsed() throws {
        for (key, bad, says) in [("method", "dgll", "dgl"), ("model", "resnet19", "resnet18"), ("dataset", "cifar100", "cifar10"),
                                 ("split", "halves", "even, stages")] {
            let replaced = ["method": ("method = [\"bp\", \"bll\"]", "method = [\"bp\", \"\(bad)\"]"),
                            "model": ("model = \"transformer\"", "model = \"\(bad)\""), "dataset": ("dataset = \"s2s\"", "dataset = \"\(bad)\""),
                            "split": ("[fixed]\n", "[fixed]\nsplit = \"\(bad)\"\n")][key]!
            XCTAssert(tinySpec.contains(replaced.0))
            let text = tinySpec.replacingOccurrences(of: replaced.0, with: replaced.1)
            XCTAssertThrowsError(try SweepSpec(file: "t.toml", text: text)) { e in
                XCTAssert("\(e)".contains("t.toml:") && "\(e)".contains(bad) && "\(e)".contains(says), "\(key): \(e)")
            }
        }
        let good = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil)[0].config.canonicalJSON
        for (field, bad) in [("\"dataset\":\"s2s\"", "\"dataset\":\"s2z\""), ("\"arch\":\"transformer\"", "\"arch\":\"transformr\""),
                             ("\"split\":\"even\"", "\"split\":\"odd\""), ("\"method\":\"bp\"", "\"method\":\"pb\"")] {
            XCTAssert(good.contains(field), field)
            XCTAssertThrowsError(try JSONDecoder().decode(RunConfig.self, from: Data(good.replacingOccurrences(of: field, with: bad).utf8)), bad)
        }
    }

    func testRunIDIsCanonicalAndEveryFieldChangesIt() throws {
        let plan = try SweepSpec(file: "tiny.toml", text: tinySpec).plan(profile: nil)
        XCTAssertEqual(plan.count, 8)
        let base = plan[0].config
        XCTAssertEqual(base.runID, try SweepSpec(file: "again.toml", text: tinySpec).plan(profile: nil)[0].config.runID)
        XCTAssertEqual(base.runID.count, 16)
        var ids = Set([base.runID])
        var c = base; c.epochs += 1; ids.insert(c.runID)
        c = base; c.optimizer.lr *= 2; ids.insert(c.runID)
        c = base; c.method = MethodConfig(method: .bll); ids.insert(c.runID)
        c.method.lambda = 0.3; ids.insert(c.runID)   // a rule's own setting
        c = base; c.model.width = 0.5; ids.insert(c.runID)
        c = base; c.seed += 1; ids.insert(c.runID)
        c = base; c.profile = "quick"; ids.insert(c.runID)
        c = base; c.split = .layers; ids.insert(c.runID)
        c = base; c.augmentation = Augmentation(cropPadding: 2, horizontalFlip: true); ids.insert(c.runID)
        XCTAssertEqual(ids.count, 10, "every change gives a new id")
        // an unset augmentation is absent from the canonical JSON: older configs keep their ids
        XCTAssertFalse(base.canonicalJSON.contains("augmentation"))
        let withAugment = try SweepSpec(file: "a.toml", text: tinySpec.replacingOccurrences(of: "[fixed]\n", with: "[fixed]\naugment = \"crop:2,flip\"\n"))
            .plan(profile: nil)[0].config
        XCTAssertEqual(withAugment.augmentation, Augmentation(cropPadding: 2, horizontalFlip: true))
        XCTAssertEqual(Set(plan.map(\.config.runID)).count, 8)
    }

    /// Issue 19: `init` is a recorded recipe element, optional so that configs without it keep their ids; a
    /// spec names it per method ([method.M] init = ...), and a bad value is a one-line error at its line.
    func testInitIsARecordedOptionalRecipeElement() throws {
        let plan = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil)
        XCTAssertFalse(plan[0].config.canonicalJSON.contains("\"init\""), "unset: absent, so 0.5.0's ids stay")
        var c = plan[0].config; c.initScheme = .pytorchDefault
        XCTAssertTrue(c.canonicalJSON.contains("\"init\":\"pytorch-default\""), c.canonicalJSON)
        XCTAssertNotEqual(c.runID, plan[0].config.runID)
        XCTAssertEqual(try JSONDecoder().decode(RunConfig.self, from: Data(c.canonicalJSON.utf8)), c)

        let named = tinySpec.replacingOccurrences(of: "[method.bll]\n", with: "[method.bll]\ninit = \"local-loss\"\n")
        let runs = try SweepSpec(file: "n.toml", text: named).plan(profile: nil)
        for r in runs { XCTAssertEqual(r.config.initScheme, r.config.method.method == .bll ? .localLoss : nil, r.config.label) }
        XCTAssertEqual(runs.filter { $0.config.method.method == .bp }.map(\.config.runID), plan.filter { $0.config.method.method == .bp }.map(\.config.runID))

        let bad = tinySpec.replacingOccurrences(of: "[method.bll]\n", with: "[method.bll]\ninit = \"xavier\"\n")
        XCTAssertThrowsError(try SweepSpec(file: "b.toml", text: bad)) { e in
            XCTAssertEqual("\(e)", "b.toml:23: invalid init 'xavier': allowed torchvision, pytorch-default, local-loss, biotorch")
        }
        // torchvision's init is the ResNets': a transformer under it is an error, not a silent default
        XCTAssertThrowsError(try SweepSpec(file: "tv.toml", text: tinySpec.replacingOccurrences(of: "[fixed]\n", with: "[fixed]\ninit = \"torchvision\"\n"))) { e in
            XCTAssertTrue("\(e)".contains("invalid init 'torchvision'"), "\(e)")
        }
    }

    /// `drop_last` (issue 18, item 1): optional, so configs without it (or with it false) keep their ids.
    func testDropLastIsAnOptionalRecipeElement() throws {
        let base = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil)[0].config
        var c = base; c.dropLast = false
        XCTAssertNil(c.dropLast); XCTAssertEqual(c.runID, base.runID)
        c.dropLast = true
        XCTAssertNotEqual(c.runID, base.runID); XCTAssertTrue(c.canonicalJSON.contains("\"dropLast\":true"), c.canonicalJSON)
        let spec = tinySpec.replacingOccurrences(of: "[fixed]\n", with: "[fixed]\ndrop_last = true\n")
        XCTAssertEqual(try SweepSpec(file: "d", text: spec).plan(profile: nil)[0].config.dropLast, true)
    }

    /// One typed store status with one order (the three hand-written lists of 0.5.0 disagreed on "damaged").
    func testStoredStatusIsOneTypedList() {
        XCTAssertEqual(StoredStatus.allCases.map(\.rawValue), ["done", "failed", "diverged", "partial", "missing", "damaged", "unreadable"])
        XCTAssertEqual(StoredStatus.allCases.filter { $0.needsTraining(rerunFailed: false) }, [.partial, .missing, .damaged, .unreadable])
        XCTAssertEqual(StoredStatus.allCases.filter { $0.needsTraining(rerunFailed: true) }, [.failed, .partial, .missing, .damaged, .unreadable])
        XCTAssertEqual(StoredStatus.summary([.missing: 2, .done: 5, .damaged: 1]), "5 done, 2 missing, 1 damaged")
    }

    /// Seeds come from the replicate and the data/model axes: adding a method or a K changes no run.
    func testSeedsDoNotDependOnMethodOrBlocks() throws {
        let plan = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil)
        for r in plan { XCTAssertEqual(r.config.seed, plan.first { $0.replicate == r.replicate }!.config.seed) }
        let more = try SweepSpec(file: "t", text: tinySpec.replacingOccurrences(of: "method = [\"bp\", \"bll\"]", with: "method = [\"bp\", \"fa\", \"bll\"]")).plan(profile: nil)
        XCTAssertTrue(Set(plan.map(\.config.runID)).isSubset(of: Set(more.map(\.config.runID))))
    }

    func testSameConfigTwiceGivesBitIdenticalMetricsAndRunFileContents() throws {
        let c = try SweepSpec(file: "t", text: tinySpec).plan(profile: "smoke")[1].config
        let a = executor("a"), b = executor("b")
        XCTAssertEqual(try a.execute(c, threads: 2), try b.execute(c, threads: 2))
        let ra = try RunFile.records(a.finalPath(c.runID)), rb = try RunFile.records(b.finalPath(c.runID))
        XCTAssertEqual(ra.map(\.testAccuracy), rb.map(\.testAccuracy))
        XCTAssertEqual(ra.map(\.losses), rb.map(\.losses))
        XCTAssertEqual(try a.execute(c, threads: 2), .alreadyDone)
        let s = try RunFile.summary(a.finalPath(c.runID))
        XCTAssertEqual(s.status, "done"); XCTAssertEqual(s.config, c)
        let f = try HDF5File.open(a.finalPath(c.runID))
        XCTAssertEqual(try f.root.stringAttribute("provenance.blas_core"), Engine.blasCore)
        XCTAssertFalse(try f.root.stringAttribute("provenance.git_commit").isEmpty)
        XCTAssertEqual(try f.root.stringAttribute("config.dataset"), "s2s")
    }

    /// A run stopped after epoch 1 and resumed ends bit-identical to one never stopped.
    func testResumeFromCheckpointIsBitIdentical() throws {
        let bll = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil)[3].config   // bll, K = 2
        // dgl with an MLP auxiliary network: its BatchNorm statistics (head state no optimizer holds) must
        // come back from the checkpoint, or the resumed run's head accuracies differ
        var dgl = bll; dgl.method = MethodConfig(method: .dgl); try dgl.method.apply(["aux": "mlp"])
        for var c in [bll, dgl] {
            c.epochs = 3
            let name = c.method.method.rawValue
            let whole = executor("whole-" + name)
            _ = try whole.execute(c, threads: 2)
            let cut = executor("cut-" + name)
            var calls = 0
            Interrupt.requested = false
            let first = try cut.execute(c, threads: 2) { _ in calls += 1; if calls == 1 { Interrupt.requested = true } }
            Interrupt.requested = false
            XCTAssertEqual(first, .interrupted)
            XCTAssertEqual(cut.status(c.runID), .partial)
            _ = try cut.execute(c, threads: 2)
            let a = try RunFile.records(whole.finalPath(c.runID)), b = try RunFile.records(cut.finalPath(c.runID))
            XCTAssertEqual(a.count, 3); XCTAssertEqual(a.map(\.testAccuracy), b.map(\.testAccuracy), name)
            XCTAssertEqual(a.map(\.losses), b.map(\.losses), "\(name): losses of every epoch, bit for bit")
            XCTAssertEqual(a.map(\.headAccuracy), b.map(\.headAccuracy), "\(name): head accuracies of every epoch")
            XCTAssertFalse(FileManager.default.fileExists(atPath: cut.partialPath(c.runID)))
        }
    }

    /// A checkpoint whose weights were altered, or whose metric series were cut short, is not resumed
    /// (nor does it crash every retry): the run starts again and ends with the uninterrupted run's bits.
    func testAlteredOrTruncatedCheckpointsStartAgain() throws {
        var c = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil)[3].config   // bll, K = 2
        c.epochs = 3
        let whole = executor("whole")
        _ = try whole.execute(c, threads: 2)
        let reference = try RunFile.records(whole.finalPath(c.runID))
        let edits = [
            "d = f['state/0']; v = d[...]; v[0] += 0.5; d[...] = v",                 // altered weights
            "a = f['metrics/test_accuracy'][...]; del f['metrics/test_accuracy']; f['metrics/test_accuracy'] = a[:0]",   // a short series
        ]
        for (i, edit) in edits.enumerated() {
            let e = executor("cut\(i)")
            var calls = 0
            Interrupt.requested = false
            let first = try e.execute(c, threads: 2) { _ in calls += 1; if calls == 1 { Interrupt.requested = true } }
            Interrupt.requested = false
            XCTAssertEqual(first, .interrupted)
            try h5py("import h5py, sys\nf = h5py.File(sys.argv[1], 'a')\n" + edit + "\nf.close()", e.partialPath(c.runID))
            guard case .done = try e.execute(c, threads: 2) else { return XCTFail("edit \(i): the run finishes") }
            let b = try RunFile.records(e.finalPath(c.runID))
            XCTAssertEqual(b.map(\.losses), reference.map(\.losses), "edit \(i): started again from fresh weights, bit for bit")
        }
    }

    func h5py(_ script: String, _ args: String...) throws {
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/python3"); p.arguments = ["-c", script] + args
        let err = Pipe(); p.standardError = err
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    /// A run file whose metric series is shorter than its epoch list (crafted or damaged) is an error
    /// that names it, never a crash; the report leaves it out and says so.
    func testRunFileWithAShortSeriesIsAnErrorNotACrash() throws {
        let plan = try SweepSpec(file: "t", text: tinySpec).plan(profile: "smoke")
        let e = executor()
        for r in plan.prefix(2) { _ = try e.execute(r.config, threads: 2) }
        let bad = e.finalPath(plan[0].config.runID)
        try h5py("import h5py, sys\nf = h5py.File(sys.argv[1], 'a')\ndel f['metrics/seconds']\nf['metrics/seconds'] = [1.0, 2.0, 3.0]\nf.close()", bad)
        XCTAssertThrowsError(try RunFile.records(bad)) { XCTAssert("\($0)".contains("metric seconds has 3 values for 1 epochs"), "\($0)") }
    }

    /// A pipelined run stopped after epoch 1 and resumed ends bit-identical to the sequential run on one
    /// thread, and its run file carries the per-block instrumentation and the execution settings.
    func testPipelinedRunResumesBitIdenticalToSequential() throws {
        var c = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil).first { $0.config.method.method == .bll && $0.config.blocks == 2 }!.config
        c.epochs = 3
        let sequential = executor("sequential")
        _ = try sequential.execute(c, execution: ExecutionSettings(threads: 1))
        c.parallel = .pipeline
        let cut = executor("cut"), settings = ExecutionSettings(threads: 2, threadsPerBlock: 1)
        var calls = 0
        Interrupt.requested = false
        let first = try cut.execute(c, execution: settings) { _ in calls += 1; if calls == 1 { Interrupt.requested = true } }
        Interrupt.requested = false
        XCTAssertEqual(first, .interrupted)
        XCTAssertEqual(cut.status(c.runID), .partial)
        _ = try cut.execute(c, execution: settings)
        var s = c; s.parallel = nil
        let a = try RunFile.records(sequential.finalPath(s.runID)), b = try RunFile.records(cut.finalPath(c.runID))
        XCTAssertEqual(a.count, 3); XCTAssertEqual(a.map(\.testAccuracy), b.map(\.testAccuracy))
        XCTAssertEqual(a.map(\.losses), b.map(\.losses), "losses of every epoch, bit for bit")
        XCTAssertEqual(b.map { $0.pipeline.keys.filter { $0.hasSuffix(".utilisation") }.count }, [2, 2, 2])
        XCTAssertTrue(a.allSatisfy(\.pipeline.isEmpty))
        let f = try HDF5File.open(cut.finalPath(c.runID))
        XCTAssertEqual(try f.root.attribute("provenance.threads_per_block"), .int(1))
        XCTAssertEqual(try f.root.stringAttribute("config.parallel"), "pipeline")
        XCTAssertNotEqual(s.runID, c.runID, "pipelined runs are their own runs")
    }

    /// A sequential run computes on the thread count it is given (and stores), not on the process
    /// default: under OpenBLAS's Haswell kernels (every AVX2 machine) a GEMM cut into 2 row chunks rounds
    /// otherwise than one call, so a run said to use 1 thread that used the default 2 was another run.
    func testSequentialRunComputesOnItsOwnThreadCount() throws {
        var c = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil).first { $0.config.method.method == .bll && $0.config.blocks == 2 }!.config
        c.epochs = 1
        let saved = Parallel.workers
        defer { Parallel.workers = saved }
        var losses: [[[String: Double]]] = []
        for (name, processDefault) in [("default1", 1), ("default2", 2)] {
            Parallel.workers = processDefault
            let e = executor(name)
            _ = try e.execute(c, execution: ExecutionSettings(threads: 1))
            losses.append(try RunFile.records(e.finalPath(c.runID)).map(\.losses))
        }
        XCTAssertEqual(losses[0], losses[1], "a 1-thread run gives the same bits whatever the process default")
    }

    /// A config the model cannot take (an impossible K) is the user's error: it is thrown, and the store
    /// gets no `failed` file that a later sweep would skip.
    func testImpossibleConfigIsAnErrorAndStoresNothing() throws {
        var c = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil).first { $0.config.method.method == .bll }!.config
        c.blocks = 99
        let e = executor()
        XCTAssertThrowsError(try e.execute(c, threads: 1)) { XCTAssert("\($0)".contains("blocks"), "\($0)") }
        XCTAssertEqual(e.status(c.runID), .missing)
    }

    /// `parallel` is optional: a config without it keeps its id, and "sequential" is stored as no value.
    func testSequentialParallelModeKeepsTheRunID() throws {
        var c = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil).first { $0.config.method.method == .bll }!.config
        let id = c.runID
        c.parallel = .sequential
        XCTAssertNil(c.parallel); XCTAssertEqual(c.runID, id)
        XCTAssertFalse(c.canonicalJSON.contains("parallel"))
        c.parallel = .pipeline
        XCTAssertThrowsError(try { var b = c; b.method = MethodConfig(method: .bp); try b.validate() }()) { XCTAssert("\($0)".contains("locked rule"), "\($0)") }
    }

    /// `balanced` resolves into explicit cuts from a profile measured once and cached: the same answer
    /// twice, a cut K−1 points long, and the cached profile on disk.
    func testBalancedSplitResolvesToCachedExplicitCuts() throws {
        var c = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil).first { $0.config.method.method == .bll }!.config
        c.split = .balanced; c.blocks = 3; c.model.layers = 4
        let profiles = dir.appendingPathComponent("profiles").path
        let (a, note) = try BalancedSplit.resolve(c, profiles: profiles)
        guard case .cuts(let cuts) = a.split else { return XCTFail("\(a.split)") }
        XCTAssertEqual(cuts.count, 2)
        XCTAssertNotNil(note)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: profiles).filter { $0.hasSuffix(".json") }.count, 1)
        XCTAssertEqual(try BalancedSplit.resolve(c, profiles: profiles).config, a)
        c.blocks = 99
        XCTAssertThrowsError(try BalancedSplit.resolve(c, profiles: profiles)) { XCTAssert("\($0)".contains("blocks"), "\($0)") }
    }

    func testDamagedRunFileIsReportedAndRerun() throws {
        let c = try SweepSpec(file: "t", text: tinySpec).plan(profile: "smoke")[0].config
        let e = executor()
        _ = try e.execute(c, threads: 2)
        let data = try Data(contentsOf: URL(fileURLWithPath: e.finalPath(c.runID)))
        try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: e.finalPath(c.runID)))
        XCTAssertEqual(e.status(c.runID), .damaged)
        XCTAssertEqual(RunStore(directory: e.runsDirectory).summaries().first?.status, "damaged")
        guard case .done = try e.execute(c, threads: 2) else { return XCTFail("a damaged run is run again") }
        XCTAssertEqual(e.status(c.runID), .done)
        let aside = try Data(contentsOf: URL(fileURLWithPath: e.finalPath(c.runID) + ".damaged"))
        XCTAssertEqual(aside, data.prefix(data.count / 3), "the damaged file is moved aside, never deleted")
        XCTAssertEqual(RunStore(directory: e.runsDirectory).files().count, 1, "and out of the store's listing")
        XCTAssertEqual(HDF5File.condition(e.finalPath(c.runID) + ".damaged"), .damaged("HDF5 cannot open it (truncated or corrupt)"))
        XCTAssertEqual(HDF5File.condition(e.runsDirectory), .unreadable("Is a directory"), "what the system refuses to read is not damage")
    }

    /// A finished run held open by another HDF5 program (h5py in append mode takes HDF5's file lock) is
    /// still read as done: the sweep neither deletes nor retrains it.
    func testARunHeldOpenByAnotherProgramIsNotDamaged() throws {
        let c = try SweepSpec(file: "t", text: tinySpec).plan(profile: "smoke")[0].config
        let e = executor()
        _ = try e.execute(c, threads: 2)
        let before = try Data(contentsOf: URL(fileURLWithPath: e.finalPath(c.runID)))
        let holder = Process(); holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); print('open', flush=True); sys.stdin.read()", e.finalPath(c.runID)]
        let input = Pipe(), output = Pipe()
        holder.standardInput = input; holder.standardOutput = output
        try holder.run()
        defer { try? input.fileHandleForWriting.close(); holder.waitUntilExit() }
        XCTAssertEqual(String(decoding: output.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "open")
        XCTAssertEqual(e.status(c.runID), .done)
        XCTAssertEqual(try e.execute(c, threads: 2), .alreadyDone)
        try input.fileHandleForWriting.close(); holder.waitUntilExit()
        XCTAssertEqual(holder.terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: e.finalPath(c.runID) + ".damaged"))
        XCTAssertEqual(try RunFile.summary(e.finalPath(c.runID)).status, "done")
        _ = before
    }

    /// A damaged checkpoint and temporaries left by a killed writer: the run starts again and finishes,
    /// with the same result as a clean run, and leaves no temporary behind.
    func testDamagedCheckpointAndStaleTemporariesAreCleared() throws {
        let c = try SweepSpec(file: "t", text: tinySpec).plan(profile: "smoke")[0].config
        let clean = executor("clean")
        guard case let .done(expected) = try clean.execute(c, threads: 2) else { return XCTFail("clean run") }
        let e = executor()
        try FileManager.default.createDirectory(atPath: e.runsDirectory, withIntermediateDirectories: true)
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: e.partialPath(c.runID)))
        for stale in [".h5.tmp-99999", ".partial.h5.tmp-99999"] {
            try Data("half".utf8).write(to: URL(fileURLWithPath: e.runsDirectory + "/" + c.runID + stale))
        }
        guard case let .done(accuracy) = try e.execute(c, threads: 2) else { return XCTFail("the run starts again and finishes") }
        XCTAssertEqual(accuracy, expected)
        let left = try FileManager.default.contentsOfDirectory(atPath: e.runsDirectory)
        XCTAssertEqual(left.filter { !$0.hasPrefix(".") }, [c.runID + ".h5"], "\(left)")
    }

    func testShardsPartitionTheGridAndSlurmScriptIsValidBash() throws {
        let runs = try SweepSpec(file: "t", text: tinySpec).plan(profile: nil)
        for n in [1, 3, 8, 11] {
            var hits = [Int](repeating: 0, count: runs.count)
            for i in 0..<n { let s = Shard(index: i, count: n); for r in runs where s.contains(r.index) { hits[r.index] += 1 } }
            XCTAssertEqual(hits, [Int](repeating: 1, count: runs.count), "n = \(n)")
        }
        XCTAssertThrowsError(try Shard(parsing: "3/3")); XCTAssertThrowsError(try Shard(parsing: "x"))
        let script = SlurmScript.make(specPaths: ["/a b/t.toml"], profile: "quick", tasks: 8, parallel: 4, cpus: 2, time: "1:00:00",
                                      partition: "cpu", results: "/r", data: "/d", binary: "/bin/blocklocal", workdir: "/w", jobName: "j")
        XCTAssert(script.contains("#SBATCH --array=0-7%4") && script.contains("--shard \"${SLURM_ARRAY_TASK_ID}/8\""), script)
        let path = dir.appendingPathComponent("s.sbatch").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/bin/bash"); p.arguments = ["-n", path]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    /// Every spec the project ships plans under each of its profiles (datasets that cannot be had here
    /// included: Tiny-ImageNet's class names come with its archive, so its K check must not need them).
    func testShippedSpecsPlanUnderEveryProfile() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../paper/experiments").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".toml") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 6)
        for f in files {
            let spec = try SweepSpec(path: dir.appendingPathComponent(f).path)
            for profile in spec.profiles { XCTAssertNoThrow(try spec.plan(profile: profile), "\(f) under \(profile)") }
        }
    }

    /// An ablation: method settings as axes apply to the runs whose method reads them, on top of [method.M].
    func testMethodSettingsAsAxes() throws {
        let text = """
        [experiment]
        name = "abl"
        [grid]
        method = ["bp", "bll"]
        feedback = ["chain", "direct"]
        decorrelation = [1.0, 0.0]
        [method.bll]
        lambda = 0.5
        decorrelation = 0.25
        [fixed]
        dataset = "fashion-mnist"
        model = "mlp"
        blocks = 2
        [profile.q]
        epochs = 1
        """
        let spec = try SweepSpec(file: "abl.toml", text: text)
        let runs = try spec.plan(profile: nil)
        XCTAssertEqual(runs.count, 8)
        let bll = runs.filter { $0.config.method.method == .bll }.map(\.config.method)
        XCTAssertEqual(Set(bll.map { "\($0.feedback.rawValue) \($0.decorrelation)" }), ["chain 1.0", "chain 0.0", "direct 1.0", "direct 0.0"])
        XCTAssert(bll.allSatisfy { $0.lambda == 0.5 }, "the method table still applies")
        XCTAssertEqual(Set(runs.filter { $0.config.method.method == .bp }.map(\.config.runID)).count, 1, "bp does not read them: one run")
        XCTAssertEqual(try SweepPlan(specs: [spec], profile: "q").runs.count, 5)
        XCTAssertThrowsError(try SweepSpec(file: "abl.toml", text: text.replacingOccurrences(of: "\"direct\"]", with: "\"sideways\"]"))) {
            XCTAssert("\($0)".hasPrefix("abl.toml:5: "), "\($0)"); XCTAssert("\($0)".contains("chain, direct"), "\($0)")
        }
    }

    /// The S2S layout: the encoder reading is a field of the run (s2s_layout), the decoder keeps 0.5.0's ids.
    func testS2SLayoutIsARecordedFieldAndTheDecoderKeepsIDs() throws {
        var c = RunConfig(method: MethodConfig(method: .bll), model: ModelSpec(arch: .transformer), dataset: "s2s")
        let id = c.runID
        c.s2sLayout = .decoder
        XCTAssertEqual(c.runID, id)
        XCTAssertFalse(c.canonicalJSON.contains("s2sLayout"))
        c.s2sLayout = .encoder
        XCTAssertNotEqual(c.runID, id)
        let m = try c.builtModelSpec()
        XCTAssertFalse(m.causal); XCTAssertEqual(m.length, 10)
        c.s2sLayout = nil
        XCTAssert(try c.builtModelSpec().causal); XCTAssertEqual(try c.builtModelSpec().length, 20)
        let bad = "[experiment]\nname = \"x\"\n[fixed]\ndataset = \"s2s\"\nmodel = \"transformer\"\ns2s_layout = \"sideways\"\n"
        XCTAssertThrowsError(try SweepSpec(file: "s.toml", text: bad)) { XCTAssert("\($0)".hasPrefix("s.toml:6: invalid s2s_layout 'sideways'; allowed: decoder, encoder"), "\($0)") }
    }

    func testSpecErrorsNameFileLineAndAllowedValues() {
        func err(_ text: String, profile: String? = nil) -> String {
            do { let s = try SweepSpec(file: "bad.toml", text: text); if let profile { _ = try s.plan(profile: profile) }; return "" }
            catch { return "\(error)" }
        }
        let head = "[experiment]\nname = \"x\"\n"
        XCTAssert(err(head + "[fixed]\nepochz = 3\n").hasPrefix("bad.toml:4: unknown key 'epochz' in [fixed] (did you mean 'epochs'?); allowed: method, model"))
        XCTAssert(err(head + "[fixed]\nepochs = \"three\"\n").contains("bad.toml:4: 'epochs' expects an integer"))
        XCTAssert(err(head + "[grid]\nseed = []\n").contains("bad.toml:4: axis 'seed' is empty"))
        XCTAssert(err(head + "[grid]\nseed = 3\n").contains("must be a list"))
        XCTAssert(err(head + "[profile.smoke]\nepochs = 1\n", profile: "paper").contains("no profile 'paper'; this spec has: smoke"))
        XCTAssert(err(head + "[grids]\n").contains("bad.toml:3: unknown table [grids]"))
        XCTAssert(err(head + "[fixed]\nmethod = \"backprop\"\n").contains("unknown method 'backprop'"))
        XCTAssert(err(head + "[method.bll]\nlamda = 1\n").contains("bad.toml:4:") && err(head + "[method.bll]\nlamda = 1\n").contains("lambda"))
        XCTAssert(err(head + "[fixed]\nepochs = [1\n").contains("bad.toml:4:"))
        XCTAssert(err("[fixed]\nepochs = 1\n").contains("needs name"))
        XCTAssert(err(head + "[fixed]\naugment = \"crop:2,flop\"\n").contains("bad.toml:4: bad augmentation 'crop:2,flop'; allowed: none, flip, crop:P"))
        XCTAssertEqual(err(head + "[fixed]\naugment = 3\n"), "bad.toml:4: 'augment' expects a quoted string, got 3")
    }

    func testCollectMergesByRunIDAndReportsConflicts() throws {
        let plan = try SweepSpec(file: "t", text: tinySpec).plan(profile: "smoke")
        let a = executor("a"), b = executor("b")
        _ = try a.execute(plan[0].config, threads: 2)
        _ = try b.execute(plan[0].config, threads: 2); _ = try b.execute(plan[1].config, threads: 2)
        let merged = RunStore(directory: dir.appendingPathComponent("m").path)
        var r = try merged.collect([a.runsDirectory, b.runsDirectory])
        XCTAssertEqual(r.copied, 2); XCTAssertEqual(r.identical, 1); XCTAssertEqual(r.conflicts, [])
        XCTAssertEqual(merged.summaries().count, 2)
        r = try merged.collect([b.runsDirectory])
        XCTAssertEqual(r.copied, 0); XCTAssertEqual(r.identical, 2)
    }

    /// A crafted file whose run_id is a path cannot make `collect` write outside the store.
    func testCollectNeverWritesOutsideTheStore() throws {
        let plan = try SweepSpec(file: "t", text: tinySpec).plan(profile: "smoke")
        let a = executor("deep/a/runs")
        _ = try a.execute(plan[0].config, threads: 2)
        try h5py("import h5py, sys\nf = h5py.File(sys.argv[1], 'a')\nf.attrs['run_id'] = '../../escaped'\nf.close()", a.finalPath(plan[0].config.runID))
        let merged = RunStore(directory: dir.appendingPathComponent("deep/m/runs").path)
        let r = try merged.collect([a.runsDirectory])
        XCTAssertEqual(r.copied, 0)
        XCTAssertEqual(r.conflicts.count, 1); XCTAssert(r.conflicts[0].contains("is not the id of its config; skipped"), "\(r.conflicts)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("deep/escaped.h5").path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("deep").path).sorted(), ["a", "m"])
    }
}
