import XCTest
import Foundation
import Store
@testable import Report
@testable import Experiments
import Datasets
@testable import Methods
@testable import Engine

/// A hand-made run store: runs with chosen accuracies, written through the real run-file writer.
func makeStore(_ dir: String) throws {
    try putRun(dir, .bp, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [0.80, 0.90])
    try putRun(dir, .bp, "fashion-mnist", "resnet18", blocks: 4, seed: 1, acc: [0.81, 0.92])
    try putRun(dir, .fa, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [0.70, 0.80])
    try putRun(dir, .fa, "fashion-mnist", "resnet18", blocks: 4, seed: 1, acc: [0.70, 0.82])
    try putRun(dir, .bll, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [0.85, 0.94])
    try putRun(dir, .bll, "fashion-mnist", "resnet18", blocks: 4, seed: 1, acc: [0.86, 0.94])
    // accuracy vs K for bll
    try putRun(dir, .bll, "fashion-mnist", "resnet18", blocks: 1, seed: 0, acc: [0.86, 0.95])
    try putRun(dir, .bll, "fashion-mnist", "resnet18", blocks: 2, seed: 0, acc: [0.85, 0.945])
    // a narrower model of the same setting: a Table 1 column reports one width, so this run stays out of it
    try putRun(dir, .predsim, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [0.5, 0.6], width: 0.125)
}

func putRun(_ dir: String, _ method: MethodName, _ dataset: String, _ model: String, blocks: Int, seed: UInt64, acc: [Double],
        profile: String = "quick", width: Double = 0.25, lr: Double? = nil, heads: [String: Double] = [:], origin: RunOrigin? = nil) throws {
    var spec = ModelSpec(arch: Architecture(rawValue: model)!); spec.width = width
    var c = RunConfig(method: MethodConfig(method: method), model: spec, dataset: DatasetName(rawValue: dataset)!)
    if let lr { c.optimizer.lr = lr }
    c.blocks = blocks; c.seed = seed; c.profile = profile; c.epochs = acc.count
    let records = acc.enumerated().map { e, a in
        EpochRecord(epoch: e + 1, lr: 1e-3, losses: ["out.ce": 2 - a], testAccuracy: a, testSequenceAccuracy: nil,
                    headAccuracy: heads, diagnostics: [:], seconds: 10, samplesPerSecond: 100 * Double(blocks) + Double(seed))
    }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try RunFile.write(dir + "/" + c.runID + ".h5", config: c, status: .done, error: "", records: records,
                      provenance: Provenance(values: ["git_commit": .text("test")], gitDiff: ""), started: Date(), ended: Date(), origin: origin)
}

