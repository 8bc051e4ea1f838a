// Vector kernels on contiguous float runs, written with SIMD8 so that reductions vectorise while
// keeping a fixed summation order (8 lanes, then the lanes in order, then the tail): the same input
// always gives the same bits. Fast exp and erf for activations and softmax, tested against libm.

import Foundation

/// (Σ (x − shift), Σ (x − shift)²) over n floats; the shift keeps the variance free of cancellation.
@inline(__always)
func shiftedSums(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> (Float, Float) {
    var s = SIMD8<Float>(), q = SIMD8<Float>()
    let k = SIMD8<Float>(repeating: shift)
    var i = 0
    while i + 8 <= n {
        let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - k
        s += v; q += v * v; i += 8
    }
    var ss = s.sum(), qq = q.sum()
    while i < n { let v = p[i] - shift; ss += v; qq += v * v; i += 1 }
    return (ss, qq)
}

/// (Σ g, Σ g·(x − shift)) over n floats with g = dy·[a·x + b > 0]: the ReLU mask of a fused
/// BatchNorm + ReLU recomputed from x, so backward need not read the output again.
@inline(__always)
func maskedDotSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, a: Float, b: Float, shift: Float) -> (Float, Float) {
    var s = SIMD8<Float>(), q = SIMD8<Float>()
    let k = SIMD8<Float>(repeating: shift), va = SIMD8<Float>(repeating: a), vb = SIMD8<Float>(repeating: b)
    let zero = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let vx = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        let g = UnsafeRawPointer(dy + i).loadUnaligned(as: SIMD8<Float>.self).replacing(with: zero, where: vx * va + vb .<= zero)
        s += g; q += g * (vx - k); i += 8
    }
    var ss = s.sum(), qq = q.sum()
    while i < n { let g = x[i] * a + b > 0 ? dy[i] : 0; ss += g; qq += g * (x[i] - shift); i += 1 }
    return (ss, qq)
}

/// (Σ a, Σ a·(b − shift)) over n floats.
@inline(__always)
func dotSums(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, shift: Float) -> (Float, Float) {
    var s = SIMD8<Float>(), q = SIMD8<Float>()
    let k = SIMD8<Float>(repeating: shift)
    var i = 0
    while i + 8 <= n {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self) - k
        s += va; q += va * vb; i += 8
    }
    var ss = s.sum(), qq = q.sum()
    while i < n { ss += a[i]; qq += a[i] * (b[i] - shift); i += 1 }
    return (ss, qq)
}

/// (Σ a·b, Σ a·b·c) over n floats.
@inline(__always)
func productSums(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
    var s = SIMD8<Float>(), q = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let g = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        s += g; q += g * UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self); i += 8
    }
    var ss = s.sum(), qq = q.sum()
    while i < n { let g = a[i] * b[i]; ss += g; qq += g * c[i]; i += 1 }
    return (ss, qq)
}

/// e^x in float, within ~2 ulp of expf for x in [−87, 88] (Cephes' range reduction and polynomial);
/// branch-free so that loops over it vectorise.
@inline(__always) public func fastExp(_ x: Float) -> Float {
    let (t, y) = expReduced(min(max(x, -87.3), 88.3))
    return y * Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
}

/// The arithmetic fastExp's reduction and polynomial need, on a float or on 16 lanes of floats.
protocol ExpArithmetic {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    init(splat: Float)
}
extension Float: ExpArithmetic { init(splat v: Float) { self = v } }
extension SIMD16: ExpArithmetic where Scalar == Float { init(splat v: Float) { self.init(repeating: v) } }

/// For xc already clamped to [−87.3, 88.3]: t, whose low mantissa bits hold n = round(xc·log2 e)
/// (rounding via 1.5·2²³, no trapping conversion), and y = e^(xc − n·ln 2) by Cephes' polynomial, so
/// that e^xc = y·2ⁿ. Shared by fastExp and fastExp16, which therefore compute the same bits.
@_transparent func expReduced<V: ExpArithmetic>(_ xc: V) -> (t: V, y: V) {
    let t = xc * V(splat: 1.44269504088896341) + V(splat: 12_582_912)
    let n = t - V(splat: 12_582_912)
    var r = xc - n * V(splat: 0.693359375)
    r = r - n * V(splat: -2.12194440e-4)
    let r2 = r * r
    var p = V(splat: 1.9875691500e-4)
    p = p * r + V(splat: 1.3981999507e-3)
    p = p * r + V(splat: 8.3334519073e-3)
    p = p * r + V(splat: 4.1665795894e-2)
    p = p * r + V(splat: 1.6666665459e-1)
    p = p * r + V(splat: 5.0000001201e-1)
    return (t, p * r2 + r + V(splat: 1))
}

/// erf(x) by Abramowitz & Stegun 7.1.26: |error| ≤ 1.5e-7 in exact arithmetic, < 6e-7 evaluated in float.
@inline(__always) public func fastErf(_ x: Float) -> Float {
    let a = abs(x)
    let t = 1 / (1 + 0.3275911 * a)
    let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    let e = 1 - poly * fastExp(-a * a)
    return x < 0 ? -e : e
}

/// fastExp on 16 lanes: each lane computes exactly what fastExp computes (the same operations in the
/// same order, no fused multiply-adds), so vectorised callers keep the scalar bits.
@_transparent func fastExp16(_ x: Lane16) -> Lane16 {
    var xc = x.replacing(with: -87.3, where: x .<= -87.3)        // max(x, −87.3) as Swift.max takes it
    xc = xc.replacing(with: 88.3, where: xc .> 88.3)               // min(·, 88.3)
    let (t, y) = expReduced(xc)
    let bits = (unsafeBitCast(t, to: SIMD16<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(bits, to: Lane16.self)
}

/// fastErf on 16 lanes, lane for lane the scalar fastErf's bits.
@_transparent func fastErf16(_ x: Lane16) -> Lane16 {
    let a = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: Lane16.self)   // |x|
    let t: Lane16 = 1 / (1 + 0.3275911 * a)
    var poly: Lane16 = 1.061405429 * t - 1.453152027   // fastErf's polynomial, step by step in its order
    poly = poly * t + 1.421413741
    poly = poly * t - 0.284496736
    poly = poly * t + 0.254829592
    poly = poly * t
    let e: Lane16 = 1 - poly * fastExp16(negate16(a) * a)
    return e.replacing(with: negate16(e), where: x .< 0)
}

/// −v by flipping the sign bits, as scalar negation does (SIMD's prefix − is 0 − v, which gives +0 for +0).
@_transparent func negate16(_ v: Lane16) -> Lane16 {
    unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) ^ 0x8000_0000, to: Lane16.self)
}

/// The n ≤ 16 floats at p in lanes 0..<n, zeros above (a vector loop's last, partial vector).
@inline(__always) func loadPartial16(_ p: UnsafePointer<Float>, _ n: Int) -> Lane16 {
    if n == 16 { return load16(p) }
    var v = Lane16()
    for l in 0..<n { v[l] = p[l] }
    return v
}

/// Stores lanes 0..<n (n ≤ 16) of v at p.
@inline(__always) func storePartial16(_ v: Lane16, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == 16 { store16(v, p); return }
    for l in 0..<n { p[l] = v[l] }
}
