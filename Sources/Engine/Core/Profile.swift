// LayerProfiler: optional per-layer-kind timing of forward and backward passes (`blocklocal bench --profile`),
// convolutions split by shape (kernel, stride, channels, input map), BatchNorm by channel count, plus
// the loss and the optimizer step as the benchmark times them. A value the benchmark owns and attaches to
// the model it times (`Model.setProfiler`); without one, the cost is one branch per layer call.

import Foundation

public final class LayerProfiler: @unchecked Sendable {
    private var totals: [String: (forward: Double, backward: Double, calls: Int)] = [:]
    private let lock = NSLock()   // block workers of a pipelined run may record at once

    public init() {}

    @inline(__always) public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    func record(_ layer: Layer, forward: Bool, since t0: UInt64) {
        var key = String(describing: type(of: layer))
        if let conv = layer as? Conv2d {   // convolutions by shape: where the kernels spend their time
            key += " \(conv.kernel)×\(conv.kernel)/\(conv.stride) \(conv.inChannels)→\(conv.outChannels) on \(conv.geo.h)×\(conv.geo.w)"
        } else if let norm = layer as? BatchNorm {
            key += " \(norm.channels) ch"
        }
        record(key, forward: forward, since: t0)
    }

    /// Adds the time since `t0` to the row `key` (e.g. the loss or the optimizer step, counted as forward).
    public func record(_ key: String, forward: Bool, since t0: UInt64) {
        let dt = Double(LayerProfiler.now() - t0) / 1e9
        lock.lock(); defer { lock.unlock() }
        var e = totals[key] ?? (0, 0, 0)
        if forward { e.forward += dt; e.calls += 1 } else { e.backward += dt }
        totals[key] = e
    }

    public func reset() { lock.lock(); totals = [:]; lock.unlock() }

    /// Rows of (layer kind, forward seconds, backward seconds, forward calls), slowest first.
    public var report: [(kind: String, forward: Double, backward: Double, calls: Int)] {
        lock.lock(); defer { lock.unlock() }
        return totals.map { ($0.key, $0.value.forward, $0.value.backward, $0.value.calls) }
            .sorted { $0.forward + $0.backward > $1.forward + $1.backward }
    }
}

extension Model {
    /// Attaches `profiler` to every chain of layers in the model (nil detaches it).
    public func setProfiler(_ profiler: LayerProfiler?) {
        for u in units { u.layer.walk { ($0 as? Sequential)?.profiler = profiler } }
    }
}