final class ReportTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-report-\(UUID().uuidString)").path
        try! makeStore(dir + "/runs")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let reference: [ReferenceRow] = {
        func row(_ id: String, _ method: String, _ value: Double?, metric: String = "test_accuracy_pct", dataset: String = "fashion-mnist",
                 model: String = "resnet18", claim: String = "", artefact: String = "table1") -> ReferenceRow {
            ReferenceRow(id: id, source: "paper", artefact: artefact, version: "v1", dataset: dataset, model: model, method: method,
                         blocks: metric == "claim" ? nil : 4, metric: metric, value: value, std: nil, claim: claim, notes: "n")
        }
        return [row("r1", "bp", 91.0), row("r2", "fa", 87.9), row("r3", "bll", 90.0), row("r4", "predsim", 93.9),
                row("r5", "bp", 94.0, dataset: "cifar10", model: "resnet50"), row("r6", "dgl", 90.0),
                row("c1", "", nil, metric: "claim", claim: "order:bll>=bp>=fa"), row("c2", "", nil, metric: "claim", claim: "order:fa>=bll"),
                row("c3", "bll", nil, metric: "claim", claim: "flat:2")]
    }()

    /// Issue 18, item 4: per-block head accuracy (or BLL's prototype read-out) and collapse, from the last epoch
    /// of each seed's run file, as tables and a figure.
    func testAccuracyAndCollapseByBlock() throws {
        let d = dir + "/blocks"
        func put(_ method: MethodName, seed: UInt64, heads: [String: Double], diagnostics: [String: Double], acc: Double) throws {
            var spec = ModelSpec(arch: .resnet18); spec.width = 0.25
            var c = RunConfig(method: MethodConfig(method: method), model: spec, dataset: "fashion-mnist")
            c.blocks = 3; c.seed = seed; c.profile = "quick"
            let early = EpochRecord(epoch: 1, lr: 1e-3, losses: ["out.ce": 1], testAccuracy: 0.1, testSequenceAccuracy: nil,
                                    headAccuracy: heads.mapValues { _ in 0.1 }, diagnostics: diagnostics.mapValues { _ in 0.9 }, seconds: 1, samplesPerSecond: 1)
            let last = EpochRecord(epoch: 2, lr: 1e-3, losses: ["out.ce": 1], testAccuracy: acc, testSequenceAccuracy: nil,
                                   headAccuracy: heads, diagnostics: diagnostics, seconds: 1, samplesPerSecond: 1)
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            try RunFile.write(d + "/" + c.runID + ".h5", config: c, status: .done, error: "", records: [early, last],
                              provenance: Provenance(values: ["git_commit": .text("test")], gitDiff: ""), started: Date(), ended: Date())
        }
        try put(.predsim, seed: 0, heads: ["b1": 0.70, "b2": 0.80], diagnostics: [:], acc: 0.85)
        try put(.predsim, seed: 1, heads: ["b1": 0.72, "b2": 0.82], diagnostics: [:], acc: 0.87)
        try put(.bll, seed: 0, heads: [:], diagnostics: ["b1.proto_acc": 0.5, "b2.proto_acc": 0.6, "b1.cosine": 0.4, "b2.cosine": 0.9], acc: 0.8)
        try put(.bp, seed: 0, heads: [:], diagnostics: [:], acc: 0.9)
        let agg = try Aggregate(store: RunStore(directory: d))
        let tables = Tables.accuracyByBlock(agg)
        XCTAssertEqual(tables.map(\.name), ["accuracy-by-block-fashion-mnist-resnet18-w0.25-quick-k3", "collapse-by-block-fashion-mnist-resnet18-w0.25-quick-k3"])
        XCTAssertEqual(tables[0].markdown, """
        **Accuracy by block: fashion-mnist resnet18 w0.25, K = 3, profile quick (a block's local head; read-out: nearest feedback prototype)** (test accuracy %; ours: mean ± std (n seeds) [paper]; best of ours per column in bold)

        | | block 1 | block 2 | output |
        |---|---:|---:|---:|
        | predsim | **71.00 ± 1.41 (2)** | **81.00 ± 1.41 (2)** | **86.00 ± 1.41 (2)** |
        | bll (read-out) | 50.00 ± 0.00 (1) | 60.00 ± 0.00 (1) | 80.00 ± 0.00 (1) |

        """)
        XCTAssertEqual(tables[1].rows.map(\.0), ["bll"])
        XCTAssertEqual(tables[1].rows[0].1.map { $0.ours?.mean }, [0.4, 0.9])
        XCTAssertTrue(tables[1].rows[0].1[0].best, "collapse: the lowest cosine is the best")
        if (try? Figures.gnuplot()) != nil {
            let files = try Figures.renderAll(agg, dir: dir + "/figures")
            let png = try XCTUnwrap(files.first { $0.hasSuffix("accuracy-by-block-fashion-mnist-resnet18-w0.25-quick-k3.png") })
            XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: png)[.size] as! Int, 10_000)
            let dat = try String(contentsOfFile: dir + "/figures/accuracy-by-block-fashion-mnist-resnet18-w0.25-quick-k3.dat", encoding: .utf8)
            XCTAssertTrue(dat.contains("1 71.0000 1.4142 2\n2 81.0000 1.4142 2\n3 86.0000 1.4142 2\n"), dat)
        }
    }

    /// Runs of one key under two protocols (here another learning rate) are never pooled as seeds.
    func testRunsOfAnotherProtocolAreNotPooled() throws {
        let d = dir + "/mixed"
        try putRun(d, .bp, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [0.5, 0.80])
        try putRun(d, .bp, "fashion-mnist", "resnet18", blocks: 4, seed: 1, acc: [0.5, 0.82])
        try putRun(d, .bp, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [0.1, 0.20], lr: 0.1)
        let agg = try Aggregate(store: RunStore(directory: d))
        let key = try XCTUnwrap(agg.accuracy.keys.first)
        XCTAssertEqual(agg.accuracy.count, 1)
        XCTAssertEqual(agg.accuracy[key]?.n, 2)
        XCTAssertEqual(agg.accuracy[key]!.mean, 81, accuracy: 1e-9)
        XCTAssertEqual(agg.leftOut[key], 1)
        XCTAssertEqual(agg.runs, 3)
    }

    func testTable1GoldenMarkdownLatexAndCSV() throws {
        let agg = try Aggregate(store: RunStore(directory: dir + "/runs"))
        XCTAssertEqual(agg.runs, 9)
        let t = Tables.paperTable(name: "table1", title: "Table 1", artefact: "table1", reference: reference, aggregate: agg, error: false)
        XCTAssertEqual(t.markdown, """
        **Table 1** (test accuracy %; ours: mean ± std (n seeds) [paper]; best of ours per column in bold)

        | | fashion-mnist resnet18 (ours w0.25) | cifar10 resnet50 |
        |---|---:|---:|
        | bp | 91.00 ± 1.41 (2) [91.00] | — [94.00] |
        | fa | 81.00 ± 1.41 (2) [87.90] | — |
        | predsim | — [93.90] | — |
        | bll | **94.00 ± 0.00 (2)** [90.00] | — |
        | dgl | — [90.00] | — |

        """)
        XCTAssert(t.latex.contains("bll & \\textbf{94.00 $\\pm$ 0.00 (2)} [90.00] & — \\\\"), t.latex)
        XCTAssert(t.csv.contains("table1,bp,fashion-mnist resnet18 (ours w0.25),91.0000,1.4142,2,90.0000,92.0000,91.00,0"), t.csv)
        XCTAssert(t.csv.contains("table1,bll,fashion-mnist resnet18 (ours w0.25),94.0000,0.0000,2,94.0000,94.0000,90.00,1"), t.csv)
        let all = Tables.accuracyVersusBlocks(agg)
        XCTAssertEqual(all.map(\.name).sorted(), ["accuracy-fashion-mnist-resnet18-w0.125-quick", "accuracy-vs-k-fashion-mnist-resnet18-w0.25-quick"])
        let kt = all.filter { $0.name.hasPrefix("accuracy-vs-k") }
        XCTAssert(kt[0].markdown.contains("| bp | — | — | 91.00 ± 1.41 (2) |"), kt[0].markdown)
        XCTAssert(kt[0].markdown.contains("| bll | **95.00 ± 0.00 (1)** | **94.50 ± 0.00 (1)** | **94.00 ± 0.00 (2)** |"), kt[0].markdown)
        // a setting run at one K (the narrower predsim run) still gets its table of methods
        let one = all.first { $0.name == "accuracy-fashion-mnist-resnet18-w0.125-quick" }!
        XCTAssert(one.markdown.contains("Accuracy by method: fashion-mnist resnet18 w0.125, K = 4") && one.markdown.contains("| predsim | **60.00 ± 0.00 (1)** |"), one.markdown)
        // error tables: lower is better, values are 100 − accuracy
        let e = Tables.paperTable(name: "err", title: "E", artefact: "table1", reference: reference, aggregate: agg, error: true)
        XCTAssert(e.markdown.contains("| bll | **6.00 ± 0.00 (2)** [90.00] |"), e.markdown)
    }

    func testDiffVerdicts() throws {
        let agg = try Aggregate(store: RunStore(directory: dir + "/runs"))
        let rows = PaperDiff.diff(reference, agg, tolerance: 1.0) { $0 != "cifar10" }
        let v = Dictionary(uniqueKeysWithValues: rows.map { ($0.ref.id, $0.verdict) })
        XCTAssertEqual(v["r1"], .reproduced)     // 91.0 vs 91.0
        XCTAssertEqual(v["r2"], .lower)          // 81.0 ± 1.41 vs 87.9: beyond 1 + 2·1.41
        XCTAssertEqual(v["r3"], .higher)         // 94.0 vs 90.0
        XCTAssertEqual(v["r4"], .notRun)         // no predsim runs
        XCTAssertEqual(v["r5"], .notRunnable)    // cifar10 not available
        XCTAssertEqual(v["r6"], .notRun)         // dgl: not implemented
        XCTAssertEqual(v["c1"], .holds)          // 94 ≥ 91 ≥ 81
        XCTAssertEqual(v["c2"], .doesNotHold)
        XCTAssertEqual(v["c3"], .holds)          // K = 2: −0.5, K = 4: −1.0 from K = 1
        XCTAssertEqual(rows.first { $0.ref.id == "r2" }!.delta!, -6.9, accuracy: 1e-9)
        let md = PaperDiff.markdown(rows)
        XCTAssert(md.contains("| r2 | table1 | fashion-mnist resnet18 | fa | 4 | 81.00 ± 1.41 (2) | 87.90 | -6.90 | **lower** |"), md)
        XCTAssertEqual(PaperDiff.counts(rows), "1 reproduced, 1 higher, 1 lower, 2 not run, 1 not runnable here, 2 holds, 1 does not hold")
    }

    /// Claims are judged at the stated K (never at K = 1, where every local rule is backprop), and a claim
    /// whose runs did not learn is `not judged`.
    func testClaimsAtTheStatedKAndOnlyOnRunsThatLearned() throws {
        // at K = 1 the order would hold trivially (every rule is bp there); at the stated K = 4 it does not
        for (m, acc) in [(MethodName.bll, 0.90), (.fa, 0.90), (.bp, 0.90)] { try putRun(dir + "/k1", m, "fashion-mnist", "resnet18", blocks: 1, seed: 0, acc: [acc]) }
        for (m, acc) in [(MethodName.bll, 0.70), (.fa, 0.80)] { try putRun(dir + "/k1", m, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [acc]) }
        let claim = ReferenceRow(id: "c", source: "p", artefact: "table1", version: "", dataset: "fashion-mnist", model: "resnet18", method: "",
                                 blocks: nil, metric: "claim", value: nil, std: nil, claim: "order:bll>=fa", notes: "n")
        let row = ReferenceRow(id: "r", source: "p", artefact: "table1", version: "", dataset: "fashion-mnist", model: "resnet18", method: "bll",
                               blocks: 4, metric: "test_accuracy_pct", value: 90, std: nil, claim: "", notes: "n")
        let agg = try Aggregate(store: RunStore(directory: dir + "/k1"))
        let d = PaperDiff.diff([row, claim], agg, tolerance: 1) { _ in true }[1]
        XCTAssertEqual(d.verdict, .doesNotHold, d.note)
        XCTAssert(d.note.contains("K = 4"), d.note)
        // runs near chance: not judged, with the reason
        for (m, acc) in [(MethodName.bll, 0.11), (.fa, 0.12)] { try putRun(dir + "/chance", m, "fashion-mnist", "resnet18", blocks: 4, seed: 0, acc: [acc]) }
        let low = PaperDiff.diff([row, claim], try Aggregate(store: RunStore(directory: dir + "/chance")), tolerance: 1) { _ in true }[1]
        XCTAssertEqual(low.verdict, .notJudged)
        XCTAssert(low.note.contains("below chance (10 %) + 10 points"), low.note)
    }

    /// The same store gives byte-identical `blocklocal diff` output, and byte-identical `report` tables and
    /// REPRODUCTION file, in separate processes (each with its own hash seed), where two settings tie for
    /// the claim's substitute.
    func testDiffIsTheSameInEveryProcess() throws {
        for (profile, k2) in [("a", 0.79), ("b", 0.70)] {
            for seed in [UInt64(0), 1] {
                try putRun(dir + "/tie/runs", .bll, "fashion-mnist", "resnet18", blocks: 1, seed: seed, acc: [0.80], profile: profile)
                try putRun(dir + "/tie/runs", .bll, "fashion-mnist", "resnet18", blocks: 2, seed: seed, acc: [k2], profile: profile)
            }
        }
        let csv = ReferenceTable.columns.joined(separator: ",") + "\n"
            + "c01,p,fig3a,,cifar10,resnet50,bll,,claim,,,flat:2,BLL stays within 2 points of K = 1\n"
        try csv.write(toFile: dir + "/tie/reference.csv", atomically: true, encoding: .utf8)
        var outputs = Set<String>(), reports = Set<String>()
        for i in 0..<10 {
            let r = Process()
            r.executableURL = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("blocklocal")
            if !FileManager.default.isExecutableFile(atPath: r.executableURL!.path) { r.executableURL = URL(fileURLWithPath: ".build/release/blocklocal") }
            let tables = dir + "/tie/tables-\(i)", reportPath = dir + "/tie/REPRODUCTION-\(i).md"
            r.arguments = ["report", "--no-figures", "--results", dir + "/tie", "--reference", dir + "/tie/reference.csv", "--data-dir", dir + "/tie/data",
                           "--tables", tables, "--out", reportPath, "--parallel-bench", dir + "/none.json"]
            r.standardOutput = FileHandle.nullDevice; r.standardError = FileHandle.nullDevice
            try r.run(); r.waitUntilExit()
            XCTAssertEqual(r.terminationStatus, 0)
            var all = try String(contentsOfFile: reportPath, encoding: .utf8)
            for f in try FileManager.default.contentsOfDirectory(atPath: tables).sorted() { all += f + "\n" + (try String(contentsOfFile: tables + "/" + f, encoding: .utf8)) }
            reports.insert(all)
            let p = Process()
            p.executableURL = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("blocklocal")
            if !FileManager.default.isExecutableFile(atPath: p.executableURL!.path) { p.executableURL = URL(fileURLWithPath: ".build/release/blocklocal") }
            p.arguments = ["diff", "--results", dir + "/tie", "--reference", dir + "/tie/reference.csv", "--data-dir", dir + "/tie/data"]
            let out = Pipe(); p.standardOutput = out; p.standardError = FileHandle.nullDevice
            try p.run()
            outputs.insert(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
            p.waitUntilExit()
        }
        XCTAssertEqual(outputs.count, 1, "diff output differs between processes: \(outputs)")
        XCTAssertEqual(reports.count, 1, "report or tables differ between processes")
        XCTAssert(outputs.first!.contains("**holds**") && outputs.first!.contains("profile a"), outputs.first!)
    }

    func testGnuplotRendersEveryFigureKind() throws {
        guard (try? Figures.gnuplot()) != nil else { throw XCTSkip("gnuplot not installed (`make deps` installs gnuplot-nox)") }
        // a rule with local heads, for the accuracy-by-block figure
        try putRun(dir + "/runs", .predsim, "fashion-mnist", "resnet18", blocks: 5, seed: 0, acc: [0.5, 0.6], width: 0.125,
                   heads: ["b1": 0.4, "b2": 0.5, "b3": 0.55, "b4": 0.58])
        BudgetTests.putBudget(dir + "/runs", ["bp": [[0.8], [0.9, 0.92]], "bll": [[0.7], [0.85, 0.9]]])
        let agg = try Aggregate(store: RunStore(directory: dir + "/runs"))
        let files = try Figures.renderAll(agg, dir: dir + "/figures")
        for kind in Figures.kinds { XCTAssert(files.contains { $0.contains("/" + kind + "-") && $0.hasSuffix(".png") }, "\(kind): \(files)") }
        for f in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: f))
            XCTAssertGreaterThan(data.count, 2000, f)
            if f.hasSuffix(".png") { XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47], f) }
            else { XCTAssert(String(decoding: data.prefix(400), as: UTF8.self).contains("<svg"), f) }
        }
    }

    func testGnuplotRendersIntoARelativeFolder() throws {
        // `make report` passes results/figures, relative to the working directory
        guard (try? Figures.gnuplot()) != nil else { throw XCTSkip("gnuplot not installed (`make deps` installs gnuplot-nox)") }
        let agg = try Aggregate(store: RunStore(directory: dir + "/runs"))
        let here = FileManager.default.currentDirectoryPath
        XCTAssert(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { FileManager.default.changeCurrentDirectoryPath(here) }
        let files = try Figures.renderAll(agg, dir: "out/figures")
        XCTAssertFalse(files.isEmpty)
        for f in files { XCTAssert(FileManager.default.fileExists(atPath: dir + "/" + f), f) }
    }

    func testReferenceCSVParsesAndBadRowsAreNamed() throws {
        let rows = try ReferenceTable.load(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../paper/reference.csv").path)
        XCTAssertGreaterThan(rows.count, 50)
        XCTAssertEqual(rows.first { $0.id == "r001" }?.value, 92.7)
        XCTAssert(rows.contains { $0.isClaim })
        let bad = dir + "/bad.csv"
        try (ReferenceTable.columns.joined(separator: ",") + "\nr1,s,a,v,d,m,bp,four,test_accuracy_pct,1,,,n\n").write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ReferenceTable.load(bad)) { XCTAssert("\($0)".contains("bad.csv:2: blocks 'four' is not a number"), "\($0)") }
        XCTAssertEqual(CSV.parse("a,\"b,c\",\"d\"\"e\"\n1,2,3\n"), [["a", "b,c", "d\"e"], ["1", "2", "3"]])
    }
}

