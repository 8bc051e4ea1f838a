// The pieces local losses are built from, each a forward/backward pair with shapes in comments:
// RowNormalize (centre each row, divide by its L2 norm), SpatialStd (channel-wise spatial standard
// deviation), similarity matching (Pred-Sim's S(X) vs S(Y) with MSE), decorrelation (mean squared
// off-diagonal cosine), and Pred-Sim's decoder pooling rule.

import Engine

/// y = (x − mean_row(x)) / (ε + ‖x − mean_row(x)‖₂), rows of [R, F].
public final class RowNormalize {
    public let eps: Float
    public let y = Tensor([0]), dx = Tensor([0])
    private let norms = Tensor([0])
    public init(eps: Float = 1e-8) { self.eps = eps }

    public func forward(_ x: Tensor) -> Tensor {
        let f = x.shape.last!, r = x.count / f
        y.resize([r, f]); norms.resize([r])
        let xp = x.data, yp = y.data, np = norms.data
        for i in 0..<r {
            let row = xp + i * f, out = yp + i * f
            var s: Float = 0; for j in 0..<f { s += row[j] }
            let mean = s / Float(f)
            var ss: Float = 0; for j in 0..<f { let c = row[j] - mean; out[j] = c; ss += c * c }
            let n = ss.squareRoot(); np[i] = n
            let inv = 1 / (eps + n)
            for j in 0..<f { out[j] *= inv }
        }
        return y
    }

    // backward: with c = x − mean, n = ‖c‖, d = ε + n, y = c/d:
    //   dc = dy/d − c·(c·dy)/(d²·n) = (dy − y·(y·dy)·d/n)/d;   dx = dc − mean_row(dc)
    public func backward(_ dy: Tensor) -> Tensor {
        let f = y.shape[1], r = y.shape[0]
        dx.resize([r, f])
        let yp = y.data, dyp = dy.data, dxp = dx.data, np = norms.data
        for i in 0..<r {
            let yr = yp + i * f, g = dyp + i * f, out = dxp + i * f
            let n = np[i], d = eps + n
            var dot: Float = 0; for j in 0..<f { dot += yr[j] * g[j] }
            let k = n > 0 ? dot * d / n : 0
            var mean: Float = 0
            for j in 0..<f { let v = (g[j] - yr[j] * k) / d; out[j] = v; mean += v }
            mean /= Float(f)
            for j in 0..<f { out[j] -= mean }
        }
        return dx
    }
}

/// [N, C, H, W] → [N, C]: the unbiased standard deviation of each channel over space (PyTorch's std).
public final class SpatialStd {
    public let y = Tensor([0]), dx = Tensor([0])
    private var x: Tensor!
    private let means = Tensor([0])
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        self.x = x
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        y.resize([x.shape[0], x.shape[1]]); means.resize([planes])
        let xp = x.data, yp = y.data, mp = means.data
        for p in 0..<planes {
            let row = xp + p * hw
            var s: Float = 0; for t in 0..<hw { s += row[t] }
            let m = s / Float(hw); mp[p] = m
            var ss: Float = 0; for t in 0..<hw { let c = row[t] - m; ss += c * c }
            yp[p] = (ss / Float(max(1, hw - 1))).squareRoot()
        }
        return y
    }
    // backward: dx = dy·(x − mean)/((HW − 1)·std)
    public func backward(_ dy: Tensor) -> Tensor {
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        dx.resize(x.shape)
        let xp = x.data, yp = y.data, mp = means.data, dyp = dy.data, dxp = dx.data
        for p in 0..<planes {
            let s = yp[p], k = s > 0 ? dyp[p] / (Float(max(1, hw - 1)) * s) : 0
            for t in 0..<hw { dxp[p * hw + t] = k * (xp[p * hw + t] - mp[p]) }
        }
        return dx
    }
}

/// S(Y) for labels: centred, normalised one-hot rows' cosine similarities; 1 for the same class,
/// −1/(C−1) otherwise. Rows with label −1 are excluded (mask false).
public func labelSimilarity(_ labels: [Int32], classes: Int) -> [Float] {
    let r = labels.count
    let same: Float = 1, other: Float = -1 / Float(classes - 1)
    var s = [Float](repeating: 0, count: r * r)
    for i in 0..<r { for j in 0..<r where labels[i] >= 0 && labels[j] >= 0 { s[i * r + j] = labels[i] == labels[j] ? same : other } }
    return s
}

/// Pred-Sim's similarity loss: L = mean_{valid i,j} (clamp(Xn·Xnᵀ, −1, 1) − S(Y))², Xn = RowNormalize(x).
public final class SimilarityMatching {
    let normalize = RowNormalize()
    public let grad = Tensor([0])
    private let s = Tensor([0]), ds = Tensor([0]), dxn = Tensor([0])
    public init() {}

