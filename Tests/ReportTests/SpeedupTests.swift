import XCTest
import Foundation
@testable import Report
@testable import Bench
@testable import Experiments
@testable import Methods
@testable import Engine

final class SpeedupTests: XCTestCase {
    /// The cost model's three formulas, by hand.
    func testCostModelFormulas() {
        let m = CostModel(batch: 100, blockSeconds: [0.2, 0.3], blockBytes: [1_000_000, 0])
        let link = Link(bandwidth: 1e9, latency: 1e-3)
        // slowest stage: max(0.2 + 1e6/1e9 + 1e-3, 0.3) = 0.3
        XCTAssertEqual(m.pipelined(link), 100 / 0.3, accuracy: 1e-9)
        XCTAssertEqual(m.sequential, 100 / 0.5, accuracy: 1e-9)
        let slow = Link(bandwidth: 1e7, latency: 0)   // 0.2 + 0.1 = 0.3 → the first stage ties the second
        XCTAssertEqual(CostModel(batch: 100, blockSeconds: [0.25, 0.3], blockBytes: [1_000_000, 0]).pipelined(slow), 100 / 0.35, accuracy: 1e-9)
        // chained targets: with one link (K = 3) block 1's target, known at the start of its batch, reaches
        // block 0 just as its forward ends: no wait; with two links (K = 4) block 0 waits for block 2's
        // previous batch to end: period ≥ f + t = 0.4
        let free = Link(bandwidth: 1e9, latency: 0)
        let three = CostModel(batch: 100, blockSeconds: [0.3, 0.3, 0.3], blockBytes: [0, 0, 0], forwardSeconds: [0.1, 0.1, 0.1], chained: [true, false, false])
        XCTAssertEqual(three.pipelined(free), 100 / 0.3, accuracy: 1e-6)
        let four = CostModel(batch: 100, blockSeconds: [0.3, 0.3, 0.3, 0.3], blockBytes: [0, 0, 0, 0], forwardSeconds: [0.1, 0.1, 0.1, 0.1],
                             chained: [true, true, false, false])
        XCTAssertEqual(four.pipelined(free), 100 / 0.4, accuracy: 1e-6)
        XCTAssertEqual(CostModel(batch: 100, blockSeconds: [0.3, 0.3, 0.3], blockBytes: [0, 0, 0]).pipelined(link), 100 / 0.3, accuracy: 1e-9)
        // ring all-reduce over 4 devices: step/4 + 2·3/4·P/B + 2·3·λ
        let dp = CostModel.dataParallelBP(batch: 64, stepSeconds: 0.4, parameterBytes: 4_000_000, devices: 4, link: link)
        XCTAssertEqual(dp, 64 / (0.1 + 1.5 * 4e-3 + 6e-3), accuracy: 1e-9)
        XCTAssertEqual(CostModel.dataParallelBP(batch: 64, stepSeconds: 0.4, parameterBytes: 4_000_000, devices: 1, link: link), 160, accuracy: 1e-9)
    }

    func fixture() -> ParallelBenchReport {
        func point(_ rule: String, _ mode: String, _ k: Int, _ sps: [Double], predicted: Double? = nil) -> ParallelPoint {
            ParallelPoint(model: "r18_fm_w0.25", rule: rule, mode: mode, blocks: k, threads: mode == "sequential" ? 1 : k,
                          oversubscribed: k > 2, samplesPerSecond: sps, predicted: predicted, cuts: [])
        }
        return ParallelBenchReport(engineVersion: "t", cores: 2, passes: 2, steps: 4, node: .node, cluster: .cluster, points: [
            point("bll", "sequential", 1, [100, 100]), point("bll", "pipelined", 1, [100, 100], predicted: 100),
            point("bll", "sequential", 2, [100, 100]), point("bll", "pipelined", 2, [180, 190], predicted: 200),
            point("bll", "sequential", 3, [90, 90]), point("bll", "pipelined", 3, [170, 170], predicted: 250),
            point("bll", "mpi", 2, [170, 176]),
            point("bp", "threads", 1, [120, 120]), point("bp", "threads", 2, [216, 216]), point("bp", "threads", 3, [180, 180]),
        ], profiles: [], dataParallelBP: ["r18_fm_w0.25": ["node": [120, 230, 330], "cluster": [120, 220, 300]]],
           bpStepSeconds: ["r18_fm_w0.25": 128.0 / 120], parameterBytes: ["r18_fm_w0.25": 1000])
    }