/// The budget study: gaps paired by seed, the verdicts, and the runs kept apart from the other groups.
final class BudgetTests: XCTestCase {
    /// Budget runs: per method, per seed, the accuracy curve (its length is the budget, in epochs).
    static func putBudget(_ dir: String, _ runs: [String: [[Double]]], seeds: Int = 2) {
        for (method, curves) in runs { for curve in curves { for seed in 0..<seeds {
            let shifted = curve.map { $0 + 0.01 * Double(seed) * (method == "bp" ? 1 : 0.5) }
            try! putRun(dir, MethodName(rawValue: method)!, "fashion-mnist", "resnet18", blocks: 4, seed: UInt64(100 + seed), acc: shifted,
                        width: 0.125, origin: RunOrigin(spec: "budget", replicate: seed))
        } } }
    }

    func study(_ runs: [(String, Int, Int, Double)]) -> BudgetStudy {
        BudgetStudy.studies(runs.map { r in
            var c = RunConfig(method: MethodConfig(method: MethodName(rawValue: r.0)!), model: ModelSpec(arch: .resnet18), dataset: "fashion-mnist")
            c.model.width = 0.125; c.profile = "quick"; c.blocks = 4; c.epochs = r.1
            return StudyRun(config: c, replicate: r.2, accuracy: r.3)
        })[0]
    }

