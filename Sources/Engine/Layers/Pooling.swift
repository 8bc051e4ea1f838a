// Pooling over NCHW: MaxPool2d and AvgPool2d (k, stride, padding; floor output size;
// average counts padding, as PyTorch's count_include_pad), and global average / max pooling
// to [N, C]. (n, c) planes are independent and split over the workers.

public final class MaxPool2d: Layer {
    public let kernel: Int, stride: Int, padding: Int
    private var x: Tensor!
    private let y = Tensor([0]), dx = Tensor([0])
    private var argmax: [Int32] = []
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    public func outputShape(_ input: [Int]) throws -> [Int] {
        try expectShape("MaxPool2d(k\(kernel))", input, [nil, nil, nil, nil])
        let oh = (input[2] + 2 * padding - kernel) / stride + 1, ow = (input[3] + 2 * padding - kernel) / stride + 1
        guard oh > 0, ow > 0 else { throw EngineError.shapeMismatch(layer: "MaxPool2d(k\(kernel))", expected: "spatial ≥ \(kernel)", got: describe(input)) }
        return [input[0], input[1], oh, ow]
    }

    // forward: y[n,c,oy,ox] = max over the window; the winner's index is kept for backward
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
        y.resize([x.shape[0], x.shape[1], oh, ow])
        if argmax.count < y.count { argmax = [Int32](repeating: 0, count: y.count) }
        let xp = x.data, yp = y.data, k = kernel, s = stride, p = padding
        argmax.withUnsafeMutableBufferPointer { am in
            let ap = am.baseAddress!
            Parallel.forRange(planes) { range in
                for pl in range {
                    let xi = xp + pl * h * w
                    for oy in 0..<oh { for ox in 0..<ow {
                        var best = -Float.infinity, bi: Int32 = -1
                        for i in 0..<k { let iy = oy * s - p + i; if iy < 0 || iy >= h { continue }
                            for j in 0..<k { let ix = ox * s - p + j; if ix < 0 || ix >= w { continue }
                                let v = xi[iy * w + ix]; if v > best || bi < 0 { best = v; bi = Int32(iy * w + ix) } } }
                        let o = (pl * oh + oy) * ow + ox
                        yp[o] = best; ap[o] = bi
                    } }
                }
            }
        }
        return y
    }

    // backward: dx[argmax] += dy
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        dx.resize(x.shape); dx.zero()
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3], ohw = y.count / planes
        let dyp = dy.data, dxp = dx.data
        argmax.withUnsafeBufferPointer { am in
            let ap = am.baseAddress!
            Parallel.forRange(planes) { range in
                for pl in range { for o in 0..<ohw { dxp[pl * hw + Int(ap[pl * ohw + o])] += dyp[pl * ohw + o] } }
            }
        }
        return dx
    }
}

public final class AvgPool2d: Layer {
    public let kernelH: Int, kernelW: Int, stride: (Int, Int), padding: (Int, Int)
    private var x: Tensor!
    private let y = Tensor([0]), dx = Tensor([0])
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        kernelH = kernel; kernelW = kernel; self.stride = (stride ?? kernel, stride ?? kernel); self.padding = (padding, padding)
    }
    /// A rectangular window (Pred-Sim's decoder pooling doubles height and width in turn).
    public init(kernelH: Int, kernelW: Int, padH: Int = 0, padW: Int = 0) {
        self.kernelH = kernelH; self.kernelW = kernelW; stride = (kernelH, kernelW); padding = (padH, padW)
    }
    private func out(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padding.0 - kernelH) / stride.0 + 1, (w + 2 * padding.1 - kernelW) / stride.1 + 1)
    }
    public func outputShape(_ input: [Int]) throws -> [Int] {
        try expectShape("AvgPool2d(k\(kernelH)x\(kernelW))", input, [nil, nil, nil, nil])
        let (oh, ow) = out(input[2], input[3])
        guard oh > 0, ow > 0 else { throw EngineError.shapeMismatch(layer: "AvgPool2d", expected: "spatial ≥ kernel", got: describe(input)) }
        return [input[0], input[1], oh, ow]
    }

    // forward: y = (1/(kh·kw)) Σ_window x (zero padding counted)
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let (oh, ow) = out(h, w)
        y.resize([x.shape[0], x.shape[1], oh, ow])
        let xp = x.data, yp = y.data, kh = kernelH, kw = kernelW, (sh, sw) = stride, (ph, pw) = padding
        let scale = 1 / Float(kh * kw)
        Parallel.forRange(planes) { range in
            for pl in range {
                let xi = xp + pl * h * w
                for oy in 0..<oh { for ox in 0..<ow {
                    var s: Float = 0
                    for i in 0..<kh { let iy = oy * sh - ph + i; if iy < 0 || iy >= h { continue }
                        for j in 0..<kw { let ix = ox * sw - pw + j; if ix < 0 || ix >= w { continue }; s += xi[iy * w + ix] } }
                    yp[(pl * oh + oy) * ow + ox] = s * scale
                } }
            }
        }
        return y
    }

    // backward: each window's inputs receive dy/(kh·kw)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        dx.resize(x.shape); dx.zero()
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], oh = y.shape[2], ow = y.shape[3]
        let dyp = dy.data, dxp = dx.data, kh = kernelH, kw = kernelW, (sh, sw) = stride, (ph, pw) = padding
        let scale = 1 / Float(kh * kw)
        Parallel.forRange(planes) { range in
            for pl in range {
                let di = dxp + pl * h * w
                for oy in 0..<oh { for ox in 0..<ow {
                    let g = dyp[(pl * oh + oy) * ow + ox] * scale
                    for i in 0..<kh { let iy = oy * sh - ph + i; if iy < 0 || iy >= h { continue }
                        for j in 0..<kw { let ix = ox * sw - pw + j; if ix < 0 || ix >= w { continue }; di[iy * w + ix] += g } }
                } }
            }
        }
        return dx
    }
}

