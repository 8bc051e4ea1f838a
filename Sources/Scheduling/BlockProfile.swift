// BlockProfile: what each unit of a model costs to train here, measured: forward in training mode plus
// backward (input gradient included except for the first unit), on random data at a given batch, on the
// calling thread's engine workers; the median of a few repeats after one warm-up. The balanced split
// (BlockBalance, cached), the cost model and `model describe --measure` read it.

import Engine
import Foundation
import Methods

public enum BlockProfile {
    /// The middle of a few timings (the upper one of an even count).
    static func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

    /// Seconds per training step of each unit at `batch` (median of `repeats` after one warm-up).
    public static func measureUnits(_ model: Model, batch: Int, repeats: Int = 3) throws -> [Double] {
        let shapes = try model.unitShapes(batch: batch)
        var rng = RandomStream(seed: 0, name: "profile/input")
        var input = Tensor([batch] + model.sampleShape)
        if model.spec.isSequence {
            for i in 0..<input.count { input[i] = Float(rng.below(max(1, model.spec.vocabulary))) }
        } else { rng.fillNormal(input, std: 1) }
        var out: [Double] = []
        for (i, u) in model.units.enumerated() {
            let dy = Tensor(shapes[i]); rng.fillNormal(dy, std: 0.01)
            var times: [Double] = []
            for r in 0..<(repeats + 1) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let y = u.layer.forward(input, mode: .train)
                _ = u.layer.backward(dy, inputGradient: i > 0)
                if r > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
                if r == repeats { input = Tensor(y.shape, y.array) }   // the next unit's input
            }
            for p in u.layer.parameters { p.grad.zero() }
            out.append(median(times))
        }
        return out
    }
}

extension BlockProfile {
    /// Seconds per step of each block of a detached rule on the calling thread's engine workers: its
    /// feedback target, forward and local update (loss, backward, optimizer steps), as a block worker runs
    /// them; the median over `steps` steps after one warm-up. With each block's forward alone (the part a
    /// chained feedback target waits for) and the bytes each block sends per step.
    public static func measureBlocks(_ rule: DetachedBlockRule, x: Tensor, labels: [Int32], steps: Int) throws
        -> (seconds: [Double], forwardSeconds: [Double], bytes: [Int]) {
        let count = rule.blocks.count
        var times = [[Double]](repeating: [], count: count), forwards = [[Double]](repeating: [], count: count)
        var bytes = [Int](repeating: 0, count: count)
        for s in 0..<(steps + 1) {
            var targets = [Tensor?](repeating: nil, count: count)
            var feedbackSeconds = [Double](repeating: 0, count: count)
            for k in stride(from: count - 1, through: 0, by: -1) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                targets[k] = rule.blockFeedback(k, labels: labels, next: k + 1 < count ? targets[k + 1] : nil)
                feedbackSeconds[k] = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
            var h = x
            for k in 0..<count {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let a = rule.blockForward(k, h)
                if s > 0 { forwards[k].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
                let u = try rule.blockUpdate(k, input: h, output: a, labels: labels, feedback: targets[k], lr: 1e-3)
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 + feedbackSeconds[k]
                if s > 0 { times[k].append(dt) }
                if s == 0 {
                    bytes[k] = (k + 1 < count ? a.count : 0) * MemoryLayout<Float>.size
                        + (k > 0 && rule.feedbackSource(k - 1) == .nextBlock ? (targets[k]?.count ?? 0) * MemoryLayout<Float>.size : 0)
                }
                h = u.passOn ?? a
            }
        }
        return (times.map(median), forwards.map(median), bytes)
    }
}
