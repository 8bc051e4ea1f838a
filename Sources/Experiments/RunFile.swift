// The run file, results/runs/<run id>.h5, written once by one writer (temporary name, then rename):
//   attributes  run_id, status (done | failed | diverged), error, config_json, config.* (flattened),
//               started, ended, provenance.*, origin.spec and origin.replicate (the sweep that planned it)
//               format 2: every attribute with its type (integers int64, floats float64, bools as
//               HDF5's FALSE/TRUE enum, which h5py reads as numpy.bool_, lists as 1-D arrays);
//               format 1 (0.5.0) stored config.* and provenance.* as text; both are read
//   /metrics    epoch, lr, test_accuracy, [test_sequence_accuracy], seconds, samples_per_second,
//               loss/<term>, head_accuracy/<head>, diagnostics/<name>, pipeline/<block>.<measure>
//               (pipelined runs: busy_s, wait_input_s, wait_output_s, bytes_per_step, utilisation)
//               (one value per epoch)
//   /final      attributes: the last epoch's metrics
//   /provenance/git_diff  the uncommitted diff, as bytes (when the tree was dirty)

import Engine
import Foundation
import Methods
import Store

/// A run file or checkpoint whose contents do not hold together (a crafted or damaged file).
public struct RunFileError: Error, CustomStringConvertible {
    public let path: String, reason: String
    public var description: String { "\(path): \(reason); the file is damaged or was not written by blocklocal" }
}

public enum RunStatusName: String, Codable, Sendable { case done, failed, diverged }

/// Which sweep planned a run: the spec's name and the replicate (the `seed` axis's value), so a browser
/// can show them; not part of the config (a run shared by two specs keeps its one id and file).
public struct RunOrigin: Sendable, Equatable {
    public var spec: String
    public var replicate: Int
    public init(spec: String, replicate: Int) { self.spec = spec; self.replicate = replicate }
}

public struct RunSummary: Sendable {
    public var id: String
    public var status: String
    public var label: String
    public var config: RunConfig?
    public var finalAccuracy: Double?
    public var epochs: Int
    public var error: String
    /// ISO 8601 start and end of the training ("" when unknown), and its wall time in seconds.
    public var started: String = ""
    public var ended: String = ""
    public var seconds: Double? = nil
    /// The planning sweep, when the file records one (format 2 files written by a sweep).
    public var origin: RunOrigin? = nil
    /// The run-file format the file was written in (1: 0.5.0, text attributes).
    public var formatVersion: Int = 1
}

public enum RunFile {
    /// The layout written now; files of every earlier version are read. Not part of the run id
    /// (RunConfig.idVersion), so a new layout keeps every run's id.
    public static let formatVersion = 2

    public static func write(_ path: String, config: RunConfig, status: RunStatusName, error: String,
                             records: [EpochRecord], provenance: Provenance, started: Date, ended: Date,
                             stateDigest: String? = nil, origin: RunOrigin? = nil) throws {
        let tmp = FileManager.temporaryPath(for: path)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        do {
            let f = try HDF5File.create(tmp)
            let r = f.root
            try r.setAttribute("run_id", config.runID)
            try r.setAttribute("status", status.rawValue)
            try r.setAttribute("error", error)
            try r.setAttribute("label", config.label)
            try r.setAttribute("config_json", config.canonicalJSON)
            try r.setAttribute("format_version", formatVersion)
            for (k, v) in try AttributeEncoder.flatten(config) { try r.setAttribute("config." + k, v) }
            if let origin {
                try r.setAttribute("origin.spec", origin.spec)
                try r.setAttribute("origin.replicate", origin.replicate)
            }
            let iso = ISO8601DateFormatter()
            try r.setAttribute("started", iso.string(from: started))
            try r.setAttribute("ended", iso.string(from: ended))
            for (k, v) in provenance.values { try r.setAttribute("provenance." + k, v) }
            try writeMetrics(r, records)
            let fin = try r.createGroup("final")
            if let last = records.last {
                try fin.setAttribute("epochs", last.epoch)
                try fin.setAttribute("test_accuracy", last.testAccuracy)
                if let s = last.testSequenceAccuracy { try fin.setAttribute("test_sequence_accuracy", s) }
                for (k, v) in last.headAccuracy { try fin.setAttribute("head_accuracy." + k, v) }
                for (k, v) in last.diagnostics { try fin.setAttribute("diagnostics." + k, v) }
                try fin.setAttribute("samples_per_second", records.map(\.samplesPerSecond).reduce(0, +) / Double(records.count))
                try fin.setAttribute("seconds", records.map(\.seconds).reduce(0, +))
            }
            // sha256 of every trained tensor's bytes at the end (weights, BatchNorm statistics, optimizer
            // state, in checkpoint order): two runs trained the same bits exactly when these agree
            if let stateDigest { try fin.setAttribute("state_sha256", stateDigest) }
            if !provenance.gitDiff.isEmpty { try r.write("provenance/git_diff", Array(provenance.gitDiff.utf8)) }
            try f.flush()
        }
        try FileManager.default.moveItemReplacing(tmp, path)
    }

