// A run's learning rule and that rule's settings, as one typed value. The settings are those the rule's
// file declares (`RuleDefinition.settings`): set by key from specs and `--set`, checked against their
// declared ranges when set, read typed by the rule. Its canonical JSON is 0.5.0's, so run ids stay: rules
// that existed in 0.5.0 carry every 0.5.0 setting (other rules' at their defaults), newer rules only theirs.

import Engine

public struct MethodConfig: Hashable, Sendable, Codable {
    public let method: MethodName
    /// The stated settings by key: every setting of the rule a new config states, plus those set since.
    public private(set) var values: [String: SettingValue] = [:]

    public init(method: MethodName) {
        self.method = method
        for s in method.rule.settings { if let v = s.stated { values[s.key] = v } }
    }

    /// The keys `method` reads.
    public static func keys(for m: MethodName) -> [String] { m.rule.settings.map(\.key) }
    /// Every registered rule's keys (allowed outside [method.M] in specs).
    public static var allKeys: Set<String> { Set(MethodName.allCases.flatMap(keys(for:))) }
    public var settings: [Setting] { method.rule.settings }

    func setting(_ key: String) -> Setting {
        guard let s = settings.first(where: { $0.key == key }) else { preconditionFailure("\(method) has no setting '\(key)'") }
        return s
    }

    /// A setting's value: as stated, else its default.
    public func value(_ key: String) -> SettingValue { values[key] ?? setting(key).defaultValue }
    public func isStated(_ key: String) -> Bool { values[key] != nil }
    public func number(_ key: String) -> Double { value(key).number ?? 0 }
    public func integer(_ key: String) -> Int { if case .integer(let v) = value(key) { return v }; return Int(number(key)) }
    public func flag(_ key: String) -> Bool { if case .flag(let v) = value(key) { return v }; return false }
    public func choice<T: RawRepresentable>(_ key: String, as _: T.Type = T.self) -> T where T.RawValue == String {
        guard case .choice(let v) = value(key), let t = T(rawValue: v) else { preconditionFailure("\(method).\(key) is not a \(T.self)") }
        return t
    }

    /// States a value without checking it (typed setters in the rules' files; `validate` checks).
    public mutating func state(_ key: String, _ value: SettingValue?) {
        _ = setting(key)
        values[key] = value
    }

    /// Sets settings by key from text; an unknown key or a value outside its declared range is an error.
    public mutating func apply(_ settings: [String: String]) throws {
        let allowed = MethodConfig.keys(for: method)
        for (key, text) in settings.sorted(by: { $0.key < $1.key }) {
            guard allowed.contains(key) else {
                throw EngineError.invalidArgument(name: "setting for \(method.rawValue)", value: key,
                                                  allowed: allowed.isEmpty ? "none (this method has no settings)" : allowed.joined(separator: ", "))
            }
            values[key] = try setting(key).parse(text)
        }
    }

    /// Checks every stated value against its declaration.
    public func validate() throws {
        for s in settings { if let v = values[s.key] { try s.check(v) } }
    }

    /// The fields (their Codable names) this config's method reads, `method` included.
    public var fieldsInUse: Set<String> { Set(["method"] + settings.map(\.field)) }

    // MARK: canonical JSON

    struct Field: CodingKey {
        var stringValue: String; var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue s: String) { stringValue = s }
        init?(intValue _: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Field.self)
        try c.encode(method, forKey: Field("method"))
        func put(_ v: SettingValue, _ field: String) throws {
            switch v {
            case .number(let x): try c.encode(x, forKey: Field(field))
            case .integer(let x): try c.encode(x, forKey: Field(field))
            case .flag(let x): try c.encode(x, forKey: Field(field))
            case .choice(let x): try c.encode(x, forKey: Field(field))
            }
        }
        for s in settings {
            if let v = values[s.key] { try put(v, s.field) } else if !s.optionalField { try put(s.defaultValue, s.field) }
        }
        guard method.rule.storesLegacyLayout else { return }
        for rule in Rules.all where rule.storesLegacyLayout && rule.name != method {
            for s in rule.settings where !s.optionalField { try put(s.defaultValue, s.field) }
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Field.self)
        self.init(method: try c.decode(MethodName.self, forKey: Field("method")))
        values = [:]
        for s in settings {
            let key = Field(s.field)
            guard c.contains(key) else {
                if !s.optionalField { values[s.key] = s.defaultValue }
                continue
            }
            let v: SettingValue
            switch s.kind {
            case .number, .numberIn: v = .number(try c.decode(Double.self, forKey: key))
            case .integer: v = .integer(try c.decode(Int.self, forKey: key))
            case .flag: v = .flag(try c.decode(Bool.self, forKey: key))
            case .choice: v = .choice(try c.decode(String.self, forKey: key))
            }
            do { try s.check(v) } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(error)")
            }
            values[s.key] = v
        }
    }
}