    /// Speedups against the same rule on one thread (bp: against one thread), the model's, the accuracy
    /// of pipelined runs beside them, and a reading that names the model error.
    func testSpeedupTableFigureAndReading() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-speedup-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for seed in [UInt64(0), 1] {
            var spec = ModelSpec(arch: .resnet18); spec.width = 0.25
            var c = RunConfig(method: MethodConfig(method: .bll), model: spec, dataset: "fashion-mnist")
            c.blocks = 2; c.seed = seed; c.profile = "quick"; c.parallel = .pipeline
            let r = [EpochRecord(epoch: 1, lr: 1e-3, losses: ["out.ce": 1], testAccuracy: 0.8 + 0.01 * Double(seed), testSequenceAccuracy: nil,
                                 headAccuracy: [:], diagnostics: [:], seconds: 1, samplesPerSecond: 100)]
            try FileManager.default.createDirectory(atPath: dir + "/runs", withIntermediateDirectories: true)
            try RunFile.write(dir + "/runs/" + c.runID + ".h5", config: c, status: .done, error: "", records: r,
                              provenance: Provenance(values: [:], gitDiff: ""), started: Date(), ended: Date())
        }
        let agg = try Aggregate(store: RunStore(directory: dir + "/runs"))
        XCTAssertEqual(agg.accuracy.keys.map(\.parallel), ["pipeline"])
        let tables = Speedup.tables(fixture(), agg)
        XCTAssertEqual(tables.map(\.name), ["speedup-vs-k-r18_fm_w0.25", "accuracy-and-speedup-fashion-mnist-resnet18-w0.25-quick-pipelined"])
        let speed = tables[0]
        func row(_ name: String) -> [Cell] { speed.rows.first { $0.0 == name }!.1 }
        XCTAssertEqual(row("bll pipelined")[1].ours!.mean, 1.85, accuracy: 1e-9)
        XCTAssertEqual(row("bll pipelined")[1].ours!.n, 2)
        XCTAssertEqual(row("bll pipelined (cost model)")[1].ours!.mean, 2.0, accuracy: 1e-9)
        XCTAssertEqual(row("bp on K threads")[1].ours!.mean, 1.8, accuracy: 1e-9)
        XCTAssertEqual(row("bll MPI ranks")[1].ours!.mean, 1.73, accuracy: 1e-9)   // bench --transport mpi's points
        XCTAssertNil(row("bll MPI ranks")[0].ours)
        XCTAssertEqual(row("data-parallel bp, node link (model)")[2].ours!.mean, 2.75, accuracy: 1e-9)
        let both = tables[1]
        XCTAssertEqual(both.columns, ["K=1 acc", "K=1 speedup", "K=2 acc", "K=2 speedup", "K=3 acc", "K=3 speedup"])
        XCTAssertEqual(both.rows[0].1[2].ours!.mean, 80.5, accuracy: 1e-9)
        XCTAssertEqual(both.rows[0].1[3].ours!.mean, 1.85, accuracy: 1e-9)
        let reading = Speedup.reading(fixture()).joined()
        XCTAssert(reading.contains("bll 1.85×") && reading.contains("bp on 2 threads 1.80×") && reading.contains("within 8 %"), reading)
        guard (try? Figures.gnuplot()) != nil else { throw XCTSkip("gnuplot not installed (`make deps` installs gnuplot-nox)") }
        let files = try Speedup.figures(fixture(), dir: dir + "/figures")
        XCTAssertEqual(files.map { URL(fileURLWithPath: $0).lastPathComponent }, ["speedup-vs-k-r18_fm_w0.25.png", "speedup-vs-k-r18_fm_w0.25.svg"])
        XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: files[0])[.size] as! Int, 10_000)
        let dat = try String(contentsOfFile: dir + "/figures/speedup-vs-k-r18_fm_w0.25.dat", encoding: .utf8)
        XCTAssert(dat.contains("3 1.8889 0.0000 1"), "oversubscribed K = 3 is flagged: \(dat)")
        XCTAssert(dat.contains("# bll MPI ranks: measured\n2 1.7300"), "the figure shows the MPI points: \(dat)")
    }
}
