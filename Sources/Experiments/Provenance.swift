// Provenance recorded in every run file: code (git commit, dirty flag and diff), toolchain, BLAS,
// machine, dataset checksums, times. Anything that cannot be read is recorded as "unknown".

import Engine
import Foundation

public struct Provenance: Sendable {
    public var values: [String: String]
    public var gitDiff: String

    public static func collect(threads: Int, datasetChecksums: [String: String]) -> Provenance {
        func sh(_ args: [String]) -> String? {
            let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/env"); p.arguments = args
            let out = Pipe(); p.standardOutput = out; p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return nil }
            let data = out.fileHandleForReading.readDataToEndOfFile(); p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let commit = sh(["git", "rev-parse", "HEAD"]) ?? "unknown"
        let diff = commit == "unknown" ? "" : (sh(["git", "diff", "HEAD"]) ?? "")
        var v: [String: String] = [
            "git_commit": commit,
            "git_dirty": commit == "unknown" ? "unknown" : (diff.isEmpty ? "false" : "true"),
            "blocklocal_version": Engine.version,
            "swift_version": sh(["swift", "--version"])?.split(separator: "\n").first.map(String.init) ?? "unknown",
            "blas_config": Engine.blasConfig,
            "blas_core": Engine.blasCore,
            "engine_build_target": Engine.buildTarget,
            "threads": String(threads),
            "cpu": CPU.modelName,
            "host": ProcessInfo.processInfo.hostName,
        ]
        for (k, c) in datasetChecksums { v["dataset." + k] = c }
        return Provenance(values: v, gitDiff: diff)
    }
}
