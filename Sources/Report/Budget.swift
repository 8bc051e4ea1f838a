// The budget study (paper/experiments/budget.toml): each rule's gap to BP against the training budget, paired by
// seed (the same replicate of every rule starts from the same weights and sees the same data), and the check of
// the claim "the gap to BP shrinks with budget". Tables budget-accuracy-<tag> and budget-gap-<tag>, the figure
// budget-gap-<tag>, and the report's sentences, all computed here from the stored runs.
//   verdict per rule: holds        |gap| at the largest budget is smaller than at the smallest by more than
//                                  the two budgets' seed spreads (std of the paired gaps) together
//                     does not hold  otherwise (it grows, or changes by less than that spread)
//                     not judged   fewer than two budgets with at least two paired seeds each

import Foundation

public struct BudgetStudy: Sendable {
    /// The spec whose runs make the study.
    public static let spec = "budget"

    /// The setting: every run shares dataset, model, width, K and profile.
    public var key: GroupKey
    public var budgets: [Int]
    public var methods: [String]
    let runs: [StudyRun]

    /// One study per setting among the runs, in a fixed order.
    public static func studies(_ runs: [StudyRun]) -> [BudgetStudy] {
        let bySetting = Dictionary(grouping: runs) { r in
            GroupKey(dataset: r.config.dataset.rawValue, model: r.config.model.arch.rawValue, width: r.config.model.width, method: "", blocks: r.config.blocks, profile: r.config.profile)
        }
        return bySetting.keys.sorted().map { key in
            let mine = bySetting[key]!
            return BudgetStudy(key: key, budgets: Set(mine.map(\.config.epochs)).sorted(),
                               methods: Set(mine.map(\.method)).sorted { Tables.methodRank($0) < Tables.methodRank($1) }, runs: mine)
        }
    }

    func runs(_ method: String, _ epochs: Int) -> [StudyRun] { runs.filter { $0.method == method && $0.config.epochs == epochs } }

    public func accuracy(_ method: String, _ epochs: Int) -> Stats? {
        let xs = runs(method, epochs).map(\.accuracy)
        return xs.isEmpty ? nil : Stats(xs)
    }

    /// The rule's accuracy minus BP's, seed by seed (replicates both have), in points.
    public func gap(_ method: String, _ epochs: Int) -> Stats? {
        let bp = Dictionary(runs("bp", epochs).map { ($0.replicate, $0.accuracy) }, uniquingKeysWith: { a, _ in a })
        let xs = runs(method, epochs).compactMap { r in bp[r.replicate].map { r.accuracy - $0 } }
        return xs.isEmpty ? nil : Stats(xs)
    }

    public var rules: [String] { methods.filter { $0 != "bp" } }

    /// The verdict on "the gap to BP shrinks with budget" for one rule, with the sentence that says why.
    public func verdict(_ method: String) -> (Verdict, String) {
        let judged = budgets.compactMap { e in gap(method, e).flatMap { $0.n >= 2 ? (e, $0) : nil } }
        guard let (e0, g0) = judged.first, let (e1, g1) = judged.last, e0 != e1 else {
            return (.notJudged, "fewer than two budgets with two paired seeds of \(method) and bp")
        }
        let shrink = abs(g0.mean) - abs(g1.mean), spread = g0.std + g1.std
        func side(_ g: Stats) -> String {
            g.mean < 0 ? String(format: "trails BP by %.2f ± %.2f points", -g.mean, g.std) : String(format: "is ahead of BP by %.2f ± %.2f points", g.mean, g.std)
        }
        var text = "\(method) \(side(g0)) after \(BudgetStudy.epochs(e0)) and \(side(g1)) after \(BudgetStudy.epochs(e1))"
        let v: Verdict
        if shrink > spread {
            v = .holds; text += String(format: ": the gap shrinks by %.2f points, more than the seed spread (%.2f)", shrink, spread)
        } else if shrink < -spread {
            v = .doesNotHold; text += String(format: ": the gap grows by %.2f points, more than the seed spread (%.2f)", -shrink, spread)
        } else {
            v = .doesNotHold
            text += String(format: ": the gap %@ by %.2f points, within the seed spread (%.2f), so no shrinking is measured", shrink >= 0 ? "shrinks" : "grows", abs(shrink), spread)
        }
        return (v, text)
    }

    static func epochs(_ e: Int) -> String { e == 1 ? "1 epoch" : "\(e) epochs" }

    var title: String {
        "\(key.setting), K = \(key.blocks)" + (key.profile.isEmpty ? "" : ", profile \(key.profile)")
    }

    public var tables: [ResultTable] {
        let columns = budgets.map { BudgetStudy.epochs($0) }
        let accuracyTable = ResultTable(name: "budget-accuracy-" + key.tag, title: "Budget study: test accuracy against training epochs — \(title)", unit: "test accuracy, %",
                              columns: columns, rows: methods.map { m in (m, budgets.map { Cell(ours: accuracy(m, $0), paper: nil) }) })
        let gapTable = ResultTable(name: "budget-gap-" + key.tag, title: "Budget study: gap to BP (rule − bp, paired by seed) — \(title)", unit: "accuracy points",
                              columns: columns, rows: rules.map { m in ("\(m) − bp", budgets.map { Cell(ours: gap(m, $0), paper: nil) }) })
        return [accuracyTable, gapTable]
    }

    /// The gap of each rule against the budget (log scale), error bars the paired seeds' std, BP the zero line.
    public func figure(dir: String) throws -> [String] {
        let name = "budget-gap-" + key.tag
        var dat = "# epochs gap_mean gap_std n   (one block per rule: \(rules.joined(separator: ", ")); gap = rule − bp, points)\n"
        var plots: [String] = []
        for (i, m) in rules.enumerated() {
            dat += "# \(m)\n"
            for e in budgets { if let g = gap(m, e) { dat += String(format: "%d %.4f %.4f %d\n", e, g.mean, g.std, g.n) } }
            dat += "\n\n"
            plots.append("'\(name).dat' index \(i) using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '\(Figures.palette[(i + 1) % Figures.palette.count])' title '\(m)'")
        }
        plots.append("0 with lines dt 2 lw 2 lc rgb 'black' title 'BP'")
        try dat.write(toFile: dir + "/" + name + ".dat", atomically: true, encoding: .utf8)
        let body = """
        set title "Gap to BP against the training budget — \(title)"
        set xlabel "training epochs (log scale)"
        set ylabel "test accuracy − BP's (points, paired by seed)"
        set logscale x 2
        set xtics (\(Figures.xtics(budgets)))
        set xrange [\(Double(budgets.first!) / 1.3):\(Double(budgets.last!) * 1.3)]
        set key outside right
        set grid
        plot \(plots.joined(separator: ", \\\n     "))
        """
        return try Figures.render(Figures.script(name, body), name: name, dir: dir)
    }

    /// The report's sentences: what the figure shows and the claim's verdict per rule.
    public var reading: [String] {
        var lines: [String] = []
        for m in rules {
            let (v, text) = verdict(m)
            lines.append("- Budget study (\(title)), claim \"the gap to BP shrinks with budget\" for \(m): **\(v.rawValue)**; \(text).")
        }
        return lines
    }
}
