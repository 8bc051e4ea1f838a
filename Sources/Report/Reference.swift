// paper/reference.csv: every published number the harness compares against (one per row, with its
// source) and the papers' qualitative claims (metric "claim", with a machine-checkable `claim`:
// `order:a>=b>=c` — methods ranked by accuracy; `flat:T` — the method's accuracy at every K is within T
// points of its K = 1 (backprop) value).

import Foundation

public struct ReferenceRow: Sendable, Equatable {
    public var id, source, artefact, version, dataset, model, method: String
    public var blocks: Int?
    public var metric: String
    public var value: Double?
    public var std: Double?
    public var claim: String
    public var notes: String
    public var isClaim: Bool { metric == "claim" }
    /// The published value as accuracy in percent (error rates become 100 − error).
    public var accuracy: Double? { value.map { metric.contains("error") ? 100 - $0 : $0 } }
}

public enum ReferenceTable {
    public static let columns = ["id", "source", "artefact", "version", "dataset", "model", "method", "blocks", "metric", "value", "std", "claim", "notes"]

    public static func load(_ path: String) throws -> [ReferenceRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("cannot read the reference table \(path); pass --reference paper/reference.csv")
        }
        let rows = CSV.parse(String(decoding: data, as: UTF8.self))
        guard let header = rows.first, header == columns else {
            throw ReportError("\(path): the header must be \(columns.joined(separator: ","))")
        }
        return try rows.dropFirst().enumerated().filter { !$0.element.allSatisfy(\.isEmpty) }.map { i, r in
            guard r.count == columns.count else { throw ReportError("\(path):\(i + 2): \(r.count) fields, expected \(columns.count)") }
            func num(_ s: String, _ name: String) throws -> Double? {
                if s.isEmpty { return nil }
                guard let v = Double(s) else { throw ReportError("\(path):\(i + 2): \(name) '\(s)' is not a number") }
                return v
            }
            return ReferenceRow(id: r[0], source: r[1], artefact: r[2], version: r[3], dataset: r[4], model: r[5], method: r[6],
                                blocks: try num(r[7], "blocks").map { Int($0) }, metric: r[8], value: try num(r[9], "value"),
                                std: try num(r[10], "std"), claim: r[11], notes: r[12])
        }
    }
}

public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// RFC 4180 CSV: quoted fields, doubled quotes, newlines inside quotes.
public enum CSV {
    public static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if quoted {
                if c == "\"" {
                    let n = text.index(after: i)
                    if n < text.endIndex && text[n] == "\"" { field.append("\""); i = n } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { row.append(field); field = "" }
            else if c == "\n" || c == "\r\n" { row.append(field); rows.append(row); row = []; field = "" }
            else if c != "\r" { field.append(c) }
            i = text.index(after: i)
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    public static func escape(_ s: String) -> String {
        s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
