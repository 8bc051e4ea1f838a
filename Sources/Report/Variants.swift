// The BLL variant ablation (paper/experiments/bll-variants.toml): BLL's feedback path (chain: each block's
// feedback from the next block's; direct: from the output) with and without the decorrelation term, beside BP,
// per setting (S2S and Fashion-MNIST ResNet-18 at K = 4). Table bll-variants-<profile>: final test accuracy
// (S2S: token accuracy, and whole-sequence accuracy in its own column) over seeds; the report's sentences name
// the variant closest to BP in each setting, computed here from the stored runs.

import Experiments
import Foundation
import Methods

/// One finished run of a study spec (the budget study, the variant ablation), with the replicate it was planned as.
public struct StudyRun: Sendable {
    public var config: RunConfig
    public var replicate: Int
    /// Final test accuracy (%), and for S2S the whole-sequence accuracy (%).
    public var accuracy: Double
    public var sequenceAccuracy: Double?
    public init(config: RunConfig, replicate: Int, accuracy: Double, sequenceAccuracy: Double? = nil) {
        self.config = config; self.replicate = replicate; self.accuracy = accuracy; self.sequenceAccuracy = sequenceAccuracy
    }
    public var method: String { config.method.method.rawValue }
}

public struct VariantStudy: Sendable {
    public static let spec = "bll-variants"
    public let profile: String
    let runs: [StudyRun]

    /// One study per profile among the runs.
    public static func studies(_ runs: [StudyRun]) -> [VariantStudy] {
        Dictionary(grouping: runs, by: \.config.profile).sorted { $0.key < $1.key }.map { VariantStudy(profile: $0.key, runs: $0.value) }
    }

    /// A row: "bp", or "bll chain + decorrelation", "bll direct, no decorrelation", …
    static func variant(_ c: RunConfig) -> String {
        guard c.method.method == .bll else { return c.method.method.rawValue }
        return "bll \(c.method.feedback.rawValue)" + (c.method.decorrelation > 0 ? " + decorrelation" : ", no decorrelation")
    }

    /// A column: the setting at its K ("s2s transformer (decoder) d32, K=4").
    static func setting(_ c: RunConfig) -> String {
        if c.isSequenceTask { return "s2s transformer (\((c.s2sLayout ?? .decoder).rawValue)) d\(c.model.dModel), K=\(c.blocks)" }
        return "\(c.dataset) \(c.model.arch)" + (c.model.width == 1 ? "" : " w\(Stats.short(c.model.width))") + ", K=\(c.blocks)"
    }

    public var rows: [String] {
        let names = Set(runs.map { VariantStudy.variant($0.config) })
        return names.sorted { a, b in (a == "bp" ? 0 : 1, a) < (b == "bp" ? 0 : 1, b) }
    }
    public var settings: [String] { Set(runs.map { VariantStudy.setting($0.config) }).sorted() }

    func stats(_ row: String, _ setting: String, sequence: Bool = false) -> Stats? {
        let xs = runs.filter { VariantStudy.variant($0.config) == row && VariantStudy.setting($0.config) == setting }
            .compactMap { sequence ? $0.sequenceAccuracy : $0.accuracy }
        return xs.isEmpty ? nil : Stats(xs)
    }

    public var table: ResultTable {
        var columns: [String] = [], cells: [(String, Bool)] = []
        for s in settings {
            columns.append(s); cells.append((s, false))
            if runs.contains(where: { VariantStudy.setting($0.config) == s && $0.sequenceAccuracy != nil }) { columns.append(s + " (sequences)"); cells.append((s, true)) }
        }
        return ResultTable(name: "bll-variants" + (profile.isEmpty ? "" : "-" + profile), title: "BLL variants: feedback path × decorrelation, beside BP",
                           unit: "test accuracy, %; S2S: tokens, and whole sequences", columns: columns,
                           rows: rows.map { r in (r, cells.map { Cell(ours: stats(r, $0.0, sequence: $0.1), paper: nil) }) })
    }

    /// Per setting: the BLL variant closest to BP (or the best, without BP), and where the default stands.
    public var reading: [String] {
        let defaultRow = "bll " + MethodConfig(method: .bll).feedback.rawValue + (MethodConfig(method: .bll).decorrelation > 0 ? " + decorrelation" : ", no decorrelation")
        var lines: [String] = []
        for s in settings {
            let bll = rows.filter { $0.hasPrefix("bll ") }.compactMap { r in stats(r, s).map { (r, $0) } }
            guard let best = bll.max(by: { $0.1.mean < $1.1.mean }) else { continue }
            var text = String(format: "- BLL variants (%@, profile %@): the best is %@ (%.2f ± %.2f %%)", s, profile, best.0, best.1.mean, best.1.std)
            if let bp = stats("bp", s) { text += String(format: ", %.2f points from BP (%.2f %%)", best.1.mean - bp.mean, bp.mean) }
            if let d = bll.first(where: { $0.0 == defaultRow }), d.0 != best.0 {
                text += String(format: "; the default (%@) reaches %.2f ± %.2f %%", defaultRow, d.1.mean, d.1.std)
            } else if best.0 == defaultRow { text += " — the default" }
            let spread = bll.map(\.1.mean).max()! - bll.map(\.1.mean).min()!
            text += String(format: "; the variants span %.2f points.", spread)
            lines.append(text)
        }
        return lines
    }
}
