// Sweep spec files: TOML, in the subset a spec needs — [tables] and [dotted.tables], key = value with
// strings, integers, floats, booleans and one-line arrays of those, # comments. Anything else is an
// error with the file and line. Every value keeps its line, so later checks (unknown key, wrong type,
// empty axis, unknown profile) can say where the problem is.

import Foundation

public struct SpecValue: Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case string(String), int(Int), double(Double), bool(Bool), array([SpecValue]) }
    public let kind: Kind
    public let line: Int

    public var description: String {
        switch kind {
        case .string(let s): return "\"\(s)\""
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }
    public var isArray: Bool { if case .array = kind { return true }; return false }
    /// The value as a list (a scalar is a list of one).
    public var list: [SpecValue] { if case .array(let a) = kind { return a }; return [self] }
}

public struct SpecError: Error, CustomStringConvertible {
    public let file: String, line: Int, message: String
    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// A parsed spec: table name ("" for the top) → ordered (key, value) pairs, and each table's line.
public struct SpecDocument: Sendable {
    public let file: String
    public var tables: [String: [(String, SpecValue)]] = [:]
    public var tableLines: [String: Int] = [:]
    public var tableOrder: [String] = []

    public init(file: String, text: String) throws {
        self.file = file
        var current = ""
        tables[""] = []; tableOrder = [""]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            let s = SpecDocument.stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if s.isEmpty { continue }
            if s.hasPrefix("[") {
                guard s.hasSuffix("]"), !s.hasPrefix("[["), s.count > 2 else {
                    throw SpecError(file: file, line: line, message: "expected a table header like [grid]; arrays of tables are not supported")
                }
                current = String(s.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard current.split(separator: ".").allSatisfy({ SpecDocument.isBareKey(String($0)) }) else {
                    throw SpecError(file: file, line: line, message: "invalid table name [\(current)]")
                }
                guard tables[current] == nil else { throw SpecError(file: file, line: line, message: "table [\(current)] appears twice") }
                tables[current] = []; tableLines[current] = line; tableOrder.append(current)
                continue
            }
            guard let eq = s.firstIndex(of: "=") else { throw SpecError(file: file, line: line, message: "expected key = value") }
            let key = s[..<eq].trimmingCharacters(in: .whitespaces)
            guard SpecDocument.isBareKey(key) else { throw SpecError(file: file, line: line, message: "invalid key '\(key)' (letters, digits, _ and -)") }
            guard !(tables[current]!.contains { $0.0 == key }) else { throw SpecError(file: file, line: line, message: "key '\(key)' appears twice in [\(current)]") }
            var rest = Substring(s[s.index(after: eq)...].trimmingCharacters(in: .whitespaces))
            let value = try SpecDocument.parseValue(&rest, line: line, file: file)
            guard rest.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SpecError(file: file, line: line, message: "unexpected text after the value: '\(rest)'")
            }
            tables[current]!.append((key, value))
        }
    }

    static func isBareKey(_ k: String) -> Bool {
        !k.isEmpty && k.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" }
    }

    static func stripComment(_ s: String) -> String {
        var inString = false, quote: Character = "\""
        for (i, c) in s.enumerated() {
            if inString { if c == quote { inString = false } }
            else if c == "\"" || c == "'" { inString = true; quote = c }
            else if c == "#" { return String(s.prefix(i)) }
        }
        return s
    }

    /// Arrays nest at most this deep (a spec needs 1; a crafted file of 100 000 brackets must not
    /// overflow the stack).
    static let maxDepth = 8

    static func parseValue(_ s: inout Substring, line: Int, file: String, depth: Int = 0) throws -> SpecValue {
        guard depth <= maxDepth else { throw SpecError(file: file, line: line, message: "arrays nested more than \(maxDepth) deep") }
        s = s.drop { $0 == " " || $0 == "\t" }
        guard let c = s.first else { throw SpecError(file: file, line: line, message: "missing value") }
        if c == "\"" || c == "'" {
            s = s.dropFirst()
            guard let end = s.firstIndex(of: c) else { throw SpecError(file: file, line: line, message: "unterminated string") }
            let v = String(s[..<end]); s = s[s.index(after: end)...]
            return SpecValue(kind: .string(v), line: line)
        }
        if c == "[" {
            s = s.dropFirst()
            var items: [SpecValue] = []
            while true {
                s = s.drop { $0 == " " || $0 == "\t" }
                if s.first == "]" { s = s.dropFirst(); break }
                items.append(try parseValue(&s, line: line, file: file, depth: depth + 1))
                s = s.drop { $0 == " " || $0 == "\t" }
                if s.first == "," { s = s.dropFirst(); continue }
                if s.first == "]" { s = s.dropFirst(); break }
                throw SpecError(file: file, line: line, message: "expected , or ] in an array (arrays must be on one line)")
            }
            return SpecValue(kind: .array(items), line: line)
        }
        let token = String(s.prefix { !",] \t".contains($0) })
        s = s.dropFirst(token.count)
        if token == "true" { return SpecValue(kind: .bool(true), line: line) }
        if token == "false" { return SpecValue(kind: .bool(false), line: line) }
        let clean = token.replacingOccurrences(of: "_", with: "")
        if let i = Int(clean) { return SpecValue(kind: .int(i), line: line) }
        if let d = Double(clean), d.isFinite { return SpecValue(kind: .double(d), line: line) }
        throw SpecError(file: file, line: line, message: "cannot read value '\(token)' (strings need quotes)")
    }
}
