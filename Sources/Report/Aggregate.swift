// Aggregation of stored runs over seeds: per (dataset, model, width, method, K, profile), the final test
// accuracy's mean, sample standard deviation, n, min and max (in percent), the mean learning curve with
// its spread, and the mean training throughput.

import Experiments
import Foundation
import Methods

public struct GroupKey: Hashable, Comparable, Sendable {
    public var dataset: String, model: String, width: Double, method: String, blocks: Int, profile: String
    /// "" for sequential runs, "pipeline" for pipelined ones (their own groups, tables and figures).
    public var parallel: String = ""
    public static func < (a: GroupKey, b: GroupKey) -> Bool {
        if (a.profile, a.dataset, a.model, a.width, a.parallel) != (b.profile, b.dataset, b.model, b.width, b.parallel) {
            return (a.profile, a.dataset, a.model, a.width, a.parallel) < (b.profile, b.dataset, b.model, b.width, b.parallel)
        }
        return (a.method, a.blocks) < (b.method, b.blocks)
    }
    /// The setting without method and K: one panel of a figure or one column group of a table.
    public var setting: String { "\(dataset) \(model)" + (width == 1 ? "" : " w\(Stats.short(width))") + (parallel.isEmpty ? "" : ", pipelined") }
    /// The setting and profile as one identifier (which keys share a table or figure).
    public var settingID: String { "\(profile)|\(dataset)|\(model)|\(width)|\(parallel)" }
    /// The setting and profile in a file name: "fashion-mnist-resnet18-w0.25-quick[-pipelined]".
    public var tag: String {
        "\(dataset)-\(model)-w\(Stats.short(width))-\(profile.isEmpty ? "single" : profile)" + (parallel.isEmpty ? "" : "-pipelined")
    }
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
    /// Per group, the last epoch's per-block measures over seeds: "b<k>" a block's local head accuracy (%),
    /// "b<k>.proto_acc" its prototype read-out accuracy (%), "b<k>.cosine" its mean pairwise cosine.
    public var perBlock: [GroupKey: [String: Stats]] = [:]
    public var seconds: Double = 0
    public var runs = 0, failed = 0, diverged = 0
    public var profiles: Set<String> = []
    /// Groups whose runs differ in more than the seed (e.g. the same setting in two specs with other
    /// optimizers): only the protocol with the most runs is aggregated; this counts the runs left out.
    public var leftOut: [GroupKey: Int] = [:]
    /// Run files that could not be read (damaged or crafted), by path with the reason: left out, and said.
    public var damaged: [(path: String, reason: String)] = []
    /// The runs of study specs, by spec: their protocols differ within a group (budgets, method settings), so
    /// they are kept apart from the groups above and read by their study (BudgetStudy, VariantStudy).
    public var studies: [String: [StudyRun]] = [:]
    public static let studySpecs: Set<String> = [BudgetStudy.spec, VariantStudy.spec]
    public var budget: [StudyRun] { studies[BudgetStudy.spec] ?? [] }
    public var variants: [StudyRun] { studies[VariantStudy.spec] ?? [] }

    /// Reads every stored run (all profiles, or one). A group aggregates the seeds of one protocol:
    /// runs of the same key whose configs differ in anything but the seed are never pooled.
    public init(store: RunStore, profile: String? = nil) throws {
        struct Run { var protocol_: String, final: Double, records: [EpochRecord], sps: Double }
        var grouped: [GroupKey: [Run]] = [:]
        var seconds = 0.0, runs = 0, failed = 0, diverged = 0, profiles = Set<String>()
        var damaged: [(path: String, reason: String)] = []
        var studies: [String: [StudyRun]] = [:]
        for path in store.files() {
            let s: RunSummary
            do { s = try RunFile.summary(path) } catch { damaged.append((path, "\(error)")); continue }
            guard let c = s.config else { damaged.append((path, "its config does not decode")); continue }
            if let profile, c.profile != profile { continue }
            switch s.status {
            case "failed": failed += 1; continue
            case "diverged": diverged += 1; continue
            case "done": break
            default: continue
            }
            let records: [EpochRecord]
            do { records = try RunFile.records(path) } catch { damaged.append((path, "\(error)")); continue }
            guard let last = records.last else { continue }
            seconds += records.map(\.seconds).reduce(0, +)
            runs += 1
            profiles.insert(c.profile)
            if let origin = s.origin, Aggregate.studySpecs.contains(origin.spec) {
                studies[origin.spec, default: []].append(StudyRun(config: c, replicate: origin.replicate, accuracy: 100 * last.testAccuracy,
                                                                  sequenceAccuracy: last.testSequenceAccuracy.map { 100 * $0 }))
                continue
            }
            let key = GroupKey(dataset: c.dataset.rawValue, model: c.s2sLayout == .encoder ? "transformer-encoder" : c.model.arch.rawValue, width: c.isSequenceTask ? 1 : c.model.width,
                               method: c.method.method.rawValue, blocks: c.blocks, profile: c.profile, parallel: c.parallel?.rawValue ?? "")
            var unseeded = c; unseeded.seed = 0
            grouped[key, default: []].append(Run(protocol_: unseeded.canonicalJSON, final: 100 * last.testAccuracy, records: records,
                                                 sps: records.map(\.samplesPerSecond).reduce(0, +) / Double(records.count)))
        }
        var finals: [GroupKey: [Double]] = [:], series: [GroupKey: [[EpochRecord]]] = [:], sps: [GroupKey: [Double]] = [:]
        var leftOut: [GroupKey: Int] = [:]
        for (key, all) in grouped {
            let byProtocol = Dictionary(grouping: all, by: \.protocol_)
            let chosen = byProtocol.max { ($0.value.count, $1.key) < ($1.value.count, $0.key) }!.value
            if chosen.count < all.count { leftOut[key] = all.count - chosen.count }
            finals[key] = chosen.map(\.final); series[key] = chosen.map(\.records); sps[key] = chosen.map(\.sps)
        }
        self.init(finals: finals, series: series, sps: sps)
        self.seconds = seconds; self.runs = runs; self.failed = failed; self.diverged = diverged; self.profiles = profiles
        self.leftOut = leftOut; self.damaged = damaged; self.studies = studies
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
        for (k, runs) in series {
            let lasts = runs.compactMap(\.last)
            guard let first = lasts.first else { continue }
            var measures: [String: Stats] = [:]
            for name in first.headAccuracy.keys where lasts.allSatisfy({ $0.headAccuracy[name] != nil }) {
                measures[name] = Stats(lasts.map { 100 * $0.headAccuracy[name]! })
            }
            for name in first.diagnostics.keys where (name.hasSuffix(".proto_acc") || name.hasSuffix(".cosine"))
                && lasts.allSatisfy({ $0.diagnostics[name] != nil }) {
                measures[name] = Stats(lasts.map { (name.hasSuffix(".cosine") ? 1 : 100) * $0.diagnostics[name]! })
            }
            if !measures.isEmpty { perBlock[k] = measures }
        }
    }

    /// Groups of a setting, by method and K.
    public func groups(dataset: String, model: String) -> [GroupKey] {
        accuracy.keys.filter { $0.dataset == dataset && $0.model == model }.sorted()
    }
}
