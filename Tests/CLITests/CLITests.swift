// The command line as a user runs it: the built executable, its output and exit status.
import XCTest
import Foundation

final class CLITests: XCTestCase {
    /// The blocklocal executable built beside this test bundle.
    var binary: URL {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("blocklocal")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/release/blocklocal")
    }

    func run(_ args: [String], cwd: URL? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = binary; p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        var env = ProcessInfo.processInfo.environment; env["BLOCKLOCAL_NO_REEXEC"] = "1"; p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run(); p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    func testVersionAndHelp() throws {
        let v = try run(["--version"])
        XCTAssertEqual(v.status, 0); XCTAssertEqual(v.out.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
        let h = try run(["--help"])
        for sub in ["train", "data", "bench", "model"] { XCTAssert(h.out.contains(sub), "help lists \(sub)") }
    }

    /// User mistakes: one line naming the problem and what is allowed, a non-zero status, no stack trace.
    func testBadInputIsOneLineWithoutATrace() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let cases: [([String], String)] = [
            (["model", "describe", "resnet19"], "invalid model 'resnet19'"),
            (["model", "describe", "resnet50", "--blocks", "7"], "except 7, 10, 11, 12"),
            (["train", "--method", "backprop"], "allowed bp, fa, predsim"),
            (["train", "--method", "bll", "--set", "lamda=1", "--dataset", "s2s"], "lambda, feedback"),
            (["data", "fetch", "cifar10", "--offline", "--data-dir", tmp.path], "--mirror DIR"),
            (["data", "info", "imagenet", "--data-dir", tmp.path], "unknown dataset 'imagenet'"),
            (["bench", "--models", "r99"], "unknown model 'r99'"),
        ]
        for (args, expected) in cases {
            let r = try run(args, cwd: tmp)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            let lines = r.err.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") }
            XCTAssertEqual(lines.count, 1, "\(args): \(r.err)")
            XCTAssert(r.err.contains(expected), "\(args): \(r.err)")
            XCTAssertFalse(r.err.contains("Fatal error") || r.err.contains("Stack dump"), r.err)
        }
    }

    func testTrainS2SPrintsTokenAndSequenceAccuracy() throws {
        let r = try run(["train", "--method", "bwbpf", "--dataset", "s2s", "--blocks", "2", "--layers", "2", "--d-model", "16",
                         "--heads", "2", "--epochs", "2", "--s2s-steps", "5", "--batch", "16", "--test-subset", "64", "--lr", "3e-3"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssert(r.out.contains("seq acc") && r.out.contains("test sequences also seen in training"), r.out)
        XCTAssertEqual(r.out.split(separator: "\n").filter { $0.hasPrefix("2 ") }.count, 1, r.out)
    }
}
