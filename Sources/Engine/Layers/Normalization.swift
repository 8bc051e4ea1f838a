// BatchNorm (over axis 1 of [N, C, ...]: BatchNorm2d for NCHW, BatchNorm1d for [N, F]) and
// LayerNorm (over the last axis). Training mode normalises with batch statistics (biased variance)
// and updates running statistics (unbiased variance, momentum 0.1, as PyTorch); evaluation mode
// uses the running statistics. Channels are independent, so they are split over the workers.

import Foundation

public final class BatchNorm: Layer {
    public let channels: Int
    public let eps: Float, momentum: Float
    /// Applies ReLU to the output in the same memory pass (and masks the gradient in backward).
    public let fusedReLU: Bool
    public let gamma: Parameter, beta: Parameter
    public let runningMean: Tensor, runningVar: Tensor
    private var x: Tensor!
    private var mode: Mode = .train
    private let y = Tensor([0]), dx = Tensor([0]), mean = Tensor([0]), invStd = Tensor([0])

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1, relu: Bool = false) {
        self.channels = channels; self.eps = eps; self.momentum = momentum; self.fusedReLU = relu
        gamma = Parameter("weight", .norm, shape: [channels]); gamma.value.fill(1)
        beta = Parameter("bias", .norm, shape: [channels])
        runningMean = Tensor([channels]); runningVar = Tensor([channels]); runningVar.fill(1)
    }

    public var parameters: [Parameter] { [gamma, beta] }
    public var buffers: [Tensor] { [runningMean, runningVar] }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        guard input.count >= 2, input[1] == channels else {
            throw EngineError.shapeMismatch(layer: "BatchNorm(\(channels))", expected: "[*, \(channels), ...]", got: describe(input))
        }
        return input
    }

    // forward: y = γ·(x − μ_c)/√(σ²_c + ε) + β  [then max(0, ·) when fused], per channel c over N and space.
    // Computed as y = a·x + b with a = γ·invstd, b = β − μ·a; x̂ is not stored (backward recomputes it).
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x; self.mode = mode
        let n = x.shape[0], c = channels, inner = x.count / (n * c), m = n * inner
        y.resize(x.shape); mean.resize([c]); invStd.resize([c])
        let xp = x.data, yp = y.data, mp = mean.data, isp = invStd.data
        let gp = gamma.value.data, bp = beta.value.data, rm = runningMean.data, rv = runningVar.data
        let eps = self.eps, mom = momentum, relu = fusedReLU
        Parallel.forRange(c) { range in
            for ch in range {
                var mu: Float, variance: Float
                if mode == .train {
                    let shift = xp[ch * inner]
                    var s = 0.0, ss = 0.0
                    for b in 0..<n { let (a, q) = shiftedSums(xp + (b * c + ch) * inner, inner, shift: shift); s += Double(a); ss += Double(q) }
                    let ms = s / Double(m)
                    let va = max(0, ss / Double(m) - ms * ms)
                    mu = Float(Double(shift) + ms); variance = Float(va)
                    rm[ch] = (1 - mom) * rm[ch] + mom * mu
                    rv[ch] = (1 - mom) * rv[ch] + mom * Float(va * Double(m) / Double(max(1, m - 1)))
                } else { mu = rm[ch]; variance = rv[ch] }
                let inv = 1 / (variance + eps).squareRoot()
                mp[ch] = mu; isp[ch] = inv
                let a = gp[ch] * inv, bb = bp[ch] - mu * a
                for b in 0..<n {
                    let src = xp + (b * c + ch) * inner, dst = yp + (b * c + ch) * inner
                    if relu { for t in 0..<inner { dst[t] = max(0, src[t] * a + bb) } }
                    else { for t in 0..<inner { dst[t] = src[t] * a + bb } }
                }
            }
        }
        return y
    }

    // backward (train), with g = dy (masked by a·x + b > 0, i.e. y > 0, when fused) and x̂ = (x − μ)·invstd:
    //   dβ += Σ g;  dγ += Σ g·x̂;  dx = γ·invstd·(g − Σg/M − x̂·Σ(g·x̂)/M)
    // evaluation mode: dx = γ·invstd·g
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let n = x.shape[0], c = channels, inner = x.count / (n * c), m = Float(n * inner)
        if inputGradient { dx.resize(x.shape) }
        let xp = x.data, dyp = dy.data, dxp = dx.data, mp = mean.data, isp = invStd.data
        let gp = gamma.value.data, bp = beta.value.data, ggp = gamma.grad.data, gbp = beta.grad.data
        let train = mode == .train, relu = fusedReLU
        Parallel.forRange(c) { range in
            for ch in range {
                let mu = mp[ch], inv = isp[ch]
                let a = gp[ch] * inv, bb = bp[ch] - mu * a   // the forward's affine map, for the ReLU mask
                var sg = 0.0, sgx = 0.0
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    let (s1, s2) = relu ? maskedDotSums(dyp + off, xp + off, inner, a: a, b: bb, shift: mu)
                                        : dotSums(dyp + off, xp + off, inner, shift: mu)
                    sg += Double(s1); sgx += Double(s2)
                }
                let sumG = Float(sg), sumGH = Float(sgx) * inv
                ggp[ch] += sumGH; gbp[ch] += sumG
                guard inputGradient else { continue }
                let k = gp[ch] * inv
                // dx = k·g + c2·(x − μ) + c0, affine in g and x
                let c2 = train ? -k * inv * sumGH / m : 0, c0 = train ? -k * sumG / m : 0
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    let gi = dyp + off, xi = xp + off, di = dxp + off
                    if relu {
                        for t in 0..<inner { let g = xi[t] * a + bb > 0 ? gi[t] : 0; di[t] = k * g + c2 * (xi[t] - mu) + c0 }
                    } else {
                        for t in 0..<inner { di[t] = k * gi[t] + c2 * (xi[t] - mu) + c0 }
                    }
                }
            }
        }
        return inputGradient ? dx : nil
    }
}

