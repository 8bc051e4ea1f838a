// CostModel: what K devices would give, from a per-block profile measured here (each block's feedback,
// forward and local update on one worker, t_k seconds per batch; the bytes it sends per batch, s_k) and a
// link (bandwidth B bytes/s, latency λ s per message):
//   pipelined local rule   ≈ batch / period, the period of a steady-state simulation of the scheduler's
//     order: block k starts batch t when its update of t−1 is done and a_{k−1}(t) has arrived; its send
//     (s_k / B + λ) follows its forward (f_k); its update (t_k − f_k) follows its send and, where its
//     feedback target comes from block k+1 (BLL's chain), that target: block k+1 sends it right at the
//     start of its batch when its own comes from the labels, after its forward otherwise. Without a chain
//     this is batch / max_k (t_k + s_k / B + λ), the slowest stage
//   sequential (one device) ≈ batch / Σ_k t_k
//   data-parallel BP, K devices ≈ batch / (T_bp / K + 2(K−1)/K · P / B + 2(K−1) λ)
// where T_bp is BP's step on one device and P its parameter bytes (ring all-reduce of the gradients:
// 2(K−1) messages of P/K bytes each). Within one node the link is shared memory; across nodes it is the
// interconnect: both are presets with documented values, and flags replace them.

import Foundation

public struct Link: Codable, Sendable, Equatable {
    public var bandwidth: Double   // bytes per second
    public var latency: Double     // seconds per message
    public init(bandwidth: Double, latency: Double) { self.bandwidth = bandwidth; self.latency = latency }

    /// Threads of one node: a copy through shared memory (about 5 GB/s for one core's memcpy of a few MB
    /// that misses L2) and a condition-variable hand-off (about 10 µs).
    public static let node = Link(bandwidth: 5e9, latency: 1e-5)
    /// Two nodes over 10 Gb/s Ethernet with MPI over TCP: 1.25 GB/s, about 50 µs per message.
    public static let cluster = Link(bandwidth: 1.25e9, latency: 5e-5)
}

public struct CostModel: Sendable {
    public let batch: Int
    /// Per block: seconds per batch on one worker, and bytes sent per batch.
    public let blockSeconds: [Double]
    public let blockBytes: [Int]
    /// Per block: its forward alone, and whether its feedback target comes from the next block.
    public let forwardSeconds: [Double]
    public let chained: [Bool]

    public init(batch: Int, blockSeconds: [Double], blockBytes: [Int], forwardSeconds: [Double] = [], chained: [Bool] = []) {
        self.batch = batch; self.blockSeconds = blockSeconds; self.blockBytes = blockBytes
        self.forwardSeconds = forwardSeconds; self.chained = chained
    }

    /// Samples/s of the blocks pipelined on one device each.
    public func pipelined(_ link: Link) -> Double {
        let n = blockSeconds.count
        guard n > 0 else { return 0 }
        let send = blockBytes.map { b in b > 0 ? Double(b) / link.bandwidth + link.latency : 0 }
        let f = forwardSeconds.count == n ? forwardSeconds : blockSeconds.map { $0 / 3 }
        let chain = chained.count == n ? chained : [Bool](repeating: false, count: n)
        var updated = [Double](repeating: 0, count: n)   // when each block finished its previous batch
        var lastEnds: [Double] = []
        for _ in 0..<48 {
            var sent = [Double](repeating: 0, count: n)     // a_k(t) handed to block k+1
            var forwarded = [Double](repeating: 0, count: n)
            for k in 0..<n {
                let start = max(updated[k], k > 0 ? sent[k - 1] : 0)
                forwarded[k] = start + f[k]
                sent[k] = forwarded[k] + send[k]
            }
            var target = [Double](repeating: 0, count: n)   // when b_k(t) is known to block k (and sent on)
            for k in stride(from: n - 1, through: 0, by: -1) {
                target[k] = chain[k] && k + 1 < n ? max(sent[k], target[k + 1] + link.latency) : updated[k]
            }
            for k in 0..<n { updated[k] = max(sent[k], target[k]) + (blockSeconds[k] - f[k]) }
            lastEnds.append(updated[n - 1])
        }
        let period = (lastEnds[47] - lastEnds[23]) / 24
        return Double(batch) / period
    }

    /// Samples/s of the same blocks one after the other on one device.
    public var sequential: Double { Double(batch) / blockSeconds.reduce(0, +) }

    /// Samples/s of data-parallel BP over `devices`, from BP's one-device step and parameter bytes.
    public static func dataParallelBP(batch: Int, stepSeconds: Double, parameterBytes: Int, devices k: Int, link: Link) -> Double {
        let kk = Double(k)
        let allReduce = k > 1 ? 2 * (kk - 1) / kk * Double(parameterBytes) / link.bandwidth + 2 * (kk - 1) * link.latency : 0
        return Double(batch) / (stepSeconds / kk + allReduce)
    }
}
