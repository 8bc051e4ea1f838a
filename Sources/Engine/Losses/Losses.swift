// Losses: each returns the scalar loss (mean over what it counts) and fills its own gradient
// tensor with ∂loss/∂input, ready for a backward pass.
// SoftmaxCrossEntropy: logits [R, C] (or [N, T, C]), labels R ints (−1 = ignored row), label smoothing ε:
//   target = (1 − ε)·onehot + ε/C;  loss = −Σ target·log softmax;  dlogits = (softmax − target)/rows.
// MeanSquaredError: mean (p − t)²;  BinaryCrossEntropy: on logits, mean of the stable form.

import Foundation

public final class SoftmaxCrossEntropy {
    public let smoothing: Float
    public let grad = Tensor([0])
    public init(smoothing: Float = 0) { self.smoothing = smoothing }

    @discardableResult
    public func callAsFunction(_ logits: Tensor, _ labels: [Int32]) -> Float {
        let c = logits.shape.last!, rows = logits.count / c
        precondition(labels.count == rows, "cross-entropy: \(labels.count) labels for \(rows) rows")
        grad.resize(logits.shape)
        let lp = logits.data, gp = grad.data, eps = smoothing
        var counted = 0
        for r in 0..<rows where labels[r] >= 0 { counted += 1 }
        let inv = counted > 0 ? 1 / Float(counted) : 0
        var total = 0.0
        labels.withUnsafeBufferPointer { lb in
            for r in 0..<rows {
                let row = lp + r * c, g = gp + r * c, y = Int(lb[r])
                if y < 0 { g.update(repeating: 0, count: c); continue }
                precondition(y < c, "label \(y) outside 0..<\(c)")
                var mx = -Float.infinity
                for j in 0..<c { mx = max(mx, row[j]) }
                var s: Float = 0
                for j in 0..<c { let e = fastExp(row[j] - mx); g[j] = e; s += e }
                let logZ = mx + logf(s), invS = 1 / s
                var loss: Float = 0
                for j in 0..<c {
                    let target = (j == y ? 1 - eps : 0) + eps / Float(c)
                    if target > 0 { loss -= target * (row[j] - logZ) }
                    g[j] = (g[j] * invS - target) * inv
                }
                total += Double(loss)
            }
        }
        return Float(total) * inv
    }
}

public final class MeanSquaredError {
    public let grad = Tensor([0])
    public init() {}
    @discardableResult
    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) -> Float {
        precondition(prediction.count == target.count, "MSE: \(describe(prediction.shape)) vs \(describe(target.shape))")
        grad.resize(prediction.shape)
        let p = prediction.data, t = target.data, g = grad.data, n = prediction.count, k = 2 / Float(n)
        var s = 0.0
        for i in 0..<n { let d = p[i] - t[i]; s += Double(d * d); g[i] = k * d }
        return Float(s / Double(n))
    }
}

/// Binary cross-entropy on logits x against targets t ∈ [0, 1]:
/// mean of max(x, 0) − x·t + log(1 + e^(−|x|));  d/dx = (σ(x) − t)/count.
public final class BinaryCrossEntropy {
    public let grad = Tensor([0])
    public init() {}
    @discardableResult
    public func callAsFunction(_ logits: Tensor, _ target: Tensor) -> Float {
        precondition(logits.count == target.count, "BCE: \(describe(logits.shape)) vs \(describe(target.shape))")
        grad.resize(logits.shape)
        let x = logits.data, t = target.data, g = grad.data, n = logits.count, inv = 1 / Float(n)
        var s = 0.0
        for i in 0..<n {
            let v = x[i]
            s += Double(max(v, 0) - v * t[i] + log1pf(expf(-abs(v))))
            g[i] = (1 / (1 + expf(-v)) - t[i]) * inv
        }
        return Float(s / Double(n))
    }
}

/// Number of rows whose arg-max equals the label (rows with label −1 are skipped).
public func correctCount(_ logits: Tensor, _ labels: [Int32]) -> Int {
    let c = logits.shape.last!, rows = logits.count / c, lp = logits.data
    var correct = 0
    for r in 0..<rows where labels[r] >= 0 {
        let row = lp + r * c
        var best = 0
        for j in 1..<c where row[j] > row[best] { best = j }
        if best == Int(labels[r]) { correct += 1 }
    }
    return correct
}