    func testGapsArePairedBySeedAndVerdictsFollowTheSpread() {
        // BLL trails by 10 then 2 points (seed spread 0.5): holds; Pred-Sim trails by 3 then 6: does not hold
        let s = study([("bp", 1, 0, 80), ("bp", 1, 1, 90), ("bp", 8, 0, 90), ("bp", 8, 1, 95),
                       ("bll", 1, 0, 70), ("bll", 1, 1, 80.5), ("bll", 8, 0, 88), ("bll", 8, 1, 93),
                       ("predsim", 1, 0, 77), ("predsim", 1, 1, 87), ("predsim", 8, 0, 84), ("predsim", 8, 1, 89)])
        XCTAssertEqual(s.budgets, [1, 8]); XCTAssertEqual(s.rules, ["predsim", "bll"])
        let g = s.gap("bll", 1)!
        XCTAssertEqual(g.mean, -9.75, accuracy: 1e-9); XCTAssertEqual(g.n, 2)   // paired: (-10, -9.5), not the means' 85 vs 75.25
        XCTAssertEqual(s.verdict("bll").0, .holds, s.verdict("bll").1)
        XCTAssert(s.verdict("bll").1.contains("trails BP by 9.75"), s.verdict("bll").1)
        XCTAssertEqual(s.verdict("predsim").0, .doesNotHold)
        XCTAssert(s.verdict("predsim").1.contains("grows by 3.00"), s.verdict("predsim").1)
        // within the spread: no shrinking measured
        let noisy = study([("bp", 1, 0, 80), ("bp", 1, 1, 80), ("bp", 4, 0, 90), ("bp", 4, 1, 90),
                           ("bll", 1, 0, 75), ("bll", 1, 1, 79), ("bll", 4, 0, 86), ("bll", 4, 1, 89)])
        XCTAssertEqual(noisy.verdict("bll").0, .doesNotHold); XCTAssert(noisy.verdict("bll").1.contains("within the seed spread"))
        // one seed: not judged
        let one = study([("bp", 1, 0, 80), ("bp", 4, 0, 90), ("bll", 1, 0, 70), ("bll", 4, 0, 89)])
        XCTAssertEqual(one.verdict("bll").0, .notJudged)
        XCTAssert(s.reading.contains { $0.contains("for bll: **holds**") })
    }

