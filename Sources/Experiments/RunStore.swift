// RunStore: reading results/runs — list, show, and collect (merge stores from several machines,
// de-duplicating by run id; two `done` files of one id whose metrics differ are reported as conflicts).

import Foundation

public struct RunStore {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    public func files() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".h5") && !$0.hasSuffix(".partial.h5") }.sorted().map { directory + "/" + $0 }
    }

    /// Every run's summary; damaged files are listed with status "damaged".
    public func summaries() -> [RunSummary] {
        files().map { path in
            (try? RunFile.summary(path)) ?? RunSummary(id: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
                                                        status: "damaged", label: path, config: nil, finalAccuracy: nil, epochs: 0, error: "unreadable")
        }
    }

    public struct CollectReport { public var copied = 0, identical = 0, replacedUnfinished = 0; public var conflicts: [String] = [] }

    /// Copies runs from `sources` into this store. A done run is never replaced; a failed or damaged one
    /// is replaced by a done copy; two done copies with different metrics are a conflict (kept as is).
    public func collect(_ sources: [String]) throws -> CollectReport {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var report = CollectReport()
        for src in sources {
            for path in RunStore(directory: src).files() {
                guard let theirs = try? RunFile.summary(path) else { report.conflicts.append("\(path): unreadable, skipped"); continue }
                // the target's name comes from the file: only an id that is the hash of the file's own
                // config (16 hex digits, so never a path) names it
                guard let config = theirs.config, config.runID == theirs.id else {
                    report.conflicts.append("\(path): its run_id '\(theirs.id.prefix(40))' is not the id of its config; skipped")
                    continue
                }
                let target = directory + "/" + config.runID + ".h5"
                if let ours = try? RunFile.summary(target) {
                    if ours.status == "done" {
                        if theirs.status == "done" {
                            let a = try RunFile.records(target).map(\.testAccuracy), b = try RunFile.records(path).map(\.testAccuracy)
                            if a == b { report.identical += 1 } else { report.conflicts.append("\(theirs.id): \(path) differs from \(target)") }
                        }
                        continue
                    }
                    guard theirs.status == "done" else { continue }
                    report.replacedUnfinished += 1
                }
                let tmp = FileManager.temporaryPath(for: target)
                try? FileManager.default.removeItem(atPath: tmp)
                try FileManager.default.copyItem(atPath: path, toPath: tmp)
                try FileManager.default.moveItemReplacing(tmp, target)
                report.copied += 1
            }
        }
        return report
    }
}
