import XCTest
import Foundation
@testable import Experiments
import Methods
import Engine
import Datasets
import Store

/// Run-file format 2 (typed attributes, the planning spec) and format 1 (0.5.0's text attributes) side by side.
final class RunFileFormatTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("bl-format-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    static let format1 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/runs-format1").path

    func sweptRun() throws -> (path: String, config: RunConfig) {
        let planned = try SweepPlan(specs: [SweepSpec(file: "tiny.toml", text: tinySpec)], profile: "smoke").runs[3]
        let ex = RunExecutor(runsDirectory: dir.appendingPathComponent("runs").path,
                             dataStore: DatasetStore(directory: dir.appendingPathComponent("data").path))
        let runner = SweepRunner(plan: try SweepPlan(specs: [SweepSpec(file: "tiny.toml", text: tinySpec)], profile: "smoke"), executor: ex, threads: 1)
        runner.log = { _ in }
        runner.include = { $0.runID == planned.config.runID }
        try runner.run()
        return (ex.finalPath(planned.config.runID), planned.config)
    }

    func testAttributesKeepTheirTypesAndTheSweepThatPlannedTheRun() throws {
        let (path, c) = try sweptRun()
        let r = try HDF5File.open(path).root
        XCTAssertEqual(try r.attribute("format_version"), .int(2))
        XCTAssertEqual(try r.attribute("config.epochs"), .int(Int64(c.epochs)))
        XCTAssertEqual(try r.attribute("config.optimizer.lr"), .double(3e-3))
        XCTAssertEqual(try r.attribute("config.model.width"), .double(1), "a Double field stays a float even when whole")
        XCTAssertEqual(try r.attribute("config.model.causal"), .bool(true))
        XCTAssertEqual(try r.attribute("config.optimizer.milestones"), .ints([]))
        XCTAssertEqual(try r.attribute("config.method.method"), .text(c.method.method.rawValue))
        XCTAssertEqual(try r.attribute("provenance.threads"), .int(1))
        XCTAssertEqual(try r.attribute("origin.spec"), .text("tiny"))
        XCTAssertEqual(try r.attribute("origin.replicate"), .int(0))
        let s = try RunFile.summary(path)
        XCTAssertEqual(s.origin, RunOrigin(spec: "tiny", replicate: 0)); XCTAssertEqual(s.formatVersion, 2)

        // what an h5py user gets: Python ints, floats, bools and arrays, not strings to parse
        let py = """
        import h5py, numpy as np, sys
        a = h5py.File(sys.argv[1], 'r').attrs
        def kind(v):
            if isinstance(v, np.ndarray): return 'array[' + v.dtype.kind + ']'
            if isinstance(v, (bool, np.bool_)): return 'bool'
            if isinstance(v, (int, np.integer)): return 'int'
            if isinstance(v, (float, np.floating)): return 'float'
            return type(v).__name__
        for k in ['format_version', 'config.epochs', 'config.batch', 'config.optimizer.lr', 'config.model.causal',
                  'config.optimizer.nesterov', 'config.model.hidden', 'config.dataset', 'provenance.threads', 'provenance.git_dirty']:
            print(k, kind(a[k]), a[k] + 0 if kind(a[k]) in ('int', 'float') else '')
        """
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/python3"); p.arguments = ["-c", py, path]
        let out = Pipe(); p.standardOutput = out; p.standardError = out
        try p.run(); p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, text)
        let kinds = Dictionary(uniqueKeysWithValues: text.split(separator: "\n").map { l -> (String, String) in
            let f = l.split(separator: " "); return (String(f[0]), String(f[1])) })
        XCTAssertEqual(kinds, ["format_version": "int", "config.epochs": "int", "config.batch": "int", "config.optimizer.lr": "float",
                               "config.model.causal": "bool", "config.optimizer.nesterov": "bool", "config.model.hidden": "array[i]",
                               "config.dataset": "str", "provenance.threads": "int", "provenance.git_dirty": "bool"], text)
        XCTAssertTrue(text.contains("config.batch int 16"), text)
    }

    func testFormat1FilesOf050AreStillReadAndKeepTheirRunIDs() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: RunFileFormatTests.format1).filter { $0.hasSuffix(".h5") }.sorted()
        XCTAssertEqual(files.count, 3)
        for name in files {
            let path = RunFileFormatTests.format1 + "/" + name
            let s = try RunFile.summary(path)
            XCTAssertEqual(s.formatVersion, 1)
            XCTAssertNil(s.origin)
            let c = try XCTUnwrap(s.config, name)
            XCTAssertEqual(c.runID + ".h5", name, "the config of a 0.5.0 file hashes to the id it was stored under")
            XCTAssertEqual(s.status, "done")
            let records = try RunFile.records(path)
            XCTAssertEqual(records.count, s.epochs); XCTAssertGreaterThan(s.finalAccuracy ?? 0, 0)
            let prov = Dictionary(try RunFile.provenance(path), uniquingKeysWith: { a, _ in a })
            XCTAssertEqual(prov["git_commit"], "6ec2d250ecdf6eab0bc059882e69ec8be3c6d0c5")
            XCTAssertEqual(prov["git_dirty"], "false")
        }
        // the summaries feed the browser like new files
        let rows = RunBrowser.rows(try files.map { try RunFile.summary(RunFileFormatTests.format1 + "/" + $0) })
        XCTAssertEqual(rows.map(\.method), ["bll", "bll", "predsim"])
        XCTAssertEqual(rows.map { RunBrowser.value($0, "spec") }, ["-", "-", "-"])
    }

    /// Ids planned today for 0.5.0's specs: a new file layout must not re-id a stored run.
    func testRunIDsOfExistingSpecsArePinned() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let fig3bc = try SweepPlan(specs: [SweepSpec(path: root + "/paper/experiments/fig3bc.toml")], profile: "smoke").runs.map(\.config.runID)
        XCTAssertTrue(fig3bc.contains("0515fa0390c6666b"), "\(fig3bc)")
    }

    func testOnlyTheFieldsARunReadsApply() throws {
        var c = RunConfig(method: MethodConfig(method: .bll), model: ModelSpec(arch: .resnet18), dataset: "fashion-mnist")
        XCTAssertTrue(c.applies("model.width")); XCTAssertFalse(c.applies("model.dModel")); XCTAssertFalse(c.applies("model.hidden"))
        XCTAssertTrue(c.applies("method.lambda")); XCTAssertFalse(c.applies("method.alpha")); XCTAssertFalse(c.applies("method.dimInDecoder"))
        XCTAssertFalse(c.applies("optimizer.momentum"), "adam has no momentum knob"); XCTAssertFalse(c.applies("s2sSteps"))
        c.optimizer.kind = .sgd; c.optimizer.schedule = .step
        XCTAssertTrue(c.applies("optimizer.momentum")); XCTAssertTrue(c.applies("optimizer.milestones"))
        c.method = MethodConfig(method: .bllCode)
        XCTAssertTrue(c.applies("method.denoiseWeight")); XCTAssertTrue(c.applies("method.corrWeight")); XCTAssertFalse(c.applies("method.lambda"))
    }
}