    func testBudgetRunsStayOutOfTheOtherGroups() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-budget-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try putRun(dir, .bll, "fashion-mnist", "resnet18", blocks: 4, seed: 7, acc: [0.5, 0.6], width: 0.125)   // another spec's run
        BudgetTests.putBudget(dir, ["bp": [[0.8], [0.9, 0.92]], "bll": [[0.7], [0.85, 0.9]]])
        // the ablation reads the runs it planned; another spec's runs of the same setting stay in their groups
        var vm = MethodConfig(method: .bll); vm.feedback = .direct
        for (m, origin) in [(vm, "bll-variants"), (MethodConfig(method: .bll), "fig3a"), (MethodConfig(method: .bp), "fig3a")] {
            var c = RunConfig(method: m, model: ModelSpec(arch: .mlp), dataset: "fashion-mnist"); c.blocks = 2; c.profile = "quick"
            try RunFile.write(dir + "/" + c.runID + ".h5", config: c, status: .done, error: "", records: [EpochRecord(epoch: 1, lr: 1e-3, losses: [:], testAccuracy: 0.5,
                              testSequenceAccuracy: nil, headAccuracy: [:], diagnostics: [:], seconds: 1, samplesPerSecond: 1)],
                              provenance: Provenance(values: [:], gitDiff: ""), started: Date(), ended: Date(), origin: RunOrigin(spec: origin, replicate: 0))
        }
        let agg = try Aggregate(store: RunStore(directory: dir))
        XCTAssertEqual(agg.variants.map { VariantStudy.variant($0.config) }, ["bll direct + decorrelation"])
        XCTAssertEqual(agg.accuracy.keys.filter { $0.model == "mlp" }.map(\.method).sorted(), ["bll", "bp"])
        XCTAssertEqual(agg.budget.count, 8)
        XCTAssertEqual(agg.runs, 12)
        XCTAssert(agg.leftOut.isEmpty, "\(agg.leftOut)")
        let key = try XCTUnwrap(agg.accuracy.keys.first { $0.method == "bll" && $0.model == "resnet18" })
        XCTAssertEqual(agg.accuracy[key]!.n, 1); XCTAssertEqual(agg.accuracy[key]!.mean, 60, accuracy: 1e-9)
        let study = try XCTUnwrap(BudgetStudy.studies(agg.budget).first)
        XCTAssertEqual(study.budgets, [1, 2])
        let tables = study.tables
        XCTAssertEqual(tables.map(\.name), ["budget-accuracy-fashion-mnist-resnet18-w0.125-quick", "budget-gap-fashion-mnist-resnet18-w0.125-quick"])
        XCTAssert(tables[1].markdown.contains("| bll − bp |"), tables[1].markdown)
    }
}

