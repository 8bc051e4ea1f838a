// Provenance recorded in every run file, each value with its type: code (git commit, dirty flag and diff
// of the binary's own source tree, not of the current directory), toolchain, BLAS, machine, dataset
// checksums, execution counts. Anything that cannot be read is recorded as the text "unknown".
//
// Generated outputs (results/, paper/REPRODUCTION-*.md) never count as a dirty tree: a reproduction
// writes them, and the next run's code is no different for it.

import Engine
import Foundation
import Store

public struct Provenance: Sendable {
    public var values: [String: AttributeValue]
    public var gitDiff: String

    public init(values: [String: AttributeValue], gitDiff: String) { self.values = values; self.gitDiff = gitDiff }

    /// The repository this binary was built from: three levels above this source file.
    static let sourceRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Paths a reproduction writes; excluded from the dirty flag and the recorded diff.
    static let generatedPaths = [":(exclude)results", ":(exclude)paper/REPRODUCTION*.md"]

    /// A command's trimmed standard output, or nil when it cannot run or fails.
    static func sh(_ args: [String]) -> String? {
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/env"); p.arguments = args
        let out = Pipe(); p.standardOutput = out; p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile(); p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The commit of the binary's source tree ("unknown" outside a git checkout); `short`: 7 digits.
    public static func sourceCommit(short: Bool = false) -> String {
        guard FileManager.default.fileExists(atPath: sourceRoot + "/.git") else { return "unknown" }
        return sh(["git", "-C", sourceRoot, "rev-parse"] + (short ? ["--short"] : []) + ["HEAD"]) ?? "unknown"
    }

    public static func collect(threads: Int, datasetChecksums: [String: String]) -> Provenance {
        let git = ["git", "-C", sourceRoot]
        let commit = sourceCommit()
        let diff = commit == "unknown" ? "" : (sh(git + ["diff", "HEAD", "--", "."] + generatedPaths) ?? "")
        var v: [String: AttributeValue] = [
            "git_commit": .text(commit),
            "git_dirty": commit == "unknown" ? .text("unknown") : .bool(!diff.isEmpty),
            "source_root": .text(sourceRoot),
            "blocklocal_version": .text(Engine.version),
            "swift_version": .text(sh(["swift", "--version"])?.split(separator: "\n").first.map(String.init) ?? "unknown"),
            "blas_config": .text(Engine.blasConfig),
            "blas_core": .text(Engine.blasCore),
            "engine_build_target": .text(Engine.buildTarget),
            "threads": .int(Int64(threads)),
            "cpu": .text(CPU.modelName),
            "host": .text(ProcessInfo.processInfo.hostName),
        ]
        for (k, c) in datasetChecksums { v["dataset." + k] = .text(c) }
        return Provenance(values: v, gitDiff: diff)
    }
}
