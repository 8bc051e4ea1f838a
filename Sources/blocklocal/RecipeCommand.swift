// `blocklocal recipe SPEC`: the training recipe a spec's runs resolve to, element by element, and with
// --check the comparison with the recipe tables of a markdown file (paper/README.md).

import ArgumentParser
import Experiments
import Foundation

struct RecipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipe",
        abstract: "Print the recipe (optimizer, lr, schedule, weight decay, batch, drop-last, augmentation, init, epochs, split) a spec resolves to.")

    @Argument(help: "A sweep spec (paper/experiments/NAME.toml).") var spec: String
    @Option(help: "The profile to resolve.") var profile: String = "paper"
    @Option(help: "Check the spec against the recipe tables of this markdown file (paper/README.md): paper and quick profiles.") var check: String?

    func run() throws {
        let s = try SweepSpec(path: spec)
        guard let check else {
            print("| element | runs | \(profile) |\n|---|---|---|")
            for row in try RecipeTable.resolved(s, profile: profile) { print("| \(row.element.rawValue) | \(row.runs) | \(row.value) |") }
            return
        }
        guard let data = FileManager.default.contents(atPath: check) else { throw ValidationError("cannot read \(check); check the path") }
        let tables = try RecipeTable.parse(markdown: String(decoding: data, as: UTF8.self), file: check)
        guard let table = tables.first(where: { $0.spec == s.name }) else {
            throw ValidationError("\(check) has no recipe table for \(s.name) (a heading \"### Recipe: `\(s.name)`\")")
        }
        let problems = try table.problems(s, profile: "paper") + (s.profiles.contains("quick") ? try table.problems(s, profile: "quick") : [])
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "\n")) }
        print("\(s.name): the paper and quick profiles match the recipe table of \(check)")
    }
}