/// The BLL variant ablation: one row per variant beside BP, one column per setting, the reading names the best.
final class VariantStudyTests: XCTestCase {
    func testVariantsTableAndReading() {
        func run(_ method: MethodName, _ feedback: MethodConfig.Feedback, _ decorrelation: Double, _ acc: Double, seed: Int) -> StudyRun {
            var m = MethodConfig(method: method)
            if method == .bll { m.feedback = feedback; m.decorrelation = decorrelation }
            var c = RunConfig(method: m, model: ModelSpec(arch: .resnet18), dataset: "fashion-mnist")
            c.blocks = 4; c.profile = "quick"; c.model.width = 0.125
            return StudyRun(config: c, replicate: seed, accuracy: acc)
        }
        let runs = [run(.bp, .chain, 1, 90, seed: 0), run(.bp, .chain, 1, 92, seed: 1),
                    run(.bll, .chain, 1, 80, seed: 0), run(.bll, .chain, 1, 82, seed: 1),
                    run(.bll, .direct, 1, 85, seed: 0), run(.bll, .direct, 1, 87, seed: 1),
                    run(.bll, .chain, 0, 70, seed: 0), run(.bll, .direct, 0, 75, seed: 0)]
        let study = VariantStudy.studies(runs)[0]
        XCTAssertEqual(study.rows, ["bp", "bll chain + decorrelation", "bll chain, no decorrelation", "bll direct + decorrelation", "bll direct, no decorrelation"])
        XCTAssertEqual(study.settings, ["fashion-mnist resnet18 w0.125, K=4"])
        let t = study.table
        XCTAssertEqual(t.name, "bll-variants-quick")
        XCTAssertEqual(t.rows[3].1[0].ours?.mean, 86)
        let line = study.reading.joined()
        XCTAssert(line.contains("the best is bll direct + decorrelation (86.00 ± 1.41 %), -5.00 points from BP (91.00 %)"), line)
        XCTAssert(line.contains("the default (bll chain + decorrelation) reaches 81.00"), line)
        XCTAssert(line.contains("span 16.00 points"), line)
    }
}
