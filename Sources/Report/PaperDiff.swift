// The diff against the papers: for every reference cell, our value, the paper's, the difference and a
// verdict; for every claim, whether our grid shows it. Accuracies are compared in percent (error rates
// as 100 − error); `higher`/`lower` refer to accuracy. A cell is `reproduced` when |ours − paper| is
// within the tolerance plus twice the seed spread of ours (and of the paper's, when it gives one).
// Claims are judged at the K their paper states (the artefact's reference rows), never at K = 1 where
// every local rule is backprop, and only on runs that learned: a claim whose runs sit below chance plus
// `learnedMargin` points is `not judged`. Every choice among candidate settings is made in a stable order
// (most seeds, then the setting's id), so the same store gives the same verdicts in every process.

import Datasets
import Foundation
import Methods

public enum Verdict: String, Sendable, CaseIterable {
    case reproduced, higher, lower
    case notRun = "not run"
    case notRunnable = "not runnable here"
    case holds
    case doesNotHold = "does not hold"
    /// the runs a claim would be judged on did not learn (below chance + `PaperDiff.learnedMargin`)
    case notJudged = "not judged"
}

public struct DiffRow: Sendable {
    public var ref: ReferenceRow
    public var key: GroupKey?
    public var ours: Stats?
    public var delta: Double?
    public var verdict: Verdict
    public var note: String
}

public enum PaperDiff {
    /// Points over chance a run group's mean accuracy must reach before a claim is judged on it.
    public static let learnedMargin = 10.0

    /// Chance accuracy in percent: one over the classes (S2S: one over the ten digits).
    static func chance(_ dataset: String) -> Double {
        let classes = (try? Registry.definition(dataset))?.classNames.count ?? 10
        return 100 / Double(max(1, classes))
    }

    /// The K a claim is judged at: its own, else the K of its artefact's reference rows for the setting.
    static func statedK(_ r: ReferenceRow, _ reference: [ReferenceRow]) -> Int? {
        r.blocks ?? reference.first { !$0.isClaim && $0.artefact == r.artefact && $0.dataset == r.dataset && $0.model == r.model && $0.blocks != nil }?.blocks
    }

    /// nil when every mean learned; otherwise the note that says which did not.
    static func notLearned(_ means: [(String, Double)], dataset: String) -> String? {
        let floor = chance(dataset) + learnedMargin
        let low = means.filter { $0.1 < floor }
        guard !low.isEmpty else { return nil }
        return "not judged: \(low.map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", ")) below chance (\(String(format: "%.0f", chance(dataset))) %) + \(Stats.short(learnedMargin)) points; the runs did not learn"
    }

    /// `available(dataset)`: whether the dataset can be had here (cached or fetchable).
    public static func diff(_ reference: [ReferenceRow], _ agg: Aggregate, tolerance: Double,
                            available: (String) -> Bool) -> [DiffRow] {
        reference.map { r in
            if r.isClaim { return claim(r, agg, tolerance: tolerance, available: available, blocks: statedK(r, reference)) }
            guard MethodName(rawValue: r.method) != nil else {   // the registry's rules
                return DiffRow(ref: r, key: nil, ours: nil, delta: nil, verdict: .notRun, note: "\(r.method) is not implemented in blocklocal")
            }
            guard let key = Tables.match(agg, dataset: r.dataset, model: r.model, method: r.method, blocks: r.blocks),
                  let s = agg.accuracy[key], let paper = r.accuracy else {
                let verdict: Verdict = available(r.dataset) ? .notRun : .notRunnable
                return DiffRow(ref: r, key: nil, ours: nil, delta: nil, verdict: verdict,
                               note: verdict == .notRunnable ? "\(r.dataset) cannot be had on this machine" : "no stored run matches")
            }
            let delta = s.mean - paper
            let tol = tolerance + (s.n > 1 ? 2 * s.std : 0) + 2 * (r.std ?? 0)
            let verdict: Verdict = abs(delta) <= tol ? .reproduced : (delta > 0 ? .higher : .lower)
            let protocolNote = key.profile == "paper" ? "" : "profile \(key.profile.isEmpty ? "(single run)" : key.profile)" + (key.width == 1 ? "" : ", width \(Stats.short(key.width))") + ": not the paper's protocol"
            return DiffRow(ref: r, key: key, ours: s, delta: delta, verdict: verdict, note: protocolNote)
        }
    }