    static func writeMetrics(_ r: HDF5Object, _ records: [EpochRecord]) throws {
        let m = try r.createGroup("metrics")
        try m.write("epoch", records.map { Int32($0.epoch) })
        try m.write("lr", records.map(\.lr))
        try m.write("test_accuracy", records.map(\.testAccuracy))
        if records.contains(where: { $0.testSequenceAccuracy != nil }) {
            try m.write("test_sequence_accuracy", records.map { $0.testSequenceAccuracy ?? .nan })
        }
        try m.write("seconds", records.map(\.seconds))
        try m.write("samples_per_second", records.map(\.samplesPerSecond))
        func series(_ group: String, _ pick: (EpochRecord) -> [String: Double]) throws {
            let keys = Set(records.flatMap { pick($0).keys }).sorted()
            for k in keys { try m.write("\(group)/\(k)", records.map { pick($0)[k] ?? .nan }) }
        }
        try series("loss", \.losses)
        try series("head_accuracy", \.headAccuracy)
        try series("diagnostics", \.diagnostics)
        try series("pipeline", \.pipeline)
    }

    /// Reads per-epoch records back (for resume and reports).
    static func readMetrics(_ r: HDF5Object) throws -> [EpochRecord] {
        let m = try r.group("metrics")
        let epochs = try m.read("epoch", as: Int32.self).values
        /// A series must hold one value per epoch: a crafted or damaged file is an error, never a crash.
        func checked(_ name: String, _ v: [Double]) throws -> [Double] {
            guard v.count == epochs.count else { throw RunFileError(path: r.file.path, reason: "metric \(name) has \(v.count) values for \(epochs.count) epochs") }
            return v
        }
        func d(_ name: String) throws -> [Double] { try checked(name, m.read(name, as: Double.self).values) }
        let lr = try d("lr"), acc = try d("test_accuracy"), sec = try d("seconds"), sps = try d("samples_per_second")
        let seq = m.exists("test_sequence_accuracy") ? try d("test_sequence_accuracy") : nil
        func series(_ group: String) throws -> [[String: Double]] {
            var out = [[String: Double]](repeating: [:], count: epochs.count)
            guard m.exists(group) else { return out }
            let g = try m.group(group)
            for k in try g.members() {
                let v = try checked(group + "/" + k, g.read(k, as: Double.self).values)
                for i in 0..<epochs.count where !v[i].isNaN { out[i][k] = v[i] }
            }
            return out
        }
        let losses = try series("loss"), heads = try series("head_accuracy"), diags = try series("diagnostics")
        let pipeline = try series("pipeline")
        var out: [EpochRecord] = []
        for i in 0..<epochs.count {
            let s: Double? = seq?[i]
            out.append(EpochRecord(epoch: Int(epochs[i]), lr: lr[i], losses: losses[i], testAccuracy: acc[i],
                                   testSequenceAccuracy: s, headAccuracy: heads[i], diagnostics: diags[i],
                                   seconds: sec[i], samplesPerSecond: sps[i]))
            out[out.count - 1].pipeline = pipeline[i]
        }
        return out
    }

