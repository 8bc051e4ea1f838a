// Aggregation of stored runs over seeds: per (dataset, model, width, method, K, profile), the final test
// accuracy's mean, sample standard deviation, n, min and max (in percent), the mean learning curve with
// its spread, and the mean training throughput.

import Experiments
import Foundation
import Methods

public struct GroupKey: Hashable, Comparable, Sendable {
    public var dataset: String, model: String, width: Double, method: String, blocks: Int, profile: String
    public static func < (a: GroupKey, b: GroupKey) -> Bool {
        (a.profile, a.dataset, a.model, a.width, a.method, a.blocks) < (b.profile, b.dataset, b.model, b.width, b.method, b.blocks)
    }
    /// The setting without method and K: one panel of a figure or one column group of a table.
    public var setting: String { "\(dataset) \(model)" + (width == 1 ? "" : " w\(Stats.short(width))") }
}

public struct Stats: Sendable, Equatable {
    public var mean: Double, std: Double, n: Int, min: Double, max: Double
    public init(mean: Double, std: Double, n: Int, min: Double, max: Double) {
        self.mean = mean; self.std = std; self.n = n; self.min = min; self.max = max
    }
    public init(_ xs: [Double]) {
        let count = xs.count, m = xs.reduce(0, +) / Double(Swift.max(1, count))
        n = count; mean = m
        std = count > 1 ? (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(count - 1)).squareRoot() : 0
        min = xs.min() ?? .nan; max = xs.max() ?? .nan
    }
    /// "91.23 ± 0.45 (3)"
    public var text: String { String(format: "%.2f ± %.2f (%d)", mean, std, n) }
    static func short(_ w: Double) -> String { w == w.rounded() ? String(Int(w)) : String(format: "%g", w) }
}

public struct CurvePoint: Sendable { public var epoch: Int, mean: Double, std: Double, lossMean: Double }

public struct Aggregate: Sendable {
    public var accuracy: [GroupKey: Stats] = [:]
    public var curves: [GroupKey: [CurvePoint]] = [:]
    public var throughput: [GroupKey: Double] = [:]
    public var seconds: Double = 0
    public var runs = 0, failed = 0, diverged = 0
    public var profiles: Set<String> = []

    /// Reads every stored run (all profiles, or one).
    public init(store: RunStore, profile: String? = nil) throws {
        var finals: [GroupKey: [Double]] = [:], series: [GroupKey: [[EpochRecord]]] = [:], sps: [GroupKey: [Double]] = [:]
        var seconds = 0.0, runs = 0, failed = 0, diverged = 0, profiles = Set<String>()
        for path in store.files() {
            guard let s = try? RunFile.summary(path), let c = s.config else { continue }
            if let profile, c.profile != profile { continue }
            switch s.status {
            case "failed": failed += 1; continue
            case "diverged": diverged += 1; continue
            case "done": break
            default: continue
            }
            let records = try RunFile.records(path)
            guard let last = records.last else { continue }
            let key = GroupKey(dataset: c.dataset, model: c.model.arch, width: c.dataset == "s2s" ? 1 : c.model.width,
                               method: c.method.method.rawValue, blocks: c.blocks, profile: c.profile)
            finals[key, default: []].append(100 * last.testAccuracy)
            series[key, default: []].append(records)
            sps[key, default: []].append(records.map(\.samplesPerSecond).reduce(0, +) / Double(records.count))
            seconds += records.map(\.seconds).reduce(0, +)
            runs += 1
            profiles.insert(c.profile)
        }
        self.init(finals: finals, series: series, sps: sps)
        self.seconds = seconds; self.runs = runs; self.failed = failed; self.diverged = diverged; self.profiles = profiles
    }

    init(finals: [GroupKey: [Double]], series: [GroupKey: [[EpochRecord]]], sps: [GroupKey: [Double]]) {
        for (k, v) in finals { accuracy[k] = Stats(v) }
        for (k, runs) in series {
            let epochs = runs.map(\.count).min() ?? 0
            curves[k] = (0..<epochs).map { e in
                let acc = Stats(runs.map { 100 * $0[e].testAccuracy })
                let loss = runs.map { $0[e].losses.values.reduce(0, +) }.reduce(0, +) / Double(runs.count)
                return CurvePoint(epoch: e + 1, mean: acc.mean, std: acc.std, lossMean: loss)
            }
        }
        for (k, v) in sps { throughput[k] = v.reduce(0, +) / Double(v.count) }
    }

    /// Groups of a setting, by method and K.
    public func groups(dataset: String, model: String) -> [GroupKey] {
        accuracy.keys.filter { $0.dataset == dataset && $0.model == model }.sorted()
    }
}
