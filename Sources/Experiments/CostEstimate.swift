// CostEstimate: what a planned run will cost in wall time, before it runs, and what a sweep will.
//   stored    the run is in the store: its own recorded seconds
//   history   done runs of the same cost key (the config without seed, epochs, subsets, optimizer and
//             profile: what sets the time per sample) give seconds per training sample; the median is scaled
//             to this run's epochs × training samples
//   measured  no history: a few training steps of the run's model and rule on synthetic data in memory,
//             at the thread count the run will have (evaluation added as a third of a training step per
//             test sample, the forward pass alone)
// A sweep's wall time for W workers (or W Slurm tasks at once) is the plan's runs list-scheduled in
// order onto W slots, each run going to the slot that frees first, as `sweep --jobs W` workers take them.

import Bench
import Datasets
import Engine
import Foundation
import Methods

public struct RunCost: Sendable {
    public enum Source: String, Sendable { case stored, history, measured }
    public var seconds: Double
    public var source: Source
}

public final class CostEstimator {
    /// cost key → seconds per training sample, from the store's done runs
    var history: [String: [Double]] = [:]
    var measuredCache: [String: Double] = [:]

    public init(summaries: [RunSummary]) {
        for s in summaries where s.status == "done" { record(s) }
    }

    /// Adds a finished run to the history (the sweep's ETA learns from every run it finishes).
    public func record(_ s: RunSummary) {
        guard let c = s.config, let seconds = s.seconds, seconds > 0, s.epochs > 0 else { return }
        let n = CostEstimator.samples(c).train * s.epochs
        if n > 0 { history[CostEstimator.key(c), default: []].append(seconds / Double(n)) }
    }

    /// The config with what does not change the time per sample taken out.
    public static func key(_ c: RunConfig) -> String {
        var k = c
        k.seed = 0; k.epochs = 1; k.trainSubset = nil; k.testSubset = nil; k.s2sSteps = 1; k.profile = ""
        k.optimizer = OptimizerConfig()
        return k.canonicalJSON
    }

    /// Training samples per epoch and test samples per evaluation.
    public static func samples(_ c: RunConfig) -> (train: Int, test: Int) {
        if c.isSequenceTask { return (c.s2sSteps * c.batch, c.testSubset ?? 2000) }
        guard let def = try? Registry.definition(c.dataset) else { return (0, 0) }
        return (min(c.trainSubset ?? def.examples.train, def.examples.train), min(c.testSubset ?? def.examples.test, def.examples.test))
    }

    /// The history's estimate, nil without runs of the same key (`key`: CostEstimator.key(c), when the
    /// caller keeps it).
    public func fromHistory(_ c: RunConfig, key: String? = nil) -> Double? {
        guard let per = history[key ?? CostEstimator.key(c)], !per.isEmpty else { return nil }
        return Benchmark.median(per) * Double(CostEstimator.samples(c).train * c.epochs)
    }

    /// Measured seconds per training sample (cached per cost key); `steps` timed after one warm-up.
    public func measuredPerSample(_ c: RunConfig, steps: Int = 2) throws -> Double {
        let key = CostEstimator.key(c)
        if let v = measuredCache[key] { return v }
        let spec = try c.builtModelSpec()
        let model = try spec.build(seed: 0)
        let blocks = try BlockSplit.split(model, blocks: c.blocks, rule: c.split,
                                          headMACs: Methods.headMACs(c.method, classes: spec.classes))
        let rule = try Methods.make(MethodSetup(model: model, blocks: blocks, config: c.method, optimizer: c.optimizer,
                                                classes: spec.classes, seed: 0))
        let (x, y) = Benchmark.syntheticBatch(spec, model: model, batch: c.batch)
        var times: [Double] = []
        for i in 0...steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try rule.step(x, y, lr: Float(c.optimizer.lr))
            if i > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
        }
        let v = Benchmark.median(times) / Double(c.batch)
        measuredCache[key] = v
        return v
    }

    /// The estimate of one run: its stored time, the history's, or a measurement.
    public func estimate(_ c: RunConfig, stored: RunSummary? = nil) throws -> RunCost {
        if let s = stored, s.status == "done", let t = s.seconds { return RunCost(seconds: t, source: .stored) }
        if let t = fromHistory(c) { return RunCost(seconds: t, source: .history) }
        let per = try measuredPerSample(c)
        let n = CostEstimator.samples(c)
        return RunCost(seconds: per * Double(c.epochs) * (Double(n.train) + Double(n.test) / 3), source: .measured)
    }

    /// Wall time of `costs` taken in order by `slots` workers (each run to the slot that frees first).
    public static func wallTime(_ costs: [Double], slots: Int) -> Double {
        var free = [Double](repeating: 0, count: max(1, slots))
        for c in costs {
            let i = free.indices.min { free[$0] < free[$1] }!
            free[i] += c
        }
        return free.max() ?? 0
    }

    /// "1 h 05 min", "4 min 10 s", "12 s".
    public static func format(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%d h %02d min", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%d min %02d s", t / 60, t % 60) }
        return "\(t) s"
    }
}
