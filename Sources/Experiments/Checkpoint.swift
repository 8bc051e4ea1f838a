// Checkpoints: at each epoch end a run writes its state to results/runs/<id>.partial.h5 (temporary name,
// then rename): every parameter the model and the method own (heads, feedback networks), BatchNorm
// running statistics, optimizer moments and step counts, dropout streams, the epoch records so far and
// the S2S overlap set. Data order, augmentation and learning rates are pure functions of (seed, epoch),
// so restoring this state and going on gives the same bits as never stopping.

import Crypto
import Engine
import Foundation
import Methods
import Store

enum Checkpoint {
    /// The tensors of a prepared run, in a fixed order: model parameters and buffers, then each
    /// optimizer's parameters (heads and feedback maps included) and state.
    static func tensors(_ run: PreparedRun) -> [Tensor] { run.rule.stateTensors }

    /// sha256 (hex) of the bytes of every state tensor, in order.
    static func digest(_ run: PreparedRun) -> String {
        var h = SHA256()
        for t in tensors(run) { h.update(bufferPointer: UnsafeRawBufferPointer(start: t.data, count: t.count * MemoryLayout<Float>.size)) }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func dropouts(_ model: Model) -> [Dropout] {
        var out: [Dropout] = []
        for u in model.units { u.layer.walk { if let d = $0 as? Dropout { out.append(d) } } }
        return out
    }

    static func save(_ path: String, run: PreparedRun, records: [EpochRecord]) throws {
        let tmp = FileManager.temporaryPath(for: path)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        do {
            let f = try HDF5File.create(tmp)
            let r = f.root
            try r.setAttribute("run_id", run.config.runID)
            try r.setAttribute("epochs_done", records.count)
            let ts = tensors(run)
            for (i, t) in ts.enumerated() {
                try r.write("state/\(i)", UnsafeBufferPointer(start: t.data, count: t.count), shape: [t.count])
            }
            try r.setAttribute("tensors", ts.count)
            // what the state's bytes hash to: a resume restores only a checkpoint that still does
            try r.setAttribute("state_sha256", digest(run))
            try r.write("optimizer_steps", run.rule.optimizers.map { Int64($0.steps) })
            let rngs = dropouts(run.model).flatMap { $0.rng.state }
            try r.write("dropout_rng", rngs.map { Int64(bitPattern: $0) })
            if let s = run.data as? SequenceData { try r.write("s2s_seen", s.testSeenInTraining.sorted().map { Int64($0) }) }
            if !records.isEmpty { try RunFile.writeMetrics(r, records) }
            try f.flush()
        }
        try FileManager.default.moveItemReplacing(tmp, path)
    }

    /// Restores a checkpoint into `run`; returns the epoch records it held. Throws when it does not fit.
    static func load(_ path: String, into run: PreparedRun) throws -> [EpochRecord] {
        let f = try HDF5File.open(path)
        let r = f.root
        guard try r.stringAttribute("run_id") == run.config.runID else { throw CheckpointMismatch(reason: "another run's checkpoint") }
        let ts = tensors(run)
        guard try r.intAttribute("tensors") == ts.count else { throw CheckpointMismatch(reason: "tensor count differs") }
        for (i, t) in ts.enumerated() {
            let (v, shape) = try r.read("state/\(i)", as: Float.self)
            guard shape == [t.count] else { throw CheckpointMismatch(reason: "tensor \(i) has \(shape), expected [\(t.count)]") }
            v.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
        }
        if r.hasAttribute("state_sha256") {
            guard try r.stringAttribute("state_sha256") == digest(run) else {
                throw CheckpointMismatch(reason: "its state does not hash to the sha256 recorded when it was written (altered or damaged)")
            }
        }
        let steps = try r.read("optimizer_steps", as: Int64.self).values
        guard steps.count == run.rule.optimizers.count, steps.allSatisfy({ $0 >= 0 }) else { throw CheckpointMismatch(reason: "optimizer step counts do not fit") }
        for (o, s) in zip(run.rule.optimizers, steps) { o.steps = Int(s) }
        let words = try r.read("dropout_rng", as: Int64.self).values.map { UInt64(bitPattern: $0) }
        let drops = dropouts(run.model)
        guard words.count == drops.count * 6 else { throw CheckpointMismatch(reason: "dropout streams do not fit") }
        for (i, d) in drops.enumerated() { d.rng = RandomStream(state: Array(words[(i * 6)..<(i * 6 + 6)])) }
        if let s = run.data as? SequenceData, r.exists("s2s_seen") {
            s.restoreSeen(try r.read("s2s_seen", as: Int64.self).values.map { Int($0) })
        }
        return try r.intAttribute("epochs_done") > 0 ? RunFile.readMetrics(r) : []
    }

    struct CheckpointMismatch: Error { let reason: String }
}
