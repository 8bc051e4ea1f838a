// What a learning rule declares about itself, in its own file (Rules/<Rule>.swift): its name, its typed
// settings (key, default, allowed values, one-line doc), whether its blocks are locked to the whole backward
// pass, the cost of its local heads, and how it is built. `Rules.all` (Rules/Registry.swift) lists the rules
// once; the CLI's help and `--set` validation, spec checking, the tables' method order and the tests' method
// list all read that list.

import Engine

/// One learning rule's declaration.
public protocol RuleDefinition {
    /// The name used by `--method`, specs, run files and tables.
    static var name: MethodName { get }
    /// One line for `blocklocal rules` and the help: the paper and what the rule does.
    static var summary: String { get }
    /// The rule's settings, in the order the help lists them.
    static var settings: [Setting] { get }
    /// Blocks wait for the whole backward pass (nothing is detached): they cannot be pipelined.
    static var isLocked: Bool { get }
    /// Run ids: configs of rules that existed in 0.5.0 carry every 0.5.0 setting (each at its default where
    /// another rule owns it), as 0.5.0's one shared config did; newer rules carry only their own settings.
    static var storesLegacyLayout: Bool { get }
    /// Forward MACs of the local head attached to a block whose output is `shape` (batch 1), for the
    /// `balanced` split (0: no head).
    static func headMACs(_ config: MethodConfig, classes: Int, shape: [Int]) -> Int
    /// Builds the rule (the model arrives initialised, already cut into blocks).
    static func make(_ setup: MethodSetup) throws -> LearningRule
}

public extension RuleDefinition {
    static var settings: [Setting] { [] }
    static var isLocked: Bool { false }
    static var storesLegacyLayout: Bool { false }
    /// Rules that train their blocks from local losses (everything but end-to-end BP and FA).
    static var isBlockLocal: Bool { name != .bp && name != .fa }
    static func headMACs(_ config: MethodConfig, classes: Int, shape: [Int]) -> Int { 0 }
}

/// A rule's name: one of the registered rules (`Rules.all`); anything else fails to parse or decode.
public struct MethodName: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    /// A registered name, or nil.
    public init?(rawValue: String) {
        guard Rules.all.contains(where: { $0.name.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }
    /// Declares a rule's name (the rule's own file; listed in `Rules.all`).
    init(declaring name: String) { rawValue = name }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let m = MethodName(rawValue: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown method '\(s)'; allowed: \(MethodName.list)"))
        }
        self = m
    }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(rawValue) }

    public var description: String { rawValue }
    /// Registry order (the tables' order).
    public static func < (a: MethodName, b: MethodName) -> Bool { a.rank < b.rank }
    public var rank: Int { Rules.all.firstIndex { $0.name == self } ?? Rules.all.count }

    /// Every registered rule, in registry order.
    public static var allCases: [MethodName] { Rules.all.map { $0.name } }
    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
    /// The rule's declaration.
    public var rule: RuleDefinition.Type { Rules.all.first { $0.name == self }! }
    public var isLocked: Bool { rule.isLocked }
    public var isBlockLocal: Bool { rule.isBlockLocal }
}

/// A setting's value, typed by its kind.
public enum SettingValue: Hashable, Sendable, CustomStringConvertible {
    case number(Double), integer(Int), flag(Bool), choice(String)
    public var description: String {
        switch self {
        case .number(let v): return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
        case .integer(let v): return String(v)
        case .flag(let v): return String(v)
        case .choice(let v): return v
        }
    }
    var number: Double? { if case .number(let v) = self { return v }; if case .integer(let v) = self { return Double(v) }; return nil }
}

/// One setting of a rule: its key (specs, `--set`), its field in the canonical JSON, its kind and range, its
/// default and its doc.
public struct Setting: Sendable {
    public enum Kind: Sendable {
        /// a finite number in the range; `allowed` says it in words
        case number(ClosedRange<Double>, allowed: String)
        case integer(ClosedRange<Int>)
        /// one of a few numbers (stored as a number)
        case numberIn([Double], allowed: String)
        case flag
        case choice([String])
    }
    public let key: String
    /// The Codable name in the canonical JSON (0.5.0's field names, so run ids stay).
    public let field: String
    public let kind: Kind
    /// What an unstated setting reads as.
    public let defaultValue: SettingValue
    /// What a new config states (nil: nothing, so the setting adds nothing to the run id until it is set).
    public let stated: SettingValue?
    /// Whether a stored config may lack the field (0.5.0's optional fields, settings added since): a missing
    /// field reads as `defaultValue`. Other fields are in every config of their rule.
    public let optionalField: Bool
    public let doc: String

    /// A setting every config of its rule states (its default unless set).
    public init(_ key: String, field: String? = nil, _ kind: Kind, default value: SettingValue, doc: String) {
        self.key = key; self.kind = kind; defaultValue = value; stated = value; optionalField = false; self.doc = doc
        self.field = field ?? Setting.camel(key)
    }

    /// A setting a stored config may lack (it then reads `absent`); a new config states `stated`.
    public init(optional key: String, field: String? = nil, _ kind: Kind, absent: SettingValue, stated: SettingValue? = nil, doc: String) {
        self.key = key; self.kind = kind; defaultValue = absent; self.stated = stated; optionalField = true; self.doc = doc
        self.field = field ?? Setting.camel(key)
    }

    static func camel(_ key: String) -> String {
        let parts = key.split(separator: "_")
        return String(parts[0]) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// The allowed values in words, for errors and help.
    public var allowed: String {
        switch kind {
        case .number(_, let words), .numberIn(_, let words): return words
        case .integer(let r): return "an integer in \(r.lowerBound)...\(r.upperBound)"
        case .flag: return "true, false"
        case .choice(let options): return options.joined(separator: ", ")
        }
    }

    /// Parses and checks `text` (a spec value or `--set` value).
    public func parse(_ text: String) throws -> SettingValue {
        let bad = EngineError.invalidArgument(name: key, value: text, allowed: allowed)
        switch kind {
        case .number, .numberIn:
            guard let v = Double(text) else { throw bad }
            return try check(.number(v))
        case .integer:
            guard let v = Double(text), v == v.rounded(), abs(v) < 1e15 else { throw bad }
            return try check(.integer(Int(v)))
        case .flag:
            guard let v = ["true": true, "false": false][text] else { throw bad }
            return .flag(v)
        case .choice:
            return try check(.choice(text))
        }
    }

    /// Checks a typed value against the kind and range.
    @discardableResult
    public func check(_ value: SettingValue) throws -> SettingValue {
        let ok: Bool
        switch (kind, value) {
        case (.number(let r, _), .number(let v)): ok = v.isFinite && r.contains(v)
        case (.integer(let r), .integer(let v)): ok = r.contains(v)
        case (.numberIn(let values, _), .number(let v)): ok = values.contains(v)
        case (.flag, .flag): ok = true
        case (.choice(let options), .choice(let v)): ok = options.contains(v)
        default: ok = false
        }
        guard ok else { throw EngineError.invalidArgument(name: key, value: value.description, allowed: allowed) }
        return value
    }
}
