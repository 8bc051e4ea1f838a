import XCTest
import Foundation
@testable import Engine
@testable import Methods
@testable import Experiments

/// `runs list`: typed rows from run files, filters, sorts and the three formats; bad fields and formats
/// are errors that list what is allowed.
final class RunBrowserTests: XCTestCase {
    func testFilterSortAndFormats() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-browser-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let runs: [(MethodName, Int, Double, Double)] = [(.bll, 4, 0.81, 30), (.bll, 2, 0.85, 20), (.predsim, 4, 0.79, 50)]
        for (i, (m, k, acc, secs)) in runs.enumerated() {
            var spec = ModelSpec(arch: .resnet18); spec.width = 0.25
            var c = RunConfig(method: MethodConfig(method: m), model: spec, dataset: "fashion-mnist")
            c.blocks = k; c.seed = UInt64(i); c.profile = "quick"
            let r = [EpochRecord(epoch: 1, lr: 1e-3, losses: ["out.ce": 1], testAccuracy: acc, testSequenceAccuracy: nil,
                                 headAccuracy: [:], diagnostics: [:], seconds: secs, samplesPerSecond: 100)]
            try RunFile.write(dir + "/" + c.runID + ".h5", config: c, status: .done, error: "", records: r,
                              provenance: Provenance(values: [:], gitDiff: ""), started: Date(timeIntervalSince1970: Double(i) * 1000),
                              ended: Date(timeIntervalSince1970: Double(i) * 1000 + secs))
        }
        let rows = RunBrowser.rows(RunStore(directory: dir).summaries())
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(try RunBrowser.filter(rows, where: ["method=bll"]).count, 2)
        XCTAssertEqual(try RunBrowser.filter(rows, where: ["method=bll", "blocks=4"]).map(\.accuracy), [81])
        XCTAssertEqual(try RunBrowser.filter(rows, where: ["model=resnet18"]).count, 3, "the architecture alone matches")
        XCTAssertEqual(try RunBrowser.sort(rows, by: "accuracy").map(\.accuracy), [85, 81, 79])
        XCTAssertEqual(try RunBrowser.sort(rows, by: "wall_s").map(\.wallSeconds), [50, 30, 20])
        XCTAssertEqual(try RunBrowser.sort(rows, by: "date").map(\.seed), [2, 1, 0], "newest first")
        XCTAssertEqual(rows.first { $0.method == "predsim" }?.model, "resnet18 w0.25")
        XCTAssertThrowsError(try RunBrowser.filter(rows, where: ["colour=red"])) { e in
            XCTAssert("\(e)".contains("unknown field 'colour'") && "\(e)".contains("method, model"), "\(e)")
        }
        XCTAssertThrowsError(try RunBrowser.sort(rows, by: "speed"))
        XCTAssertThrowsError(try RunBrowser.render(rows, format: "xml")) { e in XCTAssert("\(e)".contains("allowed table, csv, json"), "\(e)") }
        let csv = try RunBrowser.render(rows, format: "csv").split(separator: "\n")
        XCTAssertEqual(csv[0], "id,spec,status,method,model,dataset,blocks,replicate,seed,profile,parallel,init,accuracy,epochs,wall_s,date")
        XCTAssertEqual(csv.count, 4)
        let json = try JSONDecoder().decode([RunRow].self, from: Data(try RunBrowser.render(rows, format: "json").utf8))
        XCTAssertEqual(json.map(\.id), rows.map(\.id))
        let table = try RunBrowser.render(rows, format: "table")
        XCTAssert(table.hasPrefix("id ") && table.contains("acc %") && table.contains("85.00"), table)
    }
}
