// BatchNorm (over axis 1 of [N, C, ...]: BatchNorm2d for NCHW, BatchNorm1d for [N, F]) and
// LayerNorm (over the last axis). Training mode normalises with batch statistics (biased variance)
// and updates running statistics (unbiased variance, momentum 0.1, as PyTorch); evaluation mode
// uses the running statistics. Channels are independent, so they are split over the workers.

import Foundation

public final class BatchNorm: Layer {
    public let channels: Int
    public let eps: Float, momentum: Float
    public let gamma: Parameter, beta: Parameter
    public let runningMean: Tensor, runningVar: Tensor
    private var x: Tensor!
    private var mode: Mode = .train
    private let y = Tensor([0]), dx = Tensor([0]), xhat = Tensor([0]), invStd = Tensor([0])

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        self.channels = channels; self.eps = eps; self.momentum = momentum
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

    // forward: y = γ·(x − μ_c)/√(σ²_c + ε) + β, per channel c over N and space
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x; self.mode = mode
        let n = x.shape[0], c = channels, inner = x.count / (n * c), m = n * inner
        y.resize(x.shape); xhat.resize(x.shape); invStd.resize([c])
        let xp = x.data, yp = y.data, hp = xhat.data, isp = invStd.data
        let gp = gamma.value.data, bp = beta.value.data, rm = runningMean.data, rv = runningVar.data
        let eps = self.eps, mom = momentum
        Parallel.forRange(c) { range in
            for ch in range {
                var mean: Float, variance: Float
                if mode == .train {
                    var s = 0.0, ss = 0.0
                    for b in 0..<n { let row = xp + (b * c + ch) * inner
                        for t in 0..<inner { let v = Double(row[t]); s += v; ss += v * v } }
                    let mu = s / Double(m)
                    let va = max(0, ss / Double(m) - mu * mu)
                    mean = Float(mu); variance = Float(va)
                    rm[ch] = (1 - mom) * rm[ch] + mom * mean
                    rv[ch] = (1 - mom) * rv[ch] + mom * Float(va * Double(m) / Double(max(1, m - 1)))
                } else { mean = rm[ch]; variance = rv[ch] }
                let inv = 1 / (variance + eps).squareRoot()
                isp[ch] = inv
                let g = gp[ch], bb = bp[ch]
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    for t in 0..<inner { let h = (xp[off + t] - mean) * inv; hp[off + t] = h; yp[off + t] = g * h + bb }
                }
            }
        }
        return y
    }

    // backward (train): dx = γ·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)); dγ += Σ dy·x̂; dβ += Σ dy
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let n = x.shape[0], c = channels, inner = x.count / (n * c), m = Float(n * inner)
        if inputGradient { dx.resize(x.shape) }
        let dyp = dy.data, dxp = dx.data, hp = xhat.data, isp = invStd.data
        let gp = gamma.value.data, ggp = gamma.grad.data, gbp = beta.grad.data
        let train = mode == .train
        Parallel.forRange(c) { range in
            for ch in range {
                var sdy: Float = 0, sdyh: Float = 0
                for b in 0..<n { let off = (b * c + ch) * inner
                    for t in 0..<inner { let d = dyp[off + t]; sdy += d; sdyh += d * hp[off + t] } }
                ggp[ch] += sdyh; gbp[ch] += sdy
                guard inputGradient else { continue }
                let k = gp[ch] * isp[ch]
                if train {
                    let a = sdy / m, bcoef = sdyh / m
                    for b in 0..<n { let off = (b * c + ch) * inner
                        for t in 0..<inner { dxp[off + t] = k * (dyp[off + t] - a - hp[off + t] * bcoef) } }
                } else {
                    for b in 0..<n { let off = (b * c + ch) * inner
                        for t in 0..<inner { dxp[off + t] = k * dyp[off + t] } }
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
                var s: Float = 0; for j in 0..<d { s += row[j] }
                let mean = s / Float(d)
                var ss: Float = 0; for j in 0..<d { let v = row[j] - mean; ss += v * v }
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
        for r in 0..<rows { for j in 0..<d { let g = dyp[r * d + j]; ggp[j] += g * hp[r * d + j]; gbp[j] += g } }
        guard inputGradient else { return nil }
        dx.resize(x.shape)
        let dxp = dx.data, isp = invStd.data, gp = gamma.value.data
        Parallel.forRange(rows, minPerChunk: 64) { range in
            for r in range {
                var mg: Float = 0, mgh: Float = 0
                for j in 0..<d { let g = dyp[r * d + j] * gp[j]; mg += g; mgh += g * hp[r * d + j] }
                mg /= Float(d); mgh /= Float(d)
                let inv = isp[r]
                for j in 0..<d { dxp[r * d + j] = inv * (dyp[r * d + j] * gp[j] - mg - hp[r * d + j] * mgh) }
            }
        }
        return dx
    }
}
