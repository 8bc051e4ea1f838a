// CostModel: what K devices would give, from a per-block profile measured here (each block's feedback,
// forward and local update on one worker, t_k seconds per batch; the bytes it sends per batch, s_k) and a
// link (bandwidth B bytes/s, latency λ s per message):
//   pipelined local rule   ≈ batch / max_k (t_k + s_k / B + λ)         (steady state: the slowest stage)
//     and, where block k's feedback target comes from block k+1 (BLL's chain), at least
//     batch / (f_k + t_{k+1} + 2(s/B + λ)): b_k(t) needs map k+1 after its (t−1)-th update, so block k
//     starts batch t only once block k+1 has finished t−1, which began when block k's forward (f_k) of
//     t−1 arrived — the sequential semantics the pipeline keeps, bit for bit
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
        let transfer = blockBytes.map { b in b > 0 ? Double(b) / link.bandwidth + link.latency : 0 }
        var period = zip(blockSeconds, transfer).map { $0 + $1 }.max() ?? .infinity
        for k in chained.indices where chained[k] && k + 1 < blockSeconds.count && k < forwardSeconds.count {
            period = max(period, forwardSeconds[k] + transfer[k] + blockSeconds[k + 1] + transfer[k + 1])
        }
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