    /// The run's summary, or nil when the file is missing; throws when it is damaged.
    public static func summary(_ path: String) throws -> RunSummary {
        let f = try HDF5File.open(path)
        let r = f.root
        let json = try r.stringAttribute("config_json")
        let config = try? JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
        let fin = try? r.group("final")
        var origin: RunOrigin? = nil
        if let spec = try? r.stringAttribute("origin.spec"), let rep = try? r.intAttribute("origin.replicate") {
            origin = RunOrigin(spec: spec, replicate: rep)
        }
        return RunSummary(id: try r.stringAttribute("run_id"), status: try r.stringAttribute("status"),
                          label: (try? r.stringAttribute("label")) ?? "", config: config,
                          finalAccuracy: try? fin?.doubleAttribute("test_accuracy"),
                          epochs: (try? fin?.intAttribute("epochs")) ?? 0, error: (try? r.stringAttribute("error")) ?? "",
                          started: (try? r.stringAttribute("started")) ?? "", ended: (try? r.stringAttribute("ended")) ?? "",
                          seconds: try? fin?.doubleAttribute("seconds"), origin: origin,
                          formatVersion: (try? r.intAttribute("format_version")) ?? 1)
    }

    /// The sha256 of the run's final state (nil for files written before it was recorded).
    public static func stateDigest(_ path: String) -> String? {
        guard let f = try? HDF5File.open(path), let fin = try? f.root.group("final") else { return nil }
        return try? fin.stringAttribute("state_sha256")
    }

    public static func records(_ path: String) throws -> [EpochRecord] { try readMetrics(try HDF5File.open(path).root) }

    /// Every provenance attribute, as a person reads it (format 1 stored text, format 2 typed values).
    public static func provenance(_ path: String) throws -> [(key: String, value: String)] {
        let r = try HDF5File.open(path).root
        return try r.attributeNames().filter { $0.hasPrefix("provenance.") }.sorted()
            .map { (String($0.dropFirst("provenance.".count)), try r.attribute($0).description) }
    }

    /// Config fields as "key" → typed value, in key order: what the file's config.* attributes hold.
    public static func flatten(_ c: RunConfig) -> [(String, AttributeValue)] { (try? AttributeEncoder.flatten(c)) ?? [] }
}

extension FileManager {
    /// The name a writer gives `path`'s contents until they are complete: `path.tmp-PID`.
    static func temporaryPath(for path: String) -> String { path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)" }

    /// Whether the file `name` is a temporary of `file` (any writer's): a leftover when no writer is alive.
    static func isTemporary(_ name: String, of file: String) -> Bool { name.hasPrefix(file + ".tmp-") }

    /// rename(2): atomic on one filesystem; replaces the target.
    func moveItemReplacing(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else {
            throw EngineError.invalidArgument(name: "results directory", value: (to as NSString).deletingLastPathComponent,
                                              allowed: "a writable directory (rename failed: \(String(cString: strerror(errno))))")
        }
    }
}

/// What the store holds for a run id, in the one order every summary prints: a finished run's file
/// status (done, failed, diverged), a checkpoint (partial), nothing (missing), a file proven bad
/// (damaged, moved aside when the run trains again) or one the system refuses to read (unreadable).
public enum StoredStatus: String, CaseIterable, Sendable {
    case done, failed, diverged, partial, missing, damaged, unreadable

    public init(_ finished: RunStatusName) {
        switch finished { case .done: self = .done; case .failed: self = .failed; case .diverged: self = .diverged }
    }

    /// Whether a sweep trains a run in this state: not done or diverged, and failed only when rerunning.
    public func needsTraining(rerunFailed: Bool) -> Bool {
        switch self {
        case .done, .diverged: return false
        case .failed: return rerunFailed
        case .partial, .missing, .damaged, .unreadable: return true
        }
    }

    /// "5 done, 1 failed": the non-zero counts in this enum's order.
    public static func summary(_ counts: [StoredStatus: Int]) -> String {
        allCases.compactMap { s in counts[s].map { "\($0) \(s.rawValue)" } }.joined(separator: ", ")
    }
}