/// PyTorch's AdaptiveAvgPool2d: [N, C, H, W] → [N, C, oh, ow], output cell (i, j) the mean of rows
/// ⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉ and columns ⌊j·W/ow⌋ ..< ⌈(j+1)·W/ow⌉ (windows may overlap).
public final class AdaptiveAvgPool2d: Layer {
    public let outH: Int, outW: Int
    private var x: Tensor!
    private let y = Tensor([0]), dx = Tensor([0])
    public init(_ outH: Int, _ outW: Int) { self.outH = outH; self.outW = outW }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        try expectShape("AdaptiveAvgPool2d(\(outH)x\(outW))", input, [nil, nil, nil, nil])
        guard outH >= 1, outW >= 1, input[2] >= 1, input[3] >= 1 else {
            throw EngineError.shapeMismatch(layer: "AdaptiveAvgPool2d", expected: "output ≥ 1×1", got: describe(input))
        }
        return [input[0], input[1], outH, outW]
    }

    @inline(__always) static func window(_ i: Int, _ out: Int, _ size: Int) -> Range<Int> {
        (i * size / out)..<(((i + 1) * size + out - 1) / out)
    }

    // forward: y[i, j] = mean of x over the cell's window
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], oh = outH, ow = outW
        y.resize([x.shape[0], x.shape[1], oh, ow])
        let xp = x.data, yp = y.data
        Parallel.forRange(planes) { range in
            for pl in range {
                let xi = xp + pl * h * w
                for oy in 0..<oh { for ox in 0..<ow {
                    let rows = AdaptiveAvgPool2d.window(oy, oh, h), cols = AdaptiveAvgPool2d.window(ox, ow, w)
                    var s: Float = 0
                    for iy in rows { for ix in cols { s += xi[iy * w + ix] } }
                    yp[(pl * oh + oy) * ow + ox] = s / Float(rows.count * cols.count)
                } }
            }
        }
        return y
    }

    // backward: each cell's window receives dy / (its size)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        dx.resize(x.shape); dx.zero()
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], oh = outH, ow = outW
        let dyp = dy.data, dxp = dx.data
        Parallel.forRange(planes) { range in
            for pl in range {
                let di = dxp + pl * h * w
                for oy in 0..<oh { for ox in 0..<ow {
                    let rows = AdaptiveAvgPool2d.window(oy, oh, h), cols = AdaptiveAvgPool2d.window(ox, ow, w)
                    let g = dyp[(pl * oh + oy) * ow + ox] / Float(rows.count * cols.count)
                    for iy in rows { for ix in cols { di[iy * w + ix] += g } }
                } }
            }
        }
        return dx
    }
}

/// [N, C, H, W] → [N, C]: the mean (or max) over space.
public final class GlobalPool2d: Layer {
    public enum Kind: String, Sendable { case average, max }
    public let kind: Kind
    private var x: Tensor!
    private let y = Tensor([0]), dx = Tensor([0])
    private var argmax: [Int32] = []
    public init(_ kind: Kind = .average) { self.kind = kind }
    public func outputShape(_ input: [Int]) throws -> [Int] {
        try expectShape("GlobalPool2d(\(kind))", input, [nil, nil, nil, nil]); return [input[0], input[1]]
    }
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        y.resize([x.shape[0], x.shape[1]])
        if argmax.count < planes { argmax = [Int32](repeating: 0, count: planes) }
        let xp = x.data, yp = y.data, avg = kind == .average
        for pl in 0..<planes {
            let row = xp + pl * hw
            if avg { var s: Float = 0; for t in 0..<hw { s += row[t] }; yp[pl] = s / Float(hw) }
            else { var b = row[0], bi = 0; for t in 1..<max(1, hw) where row[t] > b { b = row[t]; bi = t }; yp[pl] = b; argmax[pl] = Int32(bi) }
        }
        return y
    }
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        dx.resize(x.shape)
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3], dyp = dy.data, dxp = dx.data
        if kind == .average {
            for pl in 0..<planes { let g = dyp[pl] / Float(hw); let row = dxp + pl * hw; for t in 0..<hw { row[t] = g } }
        } else {
            dx.zero(); for pl in 0..<planes { dxp[pl * hw + Int(argmax[pl])] = dyp[pl] }
        }
        return dx
    }
}