public typealias BatchNorm2d = BatchNorm

public final class LayerNorm: Layer {
    public let features: Int, eps: Float
    public let gamma: Parameter, beta: Parameter
    private var x: Tensor!
    private let y = Tensor([0]), dx = Tensor([0]), xhat = Tensor([0]), invStd = Tensor([0])

    public init(_ features: Int, eps: Float = 1e-5) {
        self.features = features; self.eps = eps
        gamma = Parameter("weight", .norm, shape: [features]); gamma.value.fill(1)
        beta = Parameter("bias", .norm, shape: [features])
    }
    public var parameters: [Parameter] { [gamma, beta] }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        guard input.last == features else {
            throw EngineError.shapeMismatch(layer: "LayerNorm(\(features))", expected: "[..., \(features)]", got: describe(input))
        }
        return input
    }

    // forward: per row, y = γ·(x − μ)/√(σ² + ε) + β
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        let d = features, rows = x.count / d
        y.resize(x.shape); xhat.resize(x.shape); invStd.resize([rows])
        let xp = x.data, yp = y.data, hp = xhat.data, isp = invStd.data, gp = gamma.value.data, bp = beta.value.data
        let eps = self.eps
        Parallel.forRange(rows, minPerChunk: 64) { range in
            for r in range {
                let row = xp + r * d
                let mean = shiftedSums(row, d, shift: 0).0 / Float(d)        // 8-lane sums, fixed order
                let ss = shiftedSums(row, d, shift: mean).1                 // Σ (x − μ)², two-pass
                let inv = 1 / (ss / Float(d) + eps).squareRoot()
                isp[r] = inv
                for j in 0..<d { let h = (row[j] - mean) * inv; hp[r * d + j] = h; yp[r * d + j] = gp[j] * h + bp[j] }
            }
        }
        return y
    }

    // backward: g = dy·γ; dx = invstd·(g − mean(g) − x̂·mean(g·x̂)); dγ += Σ dy·x̂; dβ += Σ dy
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let d = features, rows = x.count / d
        let dyp = dy.data, hp = xhat.data, ggp = gamma.grad.data, gbp = beta.grad.data
        // dγ, dβ: rows added in order for each feature, 8 features per vector (the same bits as one at a time)
        let d8 = d - d % 8
        for r in 0..<rows {
            let g = dyp + r * d, h = hp + r * d
            var j = 0
            while j < d8 {
                let vg = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self)
                let vh = UnsafeRawPointer(h + j).loadUnaligned(as: SIMD8<Float>.self)
                let gg = UnsafeMutableRawPointer(ggp + j), gb = UnsafeMutableRawPointer(gbp + j)
                gg.storeBytes(of: gg.loadUnaligned(as: SIMD8<Float>.self) + vg * vh, as: SIMD8<Float>.self)
                gb.storeBytes(of: gb.loadUnaligned(as: SIMD8<Float>.self) + vg, as: SIMD8<Float>.self)
                j += 8
            }
            while j < d { ggp[j] += g[j] * h[j]; gbp[j] += g[j]; j += 1 }
        }
        guard inputGradient else { return nil }
        dx.resize(x.shape)
        let dxp = dx.data, isp = invStd.data, gp = gamma.value.data
        Parallel.forRange(rows, minPerChunk: 64) { range in
            for r in range {
                var (mg, mgh) = productSums(dyp + r * d, gp, hp + r * d, d)   // Σ g, Σ g·x̂ with g = dy·γ
                mg /= Float(d); mgh /= Float(d)
                let inv = isp[r]
                for j in 0..<d { dxp[r * d + j] = inv * (dyp[r * d + j] * gp[j] - mg - hp[r * d + j] * mgh) }
            }
        }
        return dx
    }
}
