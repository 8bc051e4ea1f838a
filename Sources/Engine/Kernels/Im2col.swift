// im2col / col2im for one image, and the naive direct convolution they are tested against.
// Layout: image [C, H, W]; column matrix rows r = (c·kh + i)·kw + j, columns oy·Wo + ox, with row
// stride `ld` so that several images can sit side by side (column offset given by the caller).
// Padding reads as zero; col2im *accumulates* (+=) into the image.

public struct ConvGeometry: Equatable, Sendable {
    public let c: Int, h: Int, w: Int, kh: Int, kw: Int, stride: Int, pad: Int
    public var outH: Int { (h + 2 * pad - kh) / stride + 1 }
    public var outW: Int { (w + 2 * pad - kw) / stride + 1 }
    public var rows: Int { c * kh * kw }
    public var cols: Int { outH * outW }
    /// A 1×1, stride-1, unpadded convolution is a plain GEMM on the image: no im2col needed.
    public var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && pad == 0 }

    /// Output columns ox whose input column ox·s − p + j lies inside [0, w).
    @inline(__always) func validRange(_ j: Int, _ outW: Int, _ w: Int) -> Range<Int> {
        // ox·s ≥ p − j  and  ox·s ≤ w − 1 + p − j
        let lo = max(0, (pad - j + stride - 1) / stride)
        let hiNum = w - 1 + pad - j
        let hi = hiNum < 0 ? 0 : min(outW, hiNum / stride + 1)
        return lo..<max(lo, hi)
    }
}

/// col[r, off + oy·Wo + ox] = x[c, oy·s − p + i, ox·s − p + j] (0 outside).
public func im2col(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int) {
    let oh = g.outH, ow = g.outW, s = g.stride
    for c in 0..<g.c {
        let xc = x + c * g.h * g.w
        for i in 0..<g.kh {
            for j in 0..<g.kw {
                let row = col + ((c * g.kh + i) * g.kw + j) * ld
                let valid = g.validRange(j, ow, g.w)
                for oy in 0..<oh {
                    let dst = row + oy * ow
                    let iy = oy * s - g.pad + i
                    if iy < 0 || iy >= g.h { dst.update(repeating: 0, count: ow); continue }
                    let src = xc + iy * g.w - g.pad + j
                    for ox in 0..<valid.lowerBound { dst[ox] = 0 }
                    if s == 1 {
                        if !valid.isEmpty { (dst + valid.lowerBound).update(from: src + valid.lowerBound, count: valid.count) }
                    } else {
                        for ox in valid { dst[ox] = src[ox * s] }
                    }
                    for ox in valid.upperBound..<ow { dst[ox] = 0 }
                }
            }
        }
    }
}

/// x[c, oy·s − p + i, ox·s − p + j] += col[r, oy·Wo + ox]: the adjoint of im2col.
public func col2im(_ g: ConvGeometry, _ col: UnsafePointer<Float>, ld: Int, _ x: UnsafeMutablePointer<Float>) {
    let oh = g.outH, ow = g.outW, s = g.stride
    for c in 0..<g.c {
        let xc = x + c * g.h * g.w
        for i in 0..<g.kh {
            for j in 0..<g.kw {
                let row = col + ((c * g.kh + i) * g.kw + j) * ld
                let valid = g.validRange(j, ow, g.w)
                if valid.isEmpty { continue }
                for oy in 0..<oh {
                    let iy = oy * s - g.pad + i
                    if iy < 0 || iy >= g.h { continue }
                    let src = row + oy * ow
                    let dst = xc + iy * g.w - g.pad + j
                    if s == 1 { for ox in valid { dst[ox] += src[ox] } }
                    else { for ox in valid { dst[ox * s] += src[ox] } }
                }
            }
        }
    }
}

/// Reference: direct convolution of one image, y[o, oy, ox] = Σ w[o, c, i, j]·x[c, iy, ix] (Double sums).
public func convNaive(_ g: ConvGeometry, outChannels: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                      y: UnsafeMutablePointer<Float>) {
    for o in 0..<outChannels {
        for oy in 0..<g.outH {
            for ox in 0..<g.outW {
                var s = 0.0
                for c in 0..<g.c { for i in 0..<g.kh { for j in 0..<g.kw {
                    let iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j
                    if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w { continue }
                    s += Double(w[((o * g.c + c) * g.kh + i) * g.kw + j]) * Double(x[(c * g.h + iy) * g.w + ix])
                } } }
                y[(o * g.outH + oy) * g.outW + ox] = Float(s)
            }
        }
    }
}
