// The run browser behind `runs list`: one row per stored run with typed columns, filtered by
// `field=value` terms, sorted by a column, rendered as an aligned table, CSV or JSON. Rows come from the
// run files' attributes only (no metric series), so listing a store of thousands of runs stays cheap.

import Foundation

public struct RunRow: Codable, Sendable {
    public var id: String
    /// The spec that planned the run and its replicate (the spec's `seed` axis); nil for runs not planned
    /// by a sweep and for files written before they were recorded (format 1).
    public var spec: String?
    public var replicate: Int?
    public var status: String
    public var method: String
    public var model: String
    public var dataset: String
    public var blocks: Int
    public var seed: UInt64
    public var profile: String
    public var parallel: String
    /// The recipe's initialisation ("-": unset, 0.5.0's).
    public var initScheme: String = "-"
    /// Final test accuracy in percent.
    public var accuracy: Double?
    public var epochs: Int
    public var wallSeconds: Double?
    /// The day and time training ended (UTC, "YYYY-MM-DD HH:MM").
    public var date: String
}

public enum RunBrowser {
    /// The columns `--where` and `--sort` accept, in display order.
    public static let fields = ["id", "spec", "status", "method", "model", "dataset", "blocks", "replicate", "seed", "profile", "parallel", "init", "accuracy", "epochs", "wall_s", "date"]
    public static let formats = ["table", "csv", "json"]

    public struct BadQuery: Error, CustomStringConvertible {
        public let description: String
    }

    public static func rows(_ summaries: [RunSummary]) -> [RunRow] {
        summaries.map { s in
            let c = s.config
            let width = c.map { $0.model.arch.family == .resnet || $0.model.arch.family == .vgg ? " w\(formatNumber($0.model.width))" : "" } ?? ""
            let model: String = (c?.model.arch.rawValue ?? "?") + width
            let date = String(s.ended.replacingOccurrences(of: "T", with: " ").prefix(16))
            let accuracy: Double? = s.finalAccuracy.map { 100 * $0 }
            var row = RunRow(id: s.id, spec: s.origin?.spec, replicate: s.origin?.replicate, status: s.status, method: c?.method.method.rawValue ?? "?",
                             model: model, dataset: c?.dataset.rawValue ?? "?", blocks: c?.blocks ?? 0, seed: c?.seed ?? 0, profile: c?.profile ?? "",
                             parallel: c?.parallel?.rawValue ?? "sequential", accuracy: accuracy, epochs: s.epochs, wallSeconds: s.seconds, date: date)
            row.initScheme = c?.initScheme?.rawValue ?? "-"
            return row
        }
    }

    static func formatNumber(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }

    /// The value of `field` as text (what `--where` compares and the table prints).
    public static func value(_ r: RunRow, _ field: String) -> String {
        switch field {
        case "id": return r.id
        case "spec": return r.spec ?? "-"
        case "replicate": return r.replicate.map(String.init) ?? "-"
        case "status": return r.status
        case "method": return r.method
        case "model": return r.model
        case "dataset": return r.dataset
        case "blocks": return String(r.blocks)
        case "seed": return String(r.seed)
        case "profile": return r.profile
        case "parallel": return r.parallel
        case "init": return r.initScheme
        case "accuracy": return r.accuracy.map { String(format: "%.2f", $0) } ?? "-"
        case "epochs": return String(r.epochs)
        case "wall_s": return r.wallSeconds.map { String(format: "%.0f", $0) } ?? "-"
        case "date": return r.date
        default: return ""
        }
    }

    static func checkField(_ f: String, _ flag: String) throws {
        guard fields.contains(f) else {
            throw BadQuery(description: "unknown field '\(f)' for \(flag): allowed \(fields.joined(separator: ", "))")
        }
    }

    /// Keeps the rows matching every `field=value` term (`id` matches a prefix; `model` also matches its
    /// architecture alone, e.g. model=resnet18).
    public static func filter(_ rows: [RunRow], where terms: [String]) throws -> [RunRow] {
        var out = rows
        for term in terms {
            let parts = term.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw BadQuery(description: "--where expects field=value, got '\(term)'; fields: \(fields.joined(separator: ", "))") }
            try checkField(parts[0], "--where")
            let (f, v) = (parts[0], parts[1])
            out = out.filter { r in
                let x = value(r, f)
                switch f {
                case "id": return x.hasPrefix(v)
                case "model": return x == v || x.split(separator: " ").first.map(String.init) == v
                case "accuracy", "wall_s": return Double(x).flatMap { a in Double(v).map { abs(a - $0) < 1e-9 } } ?? (x == v)
                default: return x == v
                }
            }
        }
        return out
    }

    /// Sorted by `field` (numbers numerically, accuracy, wall time and date highest first; ties by id).
    public static func sort(_ rows: [RunRow], by field: String) throws -> [RunRow] {
        try checkField(field, "--sort")
        func key(_ r: RunRow) -> Double? {
            switch field {
            case "blocks": return Double(r.blocks)
            case "replicate": return Double(r.replicate ?? -1)
            case "seed": return Double(r.seed)
            case "epochs": return Double(r.epochs)
            case "accuracy": return r.accuracy ?? -1
            case "wall_s": return r.wallSeconds ?? -1
            default: return nil
            }
        }
        let descending = ["accuracy", "wall_s", "date"].contains(field)
        return rows.sorted { a, b in
            if let x = key(a), let y = key(b), x != y { return descending ? x > y : x < y }
            let x = value(a, field), y = value(b, field)
            if key(a) == nil, x != y { return descending ? x > y : x < y }
            return a.id < b.id
        }
    }

    public static func render(_ rows: [RunRow], format: String) throws -> String {
        switch format {
        case "json":
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try enc.encode(rows), as: UTF8.self) + "\n"
        case "csv":
            func quote(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
            return ([fields.joined(separator: ",")] + rows.map { r in fields.map { quote(value(r, $0)) }.joined(separator: ",") }).joined(separator: "\n") + "\n"
        case "table":
            let header = fields.map { $0 == "accuracy" ? "acc %" : $0 }
            let cells = rows.map { r in fields.map { f in f == "id" ? String(r.id.prefix(12)) : value(r, f) } }
            let widths = header.indices.map { i in max(header[i].count, cells.map { $0[i].count }.max() ?? 0) }
            let numeric: Set<String> = ["blocks", "replicate", "seed", "accuracy", "epochs", "wall_s"]
            func line(_ c: [String]) -> String {
                c.indices.map { i in
                    let pad = String(repeating: " ", count: widths[i] - c[i].count)
                    return numeric.contains(fields[i]) ? pad + c[i] : c[i] + pad
                }.joined(separator: "  ")
            }
            return ([line(header)] + cells.map(line)).joined(separator: "\n") + "\n"
        default:
            throw BadQuery(description: "unknown --format '\(format)': allowed \(formats.joined(separator: ", "))")
        }
    }
}
