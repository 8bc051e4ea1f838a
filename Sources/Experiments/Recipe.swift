// Recipe: the training recipe of a run, element by element (optimizer, lr, schedule and its stepping,
// weight decay and what it covers, batch, drop-last, augmentation, init, epochs, split), and the check of a
// spec's resolved runs against the recipe table `paper/README.md` gives for it.
//   table:  | element | runs | paper | quick | source |     runs: all, or method/setting names (comma list)
//           quick "—": as paper. A value other than "n/a" or "unset" must be stated by the spec itself
//           (fixed, grid, setting, method table or profile), not left to a default.

import Datasets
import Foundation
import Methods

public enum RecipeElement: String, CaseIterable, Sendable {
    case optimizer, lr, momentum
    case weightDecay = "weight_decay"
    case decayCovers = "decay_covers"
    case schedule
    case lrStep = "lr_step"
    case batch
    case dropLast = "drop_last"
    case augment, `init`, epochs, split

    /// The spec keys that state this element (any one of them counts).
    var specKeys: [String] {
        switch self {
        case .decayCovers: return ["no_decay_on_norm"]
        default: return [rawValue]
        }
    }

    /// The element's value in `c`, as the recipe tables write it; "n/a" where the run does not read it.
    public func value(_ c: RunConfig) -> String {
        let o = c.optimizer, images = !c.isSequenceTask
        func num(_ x: Double) -> String { RecipeElement.number(x) }
        switch self {
        case .optimizer: return o.kind.rawValue
        case .lr: return num(o.lr)
        case .momentum: return o.kind == .sgd ? num(o.momentum) + (o.nesterov ? " nesterov" : "") : "n/a"
        case .weightDecay: return num(o.weightDecay)
        case .decayCovers: return o.weightDecay == 0 ? "n/a" : (o.noDecayOnNorm ? "all but normalisation" : "all parameters")
        case .schedule:
            var s: String
            switch o.schedule {
            case .constant: s = "constant"
            case .step: s = o.milestones.isEmpty ? "constant" : "step at " + o.milestones.map(num).joined(separator: ",") + " x" + num(o.gamma)
            case .cosine: s = "cosine to 0 over " + (o.period > 0 ? num(o.period) : "the run")
            case .cycle: s = "cycle peaking at " + num(o.cyclePeak)
            }
            if o.warmupEpochs > 0 { s += ", warm-up " + num(o.warmupEpochs) }
            return s
        case .lrStep:
            if o.epochSteppingIsExact(epochs: c.epochs) { return "n/a" }
            return (o.lrStep ?? .iteration).rawValue
        case .batch: return String(c.batch)
        case .dropLast: return images ? String(c.dropLast ?? false) : "n/a"
        case .augment:
            guard images else { return "n/a" }
            return (c.augmentation ?? (try? Registry.definition(c.dataset))?.augmentation ?? .none).description
        case .`init`: return c.initScheme?.rawValue ?? "unset"
        case .epochs: return String(c.epochs)
        case .split: return c.split.description
        }
    }

    /// Shortest form: 0.0005 → "5e-4", 0.1 → "0.1", 400 → "400".
    static func number(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e9 { return String(Int(x)) }
        if abs(x) < 1e-2 {
            let e = Int(floor(log10(abs(x)))), m = x / pow(10, Double(e))
            let ms = m == m.rounded() ? String(Int(m)) : String(m)
            return "\(ms)e\(e)"
        }
        return String(x)
    }

    /// Whether a table cell states this value: the same text, or the same number; "any of 1,2,4" (an axis
    /// of the grid) states each of its values.
    static func matches(_ cell: String, _ value: String) -> Bool {
        if cell == value { return true }
        if cell.hasPrefix("any of ") { return cell.dropFirst(7).split(separator: ",").contains { matches($0.trimmingCharacters(in: .whitespaces), value) } }
        if let a = Double(cell), let b = Double(value) { return a == b }
        return false
    }
}

/// One row of a recipe table.
public struct RecipeRow: Sendable, Equatable {
    public var element: RecipeElement
    /// nil: every run; else the method and setting names it covers.
    public var runs: Set<String>?
    public var paper: String
    /// nil: as paper.
    public var quick: String?
    public var source: String
    public var line: Int

    func covers(_ r: PlannedRun) -> Bool {
        guard let runs else { return true }
        return runs.contains(r.config.method.method.rawValue) || r.setting.map(runs.contains) == true
    }
}

public struct RecipeTable: Sendable {
    public var spec: String
    public var rows: [RecipeRow]