    static func claim(_ r: ReferenceRow, _ agg: Aggregate, tolerance: Double, available: (String) -> Bool, blocks stated: Int? = nil) -> DiffRow {
        let parts = r.claim.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return DiffRow(ref: r, key: nil, ours: nil, delta: nil, verdict: .notRun, note: "unreadable claim '\(r.claim)'") }
        if parts[0] == "order" {
            let methods = parts[1].components(separatedBy: ">=")
            // at the stated K; with none stated, the largest K above 1 every local method of the claim has
            var k = stated
            if k == nil {
                let local = methods.filter { $0 != "bp" }
                let common = local.map { m in Set(agg.accuracy.keys.filter { $0.dataset == r.dataset && $0.model == r.model && $0.method == m && $0.blocks > 1 }.map(\.blocks)) }
                k = common.dropFirst().reduce(common.first ?? []) { $0.intersection($1) }.max()
            }
            let keys = methods.map { Tables.match(agg, dataset: r.dataset, model: r.model, method: $0, blocks: k) }
            guard keys.allSatisfy({ $0 != nil }) else {
                return DiffRow(ref: r, key: nil, ours: nil, delta: nil, verdict: available(r.dataset) ? .notRun : .notRunnable,
                               note: "needs runs of \(methods.joined(separator: ", ")) on \(r.dataset) \(r.model)\(k.map { " at K = \($0)" } ?? " at K > 1")")
            }
            let means = keys.map { agg.accuracy[$0!]!.mean }
            if let why = notLearned(Array(zip(methods, means)), dataset: r.dataset) {
                return DiffRow(ref: r, key: keys.first!, ours: nil, delta: nil, verdict: .notJudged, note: why)
            }
            let holds = zip(means, means.dropFirst()).allSatisfy { $0 + tolerance >= $1 }
            let shown = zip(methods, means).map { "\($0) \(String(format: "%.2f", $1))" }.joined(separator: ", ")
            return DiffRow(ref: r, key: keys.first!, ours: nil, delta: nil, verdict: holds ? .holds : .doesNotHold,
                           note: "ours at K = \(k.map(String.init) ?? "?"): \(shown) (within \(Stats.short(tolerance)) points counts as in order)")
        }
        if parts[0] == "flat", let limit = Double(parts[1]) {
            // the exact setting, or else any setting where the method ran at several K (labelled)
            let all = agg.accuracy.keys.filter { $0.method == r.method }
            var groups = Dictionary(grouping: all.filter { $0.dataset == r.dataset && $0.model == r.model }, by: \.settingID)
            var substitute = false
            if !groups.values.contains(where: { Set($0.map(\.blocks)).count > 1 }) {
                groups = Dictionary(grouping: all, by: \.settingID)
                substitute = true
            }
            // the group with the most K values; ties by setting id (a stable order, not the Dictionary's)
            guard let best = groups.sorted(by: { $0.key < $1.key }).map(\.value)
                .filter({ Set($0.map(\.blocks)).count > 1 && $0.contains { $0.blocks == 1 } })
                .max(by: { $0.count < $1.count }), let k1 = best.first(where: { $0.blocks == 1 }) else {
                return DiffRow(ref: r, key: nil, ours: nil, delta: nil, verdict: available(r.dataset) ? .notRun : .notRunnable,
                               note: "needs \(r.method) runs at K = 1 and more K")
            }
            let base = agg.accuracy[k1]!.mean
            let sorted = best.sorted { $0.blocks < $1.blocks }
            if let why = notLearned(sorted.map { ("K=\($0.blocks)", agg.accuracy[$0]!.mean) }, dataset: k1.dataset) {
                return DiffRow(ref: r, key: k1, ours: nil, delta: nil, verdict: .notJudged,
                               note: (substitute ? "on \(k1.setting), profile \(k1.profile) (substitute setting); " : "") + why)
            }
            let drops = sorted.map { ($0.blocks, agg.accuracy[$0]!.mean - base) }
            let holds = drops.allSatisfy { $0.1 >= -limit }
            let shown = drops.map { "K=\($0.0): \(String(format: "%+.2f", $0.1))" }.joined(separator: ", ")
            return DiffRow(ref: r, key: k1, ours: nil, delta: drops.map(\.1).min(), verdict: holds ? .holds : .doesNotHold,
                           note: (substitute ? "on \(k1.setting), profile \(k1.profile) (substitute setting); " : "") + "ours vs K = 1: \(shown)")
        }
        return DiffRow(ref: r, key: nil, ours: nil, delta: nil, verdict: .notRun, note: "unknown claim kind '\(parts[0])'")
    }

    public static func markdown(_ rows: [DiffRow]) -> String {
        var s = "| id | artefact | setting | method | K | ours (%) | paper (%) | Δ | verdict | note |\n|---|---|---|---|---:|---:|---:|---:|---|---|\n"
        for d in rows {
            let r = d.ref
            let setting = "\(r.dataset) \(r.model)"
            let ours = d.ours.map(\.text) ?? "—"
            let paper = r.isClaim ? r.notes : (r.accuracy.map { String(format: "%.2f", $0) } ?? "—") + (r.metric.contains("error") ? " (err \(String(format: "%.2f", r.value ?? 0)))" : "")
            let delta = d.ours != nil ? d.delta.map { String(format: "%+.2f", $0) } ?? "" : ""
            s += "| \(r.id) | \(r.artefact) | \(setting) | \(r.method.isEmpty ? "—" : r.method) | \(d.key.map { String($0.blocks) } ?? (r.blocks.map(String.init) ?? "")) | \(ours) | \(paper) | \(delta) | **\(d.verdict.rawValue)** | \(d.note) |\n"
        }
        return s
    }

    public static func counts(_ rows: [DiffRow]) -> String {
        Verdict.allCases.compactMap { v in
            let n = rows.filter { $0.verdict == v }.count
            return n > 0 ? "\(n) \(v.rawValue)" : nil
        }.joined(separator: ", ")
    }
}
