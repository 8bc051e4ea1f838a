// The pieces local losses share, each a forward/backward pair with shapes in comments: RowNormalize (centre
// each row, divide by its L2 norm) and decorrelation (mean squared off-diagonal cosine), used by bll and
// bll-code. A piece only one rule uses lives in that rule's file (Pred-Sim's similarity matching: PredSim.swift).

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
