// The recipe tables of paper/README.md against the specs: every spec's paper and quick profiles resolve to
// the table's values, and the paper profile states each one (issue 18, item 1); lr_step and the
// canonical form of values that change nothing.

import Engine
@testable import Experiments
import Foundation
@testable import Methods
import XCTest

final class RecipeTableTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    func tables() throws -> [RecipeTable] {
        let path = RecipeTableTests.root.appendingPathComponent("paper/README.md").path
        return try RecipeTable.parse(markdown: try String(contentsOfFile: path, encoding: .utf8), file: path)
    }

    func specPaths() throws -> [String] {
        let dir = RecipeTableTests.root.appendingPathComponent("paper/experiments")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".toml") }.sorted().map { dir.appendingPathComponent($0).path }
    }

    func testEverySpecMatchesItsRecipeTable() throws {
        let tables = try tables()
        let paths = try specPaths()
        XCTAssertGreaterThanOrEqual(paths.count, 6)
        for path in paths {
            let spec = try SweepSpec(path: path)
            guard let table = tables.first(where: { $0.spec == spec.name }) else { XCTFail("paper/README.md has no recipe table for \(spec.name)"); continue }
            XCTAssertEqual(Set(table.rows.map(\.element)), Set(RecipeElement.allCases), "\(spec.name): a row per element")
            for profile in ["paper", "quick"] {
                let problems = try table.problems(spec, profile: profile)
                XCTAssert(problems.isEmpty, problems.joined(separator: "\n"))
            }
        }
    }

    /// The bad input: a paper profile that leaves an element unset that the table names.
    func testAnElementLeftUnsetFailsWithSpecElementAndValue() throws {
        let path = try specPaths().first { $0.hasSuffix("/table1.toml") }!
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssert(text.contains("\ndrop_last = false\n"))
        let spec = try SweepSpec(file: path, text: text.replacingOccurrences(of: "\ndrop_last = false\n", with: "\n"))
        let table = try XCTUnwrap(try tables().first { $0.spec == "table1" })
        let problems = try table.problems(spec, profile: "paper")
        XCTAssertEqual(problems.count, 1, problems.joined(separator: "\n"))
        XCTAssert(problems[0].hasPrefix("table1 [paper]: drop_last is left unset, the table (line "), problems[0])
        XCTAssert(problems[0].contains("says false"), problems[0])
        // a different value is named with both values
        let flipped = try SweepSpec(file: path, text: text.replacingOccurrences(of: "augment = \"crop:2,flip\"", with: "augment = \"flip\""))
        let p2 = try table.problems(flipped, profile: "paper")
        XCTAssert(p2.contains { $0.contains("augment is flip, the table") && $0.contains("says crop:2,flip") && $0.contains("fmnist-resnet18 bp") }, p2.joined(separator: "\n"))
        // and the quick column is checked too
        let quick = try SweepSpec(file: path, text: text.replacingOccurrences(of: "epochs = 2\n", with: "epochs = 3\n"))
        XCTAssert(try table.problems(quick, profile: "quick").contains { $0.contains("epochs is 3") && $0.contains("says 2") })
    }

    func testMalformedTablesAreErrorsAtTheirLine() {
        let bad = "### Recipe: `x`\n| element | runs | paper | quick | source |\n|---|---|---|---|---|\n| optimiser | all | adam | — | y |\n"
        XCTAssertThrowsError(try RecipeTable.parse(markdown: bad, file: "R.md")) { XCTAssert("\($0)".hasPrefix("R.md:4: unknown recipe element 'optimiser'"), "\($0)") }
        let short = "### Recipe: `x`\n| lr | all | 5e-4 |\n"
        XCTAssertThrowsError(try RecipeTable.parse(markdown: short, file: "R.md")) { XCTAssert("\($0)".hasPrefix("R.md:2: a recipe row has 5 cells"), "\($0)") }
    }

    func testValuesAsTheTablesWriteThem() {
        XCTAssertEqual(RecipeElement.number(5e-4), "5e-4")
        XCTAssertEqual(RecipeElement.number(1e-3), "1e-3")
        XCTAssertEqual(RecipeElement.number(0.1), "0.1")
        XCTAssertEqual(RecipeElement.number(2.5e-4), "2.5e-4")
        XCTAssertEqual(RecipeElement.number(400), "400")
        XCTAssert(RecipeElement.matches("0.0005", "5e-4"))
        XCTAssertFalse(RecipeElement.matches("crop:2", "crop:2,flip"))
    }

    /// Values equal to the default are stored as no value, so stating a recipe in full keeps the run id.
    func testCanonicalFormKeepsIDs() throws {
        var c = RunConfig(method: MethodConfig(method: .bll), model: ModelSpec(arch: .resnet18), dataset: "fashion-mnist")
        c.optimizer.schedule = .step; c.optimizer.milestones = [100, 150]
        let id = c.runID
        var stated = c
        stated.augmentation = .none; stated.optimizer.lrStep = .epoch; stated.dropLast = false
        stated.canonicalize()
        XCTAssertEqual(stated.runID, id)
        stated.optimizer.milestones = [0.5]; c.optimizer.milestones = [0.5]; stated.epochs = 3; c.epochs = 3   // 1.5: not a whole epoch
        stated.optimizer.lrStep = .epoch; stated.canonicalize()
        XCTAssertEqual(stated.optimizer.lrStep, .epoch)
        XCTAssertNotEqual(stated.runID, c.runID)
        var cifar = RunConfig(method: MethodConfig(method: .bp), model: ModelSpec(arch: .resnet18), dataset: "cifar10")
        let cid = cifar.runID
        cifar.augmentation = try .init(parsing: "crop:4,flip"); cifar.canonicalize()
        XCTAssertEqual(cifar.runID, cid)
        cifar.optimizer.schedule = .cosine; let cos = cifar.runID
        cifar.optimizer.lrStep = .epoch; cifar.canonicalize()
        XCTAssertNotEqual(cifar.runID, cos, "per-epoch cosine is a different recipe")
        cifar.optimizer.lrStep = .iteration
        XCTAssertEqual(cifar.runID, cos, "per-iteration is the default, stored as no value")
    }
}

extension RecipeTableTests {
    func testAxisCellsStateEachValue() {
        XCTAssert(RecipeElement.matches("any of 1,2,4,8,16", "8"))
        XCTAssertFalse(RecipeElement.matches("any of 1,2,4,8,16", "3"))
        XCTAssertFalse(RecipeElement.matches("1,2,4,8,16", "8"))
    }
}