    /// The recipe tables of a markdown file: each follows a heading that names its spec in backquotes
    /// after "Recipe:" ("### Recipe: `table1`"). A malformed row is an error naming its line.
    public static func parse(markdown: String, file: String) throws -> [RecipeTable] {
        var tables: [RecipeTable] = []
        for (i, raw) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces), n = i + 1
            if line.hasPrefix("#"), let r = line.range(of: "Recipe: `") {
                let rest = line[r.upperBound...]
                guard let end = rest.firstIndex(of: "`") else { throw SpecError(file: file, line: n, message: "a recipe heading names its spec in backquotes") }
                tables.append(RecipeTable(spec: String(rest[..<end]), rows: []))
                continue
            }
            guard line.hasPrefix("|"), !tables.isEmpty else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.first == "element" || cells.allSatisfy({ $0.allSatisfy { "-: ".contains($0) } }) { continue }
            guard cells.count == 5 else { throw SpecError(file: file, line: n, message: "a recipe row has 5 cells (element | runs | paper | quick | source), this has \(cells.count)") }
            let name = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            guard let element = RecipeElement(rawValue: name) else {
                throw SpecError(file: file, line: n, message: "unknown recipe element '\(name)'; allowed: \(RecipeElement.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let scope = cells[1] == "all" ? nil : Set(cells[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`")) })
            func value(_ s: String) -> String { s.trimmingCharacters(in: CharacterSet(charactersIn: "`")) }
            tables[tables.count - 1].rows.append(RecipeRow(element: element, runs: scope, paper: value(cells[2]),
                                                           quick: cells[3] == "—" ? nil : value(cells[3]), source: cells[4], line: n))
        }
        return tables
    }

    /// Every disagreement between the table and the spec's runs under `profile` ("paper" or "quick"), one
    /// line each naming the spec, the element, the runs and the expected value; empty when they agree.
    /// Under `paper`, a stated value (not "n/a" or "unset") must also be stated by the spec.
    public func problems(_ spec: SweepSpec, profile: String) throws -> [String] {
        var out: [String] = []
        let runs = try spec.plan(profile: profile)
        for element in RecipeElement.allCases {
            let rows = self.rows.filter { $0.element == element }
            guard !rows.isEmpty else { out.append("\(spec.name): the table has no row for \(element.rawValue)"); continue }
            var order: [String] = [], who: [String: [String]] = [:]
            for r in runs {
                let specific = rows.filter { $0.runs != nil && $0.covers(r) }
                let chosen = specific.isEmpty ? rows.filter { $0.runs == nil } : specific
                let problem: String?
                if chosen.count == 1, let row = chosen.first {
                    let expected = profile == "quick" ? (row.quick ?? row.paper) : row.paper
                    let actual = element.value(r.config)
                    if !RecipeElement.matches(expected, actual) {
                        problem = "\(element.rawValue) is \(actual), the table (line \(row.line)) says \(expected)"
                    } else if profile == "paper", !["n/a", "unset"].contains(expected), r.statedKeys.isDisjoint(with: element.specKeys) {
                        problem = "\(element.rawValue) is left unset, the table (line \(row.line)) says \(expected)"
                    } else { problem = nil }
                } else {
                    problem = "\(chosen.isEmpty ? "no" : "\(chosen.count)") rows of \(element.rawValue) cover it"
                }
                guard let problem else { continue }
                if who[problem] == nil { order.append(problem) }
                if who[problem]?.contains(r.name) != true { who[problem, default: []].append(r.name) }
            }
            for p in order {
                let names = who[p]!
                let shown = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
                out.append("\(spec.name) [\(profile)]: \(p) (\(shown))")
            }
        }
        return out
    }
}

extension RecipeTable {
    /// The recipe the spec's runs under `profile` resolve to: per element, each distinct value with the
    /// runs (setting and method names) that have it — what a recipe table of this spec would say.
    public static func resolved(_ spec: SweepSpec, profile: String) throws -> [(element: RecipeElement, runs: String, value: String)] {
        let runs = try spec.plan(profile: profile)
        let settings = Set(runs.compactMap(\.setting)), methods = Set(runs.map { $0.config.method.method.rawValue })
        var out: [(RecipeElement, String, String)] = []
        for element in RecipeElement.allCases {
            var order: [String] = [], who: [String: [PlannedRun]] = [:]
            for r in runs {
                let v = element.value(r.config)
                if who[v] == nil { order.append(v) }
                who[v, default: []].append(r)
            }
            for v in order {
                let mine = who[v]!
                // name the settings or the methods whose runs all have this value, else each setting/method
                func all(_ key: (PlannedRun) -> String?, _ names: Set<String>) -> [String]? {
                    let hit = Set(mine.compactMap(key))
                    guard !hit.isEmpty, runs.filter({ key($0).map(hit.contains) == true }).allSatisfy({ element.value($0.config) == v }) else { return nil }
                    return names.filter(hit.contains).sorted()
                }
                let scope = order.count == 1 ? "all"
                    : (all({ $0.setting }, settings) ?? all({ $0.config.method.method.rawValue }, methods)
                       ?? mine.map(\.name)
                           .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }).joined(separator: ", ")
                out.append((element, scope, v))
            }
        }
        return out
    }
}