    /// Loss for features x [R, F] (rows with label −1 ignored); `grad` holds dL/dx afterwards.
    public func callAsFunction(_ x: Tensor, _ labels: [Int32], classes: Int) -> Float {
        let xn = normalize.forward(x)
        let r = xn.shape[0], f = xn.shape[1]
        s.resize([r, r]); ds.resize([r, r])
        gemm(transA: false, transB: true, m: r, n: r, k: f, a: xn.data, lda: f, b: xn.data, ldb: f, c: s.data, ldc: r)
        let target = labelSimilarity(labels, classes: classes)
        let valid = labels.filter { $0 >= 0 }.count
        let pairs = Float(max(1, valid * valid))
        var loss: Float = 0
        let sp = s.data, dsp = ds.data
        for i in 0..<r { for j in 0..<r {
            let k = i * r + j
            guard labels[i] >= 0, labels[j] >= 0 else { dsp[k] = 0; continue }
            let v = min(1, max(-1, sp[k])), d = v - target[k]
            loss += d * d
            dsp[k] = (sp[k] >= -1 && sp[k] <= 1) ? 2 * d / pairs : 0
        } }
        // dXn = (dS + dSᵀ)·Xn
        for i in 0..<r { for j in (i + 1)..<max(i + 1, r) { let a = dsp[i * r + j] + dsp[j * r + i]; dsp[i * r + j] = a; dsp[j * r + i] = a } }
        for i in 0..<r { dsp[i * r + i] *= 2 }
        dxn.resize([r, f])
        gemm(transA: false, transB: false, m: r, n: f, k: r, a: ds.data, lda: r, b: xn.data, ldb: f, c: dxn.data, ldc: f)
        grad.resize([r, f]); grad.copy(from: normalize.backward(dxn))
        return loss / pairs
    }
}

/// Decorrelation: L = mean_{i≠j} (x_i·x_j)² over rows of [R, F] (rows used as they are);
/// dL/dX = 4·(G ∘ offdiag)·X / (R(R−1)), G = X·Xᵀ.
public final class Decorrelation {
    public let grad = Tensor([0])
    private let g = Tensor([0])
    /// Divide by all R² entries (the released BLL code's mean, diagonal counted as zeros) instead of R(R−1).
    let overAllEntries: Bool
    public init(overAllEntries: Bool = false) { self.overAllEntries = overAllEntries }
    public func callAsFunction(_ x: Tensor, mask: [Bool]? = nil) -> Float {
        let f = x.shape.last!, r = x.count / f
        g.resize([r, r])
        gemm(transA: false, transB: true, m: r, n: r, k: f, a: x.data, lda: f, b: x.data, ldb: f, c: g.data, ldc: r)
        let valid = mask.map { $0.filter { $0 }.count } ?? r
        let pairs = Float(max(1, overAllEntries ? valid * valid : valid * (valid - 1)))
        var loss: Float = 0
        let gp = g.data
        for i in 0..<r { for j in 0..<r {
            let use = i != j && (mask.map { $0[i] && $0[j] } ?? true)
            if use { loss += gp[i * r + j] * gp[i * r + j]; gp[i * r + j] *= 4 / pairs } else { gp[i * r + j] = 0 }
        } }
        grad.resize([r, f])
        gemm(transA: false, transB: false, m: r, n: f, k: r, a: g.data, lda: r, b: x.data, ldb: f, c: grad.data, ldc: f)
        return loss / pairs
    }
}

/// Pred-Sim's decoder pooling (local-loss train.py): start at 1×1 and double the kernel height, then
/// the width, alternately, until C·⌈H/kh⌉·⌈W/kw⌉ ≤ dimIn; padding makes the output ⌈H/kh⌉×⌈W/kw⌉.
public func predSimPooling(channels c: Int, height h: Int, width w: Int, dimIn: Int)
    -> (kh: Int, kw: Int, padH: Int, padW: Int, outH: Int, outW: Int) {
    var kh = 1, kw = 1, oh = h, ow = w
    var dim = c * oh * ow
    while dim > dimIn && kh < h {
        kh *= 2; oh = (h + kh - 1) / kh; dim = c * oh * ow
        if dim > dimIn { kw *= 2; ow = (w + kw - 1) / kw; dim = c * oh * ow }
    }
    let ph = kh > 1 ? (kh * (oh - h / kh)) / 2 : 0, pw = kw > 1 ? (kw * (ow - w / kw)) / 2 : 0
    return (kh, kw, ph, pw, oh, ow)
}
