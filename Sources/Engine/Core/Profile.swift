// Profile: optional per-layer-kind timing of forward and backward passes (`blocklocal bench --profile`),
// convolutions split by shape (kernel, stride, channels, input map), BatchNorm by channel count, plus
// the loss and the optimizer step as the benchmark times them.
// Off by default; when off, the cost is one branch per layer call.

import Foundation

public enum Profile {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) static var totals: [String: (forward: Double, backward: Double, calls: Int)] = [:]

    @inline(__always) public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func record(_ layer: Layer, forward: Bool, since t0: UInt64) {
        var key = String(describing: type(of: layer))
        if let conv = layer as? Conv2d {   // convolutions by shape: where the kernels spend their time
            key += " \(conv.kernel)×\(conv.kernel)/\(conv.stride) \(conv.inChannels)→\(conv.outChannels) on \(conv.geo.h)×\(conv.geo.w)"
        } else if let norm = layer as? BatchNorm {
            key += " \(norm.channels) ch"
        }
        record(key, forward: forward, since: t0)
    }

    /// Adds the time since `t0` to the row `key` (e.g. the loss or the optimizer step, counted as forward).
    public static func record(_ key: String, forward: Bool, since t0: UInt64) {
        let dt = Double(now() - t0) / 1e9
        lock.lock(); defer { lock.unlock() }   // block workers of a pipelined run may record at once
        var e = totals[key] ?? (0, 0, 0)
        if forward { e.forward += dt; e.calls += 1 } else { e.backward += dt }
        totals[key] = e
    }

    static let lock = NSLock()

    public static func reset() { lock.lock(); totals = [:]; lock.unlock() }

    /// Rows of (layer kind, forward seconds, backward seconds, forward calls), slowest first.
    public static var report: [(kind: String, forward: Double, backward: Double, calls: Int)] {
        totals.map { ($0.key, $0.value.forward, $0.value.backward, $0.value.calls) }
            .sorted { $0.forward + $0.backward > $1.forward + $1.backward }
    }
}
