import XCTest
import Foundation
@testable import Experiments
import Datasets
import Engine
import Store

/// Mutated inputs from a fixed seed: specs, IDX headers, tar headers and run files. Every one must be read
/// or refused with an error: no crash, no hang. `make test` runs a few thousand in seconds;
/// BLOCKLOCAL_FUZZ=N runs N of each kind (and BLOCKLOCAL_FUZZ_SEED another seed).
final class FuzzTests: XCTestCase {
    /// Inputs of each kind (specs take the longest: each valid one is planned); the defaults keep the
    /// three tests near 5 s in all.
    let count = Int(ProcessInfo.processInfo.environment["BLOCKLOCAL_FUZZ"] ?? "") ?? 2000
    let seed = UInt64(ProcessInfo.processInfo.environment["BLOCKLOCAL_FUZZ_SEED"] ?? "") ?? 20261130
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Byte-level mutations: flips, deletions, duplications and insertions of tokens that matter to the format.
    func mutate(_ input: [UInt8], _ rng: inout RandomStream, tokens: [[UInt8]]) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + rng.below(4)) {
            guard !b.isEmpty else { b = tokens[rng.below(tokens.count)]; continue }
            let i = rng.below(b.count)
            switch rng.below(5) {
            case 0: b[i] ^= UInt8(1 << rng.below(8))
            case 1: b.removeSubrange(i..<min(b.count, i + 1 + rng.below(16)))
            case 2: let n = min(b.count - i, 1 + rng.below(32)); b.insert(contentsOf: b[i..<(i + n)], at: i)
            case 3: b.insert(contentsOf: tokens[rng.below(tokens.count)], at: i)
            default: b[i] = UInt8(rng.below(256))
            }
        }
        return b
    }

    func testMutatedSpecsAreReadOrRefused() throws {
        var rng = RandomStream(seed: seed, name: "fuzz/spec")
        let dir = FuzzTests.root.appendingPathComponent("paper/experiments")
        let specs = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".toml") }.sorted()
            .map { Array(try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8).utf8) }
        let tokens = ["[", "]", "=", "\"", "\n", ",", "-1", "0", "1e300", "nan", "9223372036854775807", "[[[[", "[grid]\n",
                      "[profile.smoke]\n", "seed = ", "blocks = ", "hidden = [", "#", "'", "method = [\"bll\"]\n"].map { Array($0.utf8) }
        var planned = 0, refused = 0
        for _ in 0..<max(1, count / 6) {
            let text = String(decoding: mutate(specs[rng.below(specs.count)], &rng, tokens: tokens), as: UTF8.self)
            do {
                let spec = try SweepSpec(file: "fuzz.toml", text: text)
                _ = try spec.plan(profile: "smoke"); planned += 1
            } catch { refused += 1 }
        }
        XCTAssertEqual(planned + refused, max(1, count / 6))
        XCTAssertGreaterThan(refused, 0); XCTAssertGreaterThan(planned, 0, "some mutations keep a valid spec")
    }

    func testMutatedIDXAndTarHeadersAreReadOrRefused() throws {
        var rng = RandomStream(seed: seed, name: "fuzz/archives")
        let idx: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2] + [UInt8](repeating: 7, count: 8)
        let tar = [UInt8](Archive.tar([("a/b.bin", Data(repeating: 3, count: 700)), ("c.bin", Data(repeating: 4, count: 10))]))
        let tokens = [[0xff, 0xff, 0xff, 0xff], [0x7f, 0xff, 0xff, 0xff], [0, 0, 0, 0], Array("-1".utf8), Array("77777777777".utf8),
                      Array("../".utf8), [0]]
        for _ in 0..<count {
            _ = try? Parsers.idx(mutate(idx, &rng, tokens: tokens), name: "fuzz.idx", dimensions: 3)
            _ = try? Archive.untar(Data(mutate(tar, &rng, tokens: tokens)), name: "fuzz.tar")
        }
    }

    /// Run files with a random structure: attributes missing or of another type, series of other lengths
    /// or element types, groups missing. The readers answer or throw.
    func testCraftedRunFilesAreReadOrRefused() throws {
        var rng = RandomStream(seed: seed, name: "fuzz/runfile")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = RunConfig(method: .init(method: .bll), model: .init(arch: .resnet18), dataset: "fashion-mnist")
        let attributes: [(String, [AttributeValue])] = [
            ("run_id", [.text(config.runID), .text("../../x"), .int(3), .text("")]),
            ("status", [.text("done"), .text("failed"), .text("weird"), .int(1)]),
            ("config_json", [.text(config.canonicalJSON), .text("{"), .text("{}"), .int(0), .text(String(config.canonicalJSON.prefix(40)))]),
            ("format_version", [.int(2), .int(1), .int(99), .text("2"), .double(.nan)]),
            ("origin.spec", [.text("s"), .int(4)]), ("origin.replicate", [.int(0), .text("zero"), .ints([1, 2])]),
            ("provenance.threads", [.int(2), .text("2"), .doubles([])]), ("started", [.text("2026-11-30T00:00:00Z"), .int(5)]),
        ]
        let n = max(1, count / 6)
        for i in 0..<n {
            let path = dir.appendingPathComponent("\(i).h5").path
            do {
                let f = try HDF5File.create(path)
                for (name, values) in attributes where rng.below(5) > 0 { try f.root.setAttribute(name, values[rng.below(values.count)]) }
                let epochs = rng.below(4)
                if rng.below(6) > 0 { try f.root.write("metrics/epoch", (0..<epochs).map { Int32($0 + 1) }) }
                for series in ["lr", "test_accuracy", "seconds", "samples_per_second", "loss/out.ce", "head_accuracy/b1", "pipeline/b1.busy_s"]
                where rng.below(4) > 0 {
                    let len = rng.below(3) == 0 ? rng.below(6) : epochs
                    if rng.below(8) == 0 { try f.root.write("metrics/" + series, (0..<len).map { Int32($0) }) }
                    else { try f.root.write("metrics/" + series, (0..<len).map { _ in Double(rng.below(100)) / 100 }) }
                }
                if rng.below(3) > 0 {
                    let fin = try f.root.createGroup("final")
                    if rng.below(2) == 0 { try fin.setAttribute("test_accuracy", rng.below(2) == 0 ? AttributeValue.double(0.5) : .text("high")) }
                    if rng.below(2) == 0 { try fin.setAttribute("epochs", rng.below(2) == 0 ? AttributeValue.int(Int64(epochs)) : .doubles([1, 2])) }
                }
                try f.flush()
            }
            _ = try? RunFile.summary(path)
            _ = try? RunFile.records(path)
            _ = try? RunFile.provenance(path)
            _ = RunFile.stateDigest(path)
        }
        // the store, the browser and the aggregate over all of them at once
        let store = RunStore(directory: dir.path)
        _ = RunBrowser.rows(store.summaries())
        XCTAssertEqual(store.files().count, n)
    }
}
