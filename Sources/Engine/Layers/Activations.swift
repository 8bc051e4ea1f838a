// Element-wise activations: ReLU, LeakyReLU, GELU (erf form as PyTorch's default; erf to 1.5e-7).
// Shapes: any; y has x's shape. Backward multiplies dy by the local derivative.

import Foundation

/// An element-wise function with its derivative; the three activations share this plumbing.
public class Elementwise: Layer {
    fileprivate var x: Tensor!
    fileprivate let y = Tensor([0]), dx = Tensor([0])
    public func outputShape(_ input: [Int]) throws -> [Int] { input }
    fileprivate func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r: Range<Int>) {}
    fileprivate func derive(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                            _ dx: UnsafeMutablePointer<Float>, _ r: Range<Int>) {}

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        y.resize(x.shape)
        let xp = UnsafePointer(x.data), yp = y.data
        Parallel.forRange(x.count, minPerChunk: 1 << 14) { r in self.apply(xp, yp, r) }
        return y
    }

    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        dx.resize(x.shape)
        let xp = UnsafePointer(x.data), yp = UnsafePointer(y.data), dyp = UnsafePointer(dy.data), dxp = dx.data
        Parallel.forRange(x.count, minPerChunk: 1 << 14) { r in self.derive(xp, yp, dyp, dxp, r) }
        return dx
    }
}

/// y = max(0, x); dx = dy·[y > 0]
public final class ReLU: Elementwise {
    public override init() {}
    override fileprivate func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        for i in r { y[i] = max(0, x[i]) }
    }
    override fileprivate func derive(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                     _ dx: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        for i in r { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }
}

/// y = x for x > 0, slope·x otherwise (Pred-Sim uses slope 0.01)
public final class LeakyReLU: Elementwise {
    public let slope: Float
    public init(slope: Float = 0.01) { self.slope = slope }
    override fileprivate func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        let s = slope; for i in r { y[i] = x[i] > 0 ? x[i] : s * x[i] }
    }
    override fileprivate func derive(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                     _ dx: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        let s = slope; for i in r { dx[i] = x[i] > 0 ? dy[i] : s * dy[i] }
    }
}

/// y = x·Φ(x) with Φ the standard normal CDF; dy/dx = Φ(x) + x·φ(x)
public final class GELU: Elementwise {
    public override init() {}
    // 16 elements at a time (the last vector partial) through the lane versions of fastErf/fastExp,
    // which give each lane the scalar functions' bits
    override fileprivate func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        var i = r.lowerBound
        while i + 16 <= r.upperBound { store16(geluValue16(load16(x + i)), y + i); i += 16 }
        if i < r.upperBound { let n = r.upperBound - i; storePartial16(geluValue16(loadPartial16(x + i, n)), y + i, n) }
    }
    override fileprivate func derive(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                     _ dx: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        var i = r.lowerBound
        while i + 16 <= r.upperBound { store16(load16(dy + i) * geluSlope16(load16(x + i)), dx + i); i += 16 }
        if i < r.upperBound {
            let n = r.upperBound - i
            storePartial16(loadPartial16(dy + i, n) * geluSlope16(loadPartial16(x + i, n)), dx + i, n)
        }
    }

}

/// GELU's x·Φ(x) and its derivative Φ(x) + x·φ(x), lane by lane.
@_transparent func geluValue16(_ v: Lane16) -> Lane16 { 0.5 * v * (1 + fastErf16(v * 0.70710678)) }
@_transparent func geluSlope16(_ v: Lane16) -> Lane16 {
    0.5 * (1 + fastErf16(v * 0.70710678)) + v * (0.39894228 * fastExp16(-0.5 * v * v))
}
