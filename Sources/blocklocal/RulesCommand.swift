import ArgumentParser
import Methods

/// `blocklocal rules`: every registered learning rule with its settings (key, default, allowed values, doc),
/// read from the registry (Methods/Rules/Registry.swift).
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rules",
        abstract: "List the learning rules and their settings (keys for --set and spec tables).")

    @Argument(help: "One rule to describe (default: all).") var rule: String?

    /// "predsim: beta, dim_in_decoder; bll: …" for the `--set` help.
    static var keyList: String {
        MethodName.allCases.filter { !$0.rule.settings.isEmpty }
            .map { "\($0): " + $0.rule.settings.map(\.key).joined(separator: ", ") }.joined(separator: "; ")
    }

    func run() throws {
        var names = MethodName.allCases
        if let rule {
            guard let m = MethodName(rawValue: rule) else {
                throw ValidationError("unknown rule '\(rule)': allowed \(MethodName.list)")
            }
            names = [m]
        }
        for m in names {
            let r = m.rule
            print("\(m.rawValue)\(r.isLocked ? " (locked: blocks wait for the whole backward pass)" : "")")
            print("  \(r.summary)")
            for s in r.settings {
                print("  " + s.key.padded(22) + ("default " + s.defaultValue.description).padded(18) + "allowed: " + s.allowed)
                print("  " + "".padded(22) + s.doc)
            }
        }
    }
}
