// Winograd: 3×3, stride-1, pad-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016) on LaneConv's lane grids (16 images in the
// vector lanes). Output tile t = (ty, tx) is 2×2 pixels; it reads the 4×4 input tile d_t at rows 2ty…2ty+3,
// columns 2tx…2tx+3 of the grid padded by 1 (and extended to whole tiles):
//   forward   y_t[o] = Aᵀ [ Σ_c U[o, c] ⊙ V[c, t] ] A,      U = G g Gᵀ (g = w[o, c]),  V = Bᵀ d_t B
//             per transform point ξ (16 of them) one product M_ξ[o][t] = Σ_c U_ξ[o][c] · V_ξ[c][t]:
//             16 multiplies per output tile and channel pair instead of 36.
//   backward  dx = the forward on dy's grid (padded by 1) with g = w[o, c] flipped and transposed (B under FA);
//             dW[o, c] = Gᵀ [ Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ d_t B) ] G  (dy_t the 2×2 tile of dy, d_t the 4×4 of x)
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1]
// The transforms add in another order than a direct sum (float rounding differences, tested at the direct
// paths' tolerance); every sum runs in a fixed order with the lanes as images, so AVX2 and AVX-512 builds
// give the same bits. `ConvKnobs.winograd = false` turns the path off (the direct paths then run these layers).
// Products: the forward/dx product is LaneConv's microkernel (4 output channels × 4 tiles, one multiply-add
// per input channel); the weight gradient has its own (4 × 4 channel pairs summed over tiles in 16 lanes).
// Reference: convNaive (Im2col.swift); KernelTests hold this path against it and the im2col path.

public enum Winograd {

    /// Whether a convolution is one this path computes.
    public static func applies(kernel: Int, stride: Int, padding: Int) -> Bool {
        kernel == 3 && stride == 1 && padding == 1
    }
}

/// The tiling of an h × w map (stride 1, padding 1: the output is h × w too).
public struct WinogradGeometry: Equatable, Sendable {
    public let h: Int, w: Int
    public var tilesH: Int { (h + 1) / 2 }
    public var tilesW: Int { (w + 1) / 2 }
    public var tiles: Int { tilesH * tilesW }
    /// The lane grid: padded by 1 on the top and left, extended to whole tiles on the bottom and right.
    public var gridH: Int { 2 * tilesH + 2 }
    public var gridW: Int { 2 * tilesW + 2 }
    /// Floats of one channel's plane of one 16-image block.
    public var plane: Int { gridH * gridW * LaneConv.lanes }
    public init(h: Int, w: Int) { self.h = h; self.w = w }

    /// Floats from a plane's start to the top-left vector of tile t.
    @inline(__always) func tileOffset(_ t: Int) -> Int {
        let ty = t / tilesW, tx = t - ty * tilesW
        return (2 * ty * gridW + 2 * tx) * LaneConv.lanes
    }

    /// Images per group: as many whole blocks as fit `groupFloats` (ConvKnobs.laneGroupFloats) for `channels` planes.
    func images(channels: Int, available: Int, groupFloats: Int) -> Int {
        let blocks = max(1, groupFloats / max(1, channels * plane))
        return max(1, min(available, blocks * LaneConv.lanes))
    }

    /// Tile positions per forward/dx chunk for `inChannels` → `outChannels`: a multiple of 4, 4 to 64.
    static func chunk(inChannels: Int, outChannels: Int, chunkFloats: Int) -> Int {
        let perPosition = 16 * LaneConv.lanes * (inChannels + DirectConv.roundUp4(outChannels))
        return min(64, max(4, chunkFloats / perPosition / 4 * 4))
    }
}

// MARK: - The transforms (one 16-image vector per entry)

/// Rows of Bᵀ as (first, second, sign): row r of Bᵀd is d[first] + sign · d[second].
private let inputRows: [(Int, Int, Float)] = [(0, 2, -1), (1, 2, 1), (2, 1, -1), (1, 3, -1)]
/// Rows of A (4 × 2) as coefficients of the two dy entries: A = [1 0; 1 1; 1 −1; 0 −1].
private let gradientRows: [(Float, Float)] = [(1, 0), (1, 1), (1, -1), (0, -1)]

/// v[ξ·ps] = (Bᵀ d B)_ξ for the 4×4 tile whose top-left vector is d (rows `rs` floats apart, columns 16).
@inline(__always) private func inputTransform(_ d: UnsafePointer<Float>, rowStride rs: Int,
                                              _ v: UnsafeMutablePointer<Float>, pointStride ps: Int) {
    // t = Bᵀ d, by columns
    var t = (Lane16(), Lane16(), Lane16(), Lane16(), Lane16(), Lane16(), Lane16(), Lane16(),
             Lane16(), Lane16(), Lane16(), Lane16(), Lane16(), Lane16(), Lane16(), Lane16())
    withUnsafeMutableBytes(of: &t) { raw in
        let tv = raw.baseAddress!.assumingMemoryBound(to: Lane16.self)
        for j in 0..<4 {
            let d0 = load16(d + 16 * j), d1 = load16(d + rs + 16 * j)
            let d2 = load16(d + 2 * rs + 16 * j), d3 = load16(d + 3 * rs + 16 * j)
            tv[j] = d0 - d2; tv[4 + j] = d1 + d2; tv[8 + j] = d2 - d1; tv[12 + j] = d1 - d3
        }
        // V = t B, by rows
        for r in 0..<4 {
            let t0 = tv[4 * r], t1 = tv[4 * r + 1], t2 = tv[4 * r + 2], t3 = tv[4 * r + 3]
            store16(t0 - t2, v + (4 * r) * ps); store16(t1 + t2, v + (4 * r + 1) * ps)
            store16(t2 - t1, v + (4 * r + 2) * ps); store16(t1 - t3, v + (4 * r + 3) * ps)
        }
    }
}

/// (Bᵀ d B)_ξ alone, ξ = 4r + c, in the same order of operations as `inputTransform` (same bits).
@inline(__always) private func inputPoint(_ d: UnsafePointer<Float>, rowStride rs: Int,
                                          _ r: (Int, Int, Float), _ c: (Int, Int, Float)) -> Lane16 {
    let sr = Lane16(repeating: r.2), sc = Lane16(repeating: c.2)
    let a = load16(d + r.0 * rs + 16 * c.0) + sr * load16(d + r.1 * rs + 16 * c.0)
    let b = load16(d + r.0 * rs + 16 * c.1) + sr * load16(d + r.1 * rs + 16 * c.1)
    return a + sc * b
}

/// (A e Aᵀ)_ξ for the 2×2 tile e of dy whose top-left vector is e, ξ = 4r + c.
@inline(__always) private func gradientPoint(_ e: UnsafePointer<Float>, rowStride rs: Int,
                                             _ r: (Float, Float), _ c: (Float, Float)) -> Lane16 {
    let r0 = Lane16(repeating: r.0), r1 = Lane16(repeating: r.1)
    let a = r0 * load16(e) + r1 * load16(e + rs), b = r0 * load16(e + 16) + r1 * load16(e + rs + 16)
    return Lane16(repeating: c.0) * a + Lane16(repeating: c.1) * b
}

/// (Aᵀ m A) for the 16 vectors m[ξ·ps]: the 2×2 outputs y00, y01, y10, y11.
@inline(__always) private func outputTransform(_ m: UnsafePointer<Float>, pointStride ps: Int)
    -> (Lane16, Lane16, Lane16, Lane16) {
    var s0 = (Lane16(), Lane16(), Lane16(), Lane16()), s1 = s0
    withUnsafeMutableBytes(of: &s0) { r0 in withUnsafeMutableBytes(of: &s1) { r1 in
        let a = r0.baseAddress!.assumingMemoryBound(to: Lane16.self), b = r1.baseAddress!.assumingMemoryBound(to: Lane16.self)
        for c in 0..<4 {
            let m0 = load16(m + c * ps), m1 = load16(m + (4 + c) * ps)
            let m2 = load16(m + (8 + c) * ps), m3 = load16(m + (12 + c) * ps)
            a[c] = m0 + m1 + m2; b[c] = m1 - m2 - m3
        }
    } }
    return (s0.0 + s0.1 + s0.2, s0.1 - s0.2 - s0.3, s1.0 + s1.1 + s1.2, s1.1 - s1.2 - s1.3)
}

/// U = G g Gᵀ for the 3×3 g (row-major, taps `tapStep` floats apart, from `first`), into u[0..<16].
@inline(__always) private func weightTransform(_ g: UnsafePointer<Float>, first: Int, tapStep: Int,
                                               _ u: UnsafeMutablePointer<Float>) {
    @inline(__always) func tap(_ t: Int) -> Float { g[first + t * tapStep] }
    for j in 0..<3 {   // G g: column j, stored in u[4r + j] for now
        let g0 = tap(j), g1 = tap(3 + j), g2 = tap(6 + j)
        u[j] = g0; u[4 + j] = (g0 + g1 + g2) / 2; u[8 + j] = (g0 - g1 + g2) / 2; u[12 + j] = g2
    }
    for r in 0..<4 {   // (G g) Gᵀ: row r
        let h0 = u[4 * r], h1 = u[4 * r + 1], h2 = u[4 * r + 2]
        u[4 * r] = h0; u[4 * r + 1] = (h0 + h1 + h2) / 2; u[4 * r + 2] = (h0 - h1 + h2) / 2; u[4 * r + 3] = h2
    }
}

/// dW = Gᵀ m G for the 16 floats m[ξ·ps], into w[0..<9] (row-major 3×3).
@inline(__always) private func weightGradientTransform(_ m: UnsafePointer<Float>, pointStride ps: Int,
                                                       _ w: UnsafeMutablePointer<Float>) {
    var q = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
    withUnsafeMutableBytes(of: &q) { raw in
        let qv = raw.baseAddress!.assumingMemoryBound(to: Float.self)   // Gᵀ m: 3 × 4
        for c in 0..<4 {
            let m0 = m[c * ps], m1 = m[(4 + c) * ps], m2 = m[(8 + c) * ps], m3 = m[(12 + c) * ps]
            qv[c] = m0 + (m1 + m2) / 2; qv[4 + c] = (m1 - m2) / 2; qv[8 + c] = (m1 + m2) / 2 + m3
        }
        for i in 0..<3 {
            let q0 = qv[4 * i], q1 = qv[4 * i + 1], q2 = qv[4 * i + 2], q3 = qv[4 * i + 3]
            w[3 * i] = q0 + (q1 + q2) / 2; w[3 * i + 1] = (q1 - q2) / 2; w[3 * i + 2] = (q1 + q2) / 2 + q3
        }
    }
}

/// The transformed weights packed for the product microkernel: packed[ξ][r/4][c][r mod 4] = U_ξ for
/// product rows r (rounded up to 4, zero beyond) and reduction channels c. Forward: rows are output
/// channels, g = w[r, c]; backward (dx): rows are input channels, g = w[c, r] flipped in both axes.
/// The quads of rows are spread over the workers; each transforms 32 channels into a small buffer and
/// writes them as one run per point (16 point-major streams of 512 bytes, not 16 scattered floats).
func winogradPackWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, backward: Bool,
                         _ packed: UnsafeMutablePointer<Float>) {
    let (rows, cols) = backward ? (inChannels, outChannels) : (outChannels, inChannels)
    let rowsRounded = DirectConv.roundUp4(rows), run = 32
    Parallel.forRange(rowsRounded / 4, minPerChunk: 4) { quads in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 4 * run) { buffer in
            let u = buffer.baseAddress!   // u[(c − c0)·64 + l·16 + ξ]
            for q in quads {
                var c0 = 0
                while c0 < cols {
                    let n = min(run, cols - c0)
                    for c in c0..<(c0 + n) { for l in 0..<4 {
                        let r = 4 * q + l, at = u + (c - c0) * 64 + l * 16
                        if r >= rows { at.update(repeating: 0, count: 16) }
                        else if backward { weightTransform(w + (c * inChannels + r) * 9, first: 8, tapStep: -1, at) }
                        else { weightTransform(w + (r * inChannels + c) * 9, first: 0, tapStep: 1, at) }
                    } }
                    for xi in 0..<16 {
                        let dst = packed + (xi * rowsRounded + 4 * q) * cols + 4 * c0
                        for i in 0..<(4 * n) { dst[i] = u[i * 16 + xi] }
                    }
                    c0 += n
                }
            }
        }
    }
}

/// part[o][c][0..<9] = Gᵀ m G for the transformed sums m[ξ][o][c] (ξ-major, `outChannels` × `inChannels`).
func winogradWeightGradient(_ m: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                            _ part: UnsafeMutablePointer<Float>) {
    let pairs = outChannels * inChannels
    for p in 0..<pairs { weightGradientTransform(m + p, pointStride: pairs, part + 9 * p) }
}

/// Tile bases 16 floats apart, for the product microkernel's position table.
private let tileBases: UnsafePointer<Int> = {
    let p = UnsafeMutablePointer<Int>.allocate(capacity: 65)
    for i in 0..<65 { p[i] = 16 * i }
    return UnsafePointer(p)
}()

// MARK: - The three convolutions on a group of blocks

extension LaneGrid {
    /// y[image, o, ·] = the convolution of the grid (`channels` planes of geometry `g`) with the packed U
    /// (+ bias), for the group's images; `scratch` holds one chunk of V and M (`chunk` positions).
    func winogradConvolve(_ grid: UnsafePointer<Float>, channels cin: Int, _ g: WinogradGeometry,
                          packed: UnsafePointer<Float>, outChannels cout: Int, chunk: Int,
                          scratch: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                          _ dst: UnsafeMutablePointer<Float>) {
        let lanes = LaneConv.lanes, tiles = g.tiles, positions = blocks * tiles, coutR = DirectConv.roundUp4(cout)
        let ld = chunk * lanes, v = scratch, m = scratch + 16 * cin * ld
        let vPoint = cin * ld, mPoint = coutR * ld, rowStride = g.gridW * lanes, hw = g.h * g.w
        var j0 = 0
        while j0 < positions {
            let count = min(chunk, positions - j0), calls = (count + lanePositions - 1) / lanePositions * lanePositions
            // V = Bᵀ d B of the chunk's tiles (the rounding positions repeat the last tile)
            for k in 0..<calls {
                let pos = j0 + min(k, count - 1), b = pos / tiles
                let d = grid + b * cin * g.plane + g.tileOffset(pos - b * tiles)
                for c in 0..<cin {
                    inputTransform(d + c * g.plane, rowStride: rowStride, v + c * ld + k * lanes, pointStride: vPoint)
                }
            }
            // M_ξ = U_ξ · V_ξ
            for xi in 0..<16 {
                let vx = UnsafePointer(v + xi * vPoint), ux = packed + xi * coutR * cin, mx = m + xi * mPoint
                var k = 0
                while k < calls {
                    for quad in 0..<(coutR / 4) {
                        laneConvMicrokernel(vx, channelStride: ld, inChannels: cin, bases: tileBases + k,
                                            offsets: tileBases, taps: 1, packed: ux + quad * 4 * cin,
                                            mx + quad * 4 * ld + k * lanes, ldOut: ld)
                    }
                    k += lanePositions
                }
            }
            // y = Aᵀ M A, out of the lanes
            for k in 0..<count {
                let pos = j0 + k, b = pos / tiles, t = pos - b * tiles, used = min(lanes, images - b * lanes)
                let ty = t / g.tilesW, tx = t - ty * g.tilesW, y0 = 2 * ty, x0 = 2 * tx
                let rows = min(2, g.h - y0), cols = min(2, g.w - x0)
                for o in 0..<cout {
                    let (y00, y01, y10, y11) = outputTransform(m + o * ld + k * lanes, pointStride: mPoint)
                    let bv = bias?[o] ?? 0
                    let at = dst + (b * lanes * cout + o) * hw + y0 * g.w + x0, imageStride = cout * hw
                    for l in 0..<used {
                        let p = at + l * imageStride
                        p[0] = y00[l] + bv
                        if cols > 1 { p[1] = y01[l] + bv }
                        if rows > 1 { p[g.w] = y10[l] + bv; if cols > 1 { p[g.w + 1] = y11[l] + bv } }
                    }
                }
            }
            j0 += count
        }
    }

    /// part[ξ][o][c] += Σ over the group's tiles and lanes of (A dy_t Aᵀ)_ξ[o] · (Bᵀ d_t B)_ξ[c], from x's
    /// grid (`inChannels` planes) and dy's (`outChannels` planes, padded by 1): per point, chunks of
    /// `chunkPositions` tiles (ConvKnobs.winogradGradientPositions) (lanes added per chunk); `scratch` holds one chunk of each.
    func winogradWeightGradient(x: UnsafePointer<Float>, inChannels cin: Int, dy: UnsafePointer<Float>,
                                outChannels cout: Int, _ g: WinogradGeometry, chunkPositions: Int, scratch: UnsafeMutablePointer<Float>,
                                _ part: UnsafeMutablePointer<Float>) {
        let lanes = LaneConv.lanes, tiles = g.tiles, positions = blocks * tiles, chunk = chunkPositions
        let ld = chunk * lanes, vs = scratch, es = scratch + cin * ld, rowStride = g.gridW * lanes
        let pairs = cout * cin, rows = weightGradientRows
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * chunk) { offsets in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { sums in
            let xOff = offsets.baseAddress!, dyOff = xOff + chunk, s = sums.baseAddress!
            var j0 = 0
            while j0 < positions {
                let count = min(chunk, positions - j0)
                for k in 0..<count {
                    let pos = j0 + k, b = pos / tiles, t = g.tileOffset(pos - b * tiles)
                    xOff[k] = b * cin * g.plane + t
                    dyOff[k] = b * cout * g.plane + t + rowStride + lanes   // dy's tile starts at (1, 1)
                }
                for xi in 0..<16 {
                    let r = inputRows[xi / 4], c = inputRows[xi % 4], ar = gradientRows[xi / 4], ac = gradientRows[xi % 4]
                    for ch in 0..<cin {
                        let src = x + ch * g.plane, row = vs + ch * ld
                        for k in 0..<count { store16(inputPoint(src + xOff[k], rowStride: rowStride, r, c), row + k * lanes) }
                    }
                    for o in 0..<cout {
                        let src = dy + o * g.plane, row = es + o * ld
                        for k in 0..<count { store16(gradientPoint(src + dyOff[k], rowStride: rowStride, ar, ac), row + k * lanes) }
                    }
                    let px = part + xi * pairs
                    var o = 0
                    while o < cout {
                        let ro = min(rows, cout - o)
                        var c = 0
                        while c < cin {
                            let rc = min(rows, cin - c)
                            winogradGradientMicrokernel(es + o * ld, rows: ro, vs + c * ld, columns: rc, ld: ld, count: count, s)
                            for i in 0..<ro { for j in 0..<rc { px[(o + i) * cin + c + j] += s[rows * i + j] } }
                            c += rc
                        }
                        o += ro
                    }
                }
                j0 += count
            }
        } }
    }
}

/// sums[R·i + j] = Σ_(k < count) Σ_l e[i·ld + 16k][l] · v[j·ld + 16k][l] for i < rows, j < columns
/// (R = weightGradientRows; missing rows and columns repeat the last), lanes added in laneSum16's tree.
#if BLOCKLOCAL_TARGET_AVX512
private func winogradGradientMicrokernel(_ e: UnsafePointer<Float>, rows: Int, _ v: UnsafePointer<Float>, columns: Int,
                                         ld: Int, count: Int, _ sums: UnsafeMutablePointer<Float>) {
    let e0 = e, e1 = e + min(1, rows - 1) * ld, e2 = e + min(2, rows - 1) * ld, e3 = e + min(3, rows - 1) * ld
    let v0 = v, v1 = v + min(1, columns - 1) * ld, v2 = v + min(2, columns - 1) * ld, v3 = v + min(3, columns - 1) * ld
    var a00 = Lane16(), a01 = Lane16(), a02 = Lane16(), a03 = Lane16()
    var a10 = Lane16(), a11 = Lane16(), a12 = Lane16(), a13 = Lane16()
    var a20 = Lane16(), a21 = Lane16(), a22 = Lane16(), a23 = Lane16()
    var a30 = Lane16(), a31 = Lane16(), a32 = Lane16(), a33 = Lane16()
    var p = 0
    for _ in 0..<count {
        let x0 = load16(v0 + p), x1 = load16(v1 + p), x2 = load16(v2 + p), x3 = load16(v3 + p)
        var d = load16(e0 + p)
        madd16(&a00, d, x0); madd16(&a01, d, x1); madd16(&a02, d, x2); madd16(&a03, d, x3)
        d = load16(e1 + p)
        madd16(&a10, d, x0); madd16(&a11, d, x1); madd16(&a12, d, x2); madd16(&a13, d, x3)
        d = load16(e2 + p)
        madd16(&a20, d, x0); madd16(&a21, d, x1); madd16(&a22, d, x2); madd16(&a23, d, x3)
        d = load16(e3 + p)
        madd16(&a30, d, x0); madd16(&a31, d, x1); madd16(&a32, d, x2); madd16(&a33, d, x3)
        p += 16
    }
    // the 16 lane sums at once, each in laneSum16's tree (halves of 8, 4, 2, 1: the same bits)
    let h0 = halves8(a00, a01), h1 = halves8(a02, a03), h2 = halves8(a10, a11), h3 = halves8(a12, a13)
    let h4 = halves8(a20, a21), h5 = halves8(a22, a23), h6 = halves8(a30, a31), h7 = halves8(a32, a33)
    let q0 = halves4(h0, h1), q1 = halves4(h2, h3), q2 = halves4(h4, h5), q3 = halves4(h6, h7)
    let p0 = halves2(q0, q1), p1 = halves2(q2, q3)
    store16(halves1(p0, p1), sums)
}

/// [a.lo8 + a.hi8, b.lo8 + b.hi8]: the first step of laneSum16 for two vectors.
@inline(__always) private func halves8(_ a: Lane16, _ b: Lane16) -> Lane16 {
    Lane16(lowHalf: a.lowHalf, highHalf: b.lowHalf) + Lane16(lowHalf: a.highHalf, highHalf: b.highHalf)
}

/// Four vectors' 8-lane partials, two per argument ([a | b], [c | d]) → [a₄ | b₄ | c₄ | d₄]: 4 + 4 per sum
/// (whole 128-bit quarters, so that it compiles to two-source quarter shuffles).
@inline(__always) private func halves4(_ x: Lane16, _ y: Lane16) -> Lane16 {
    let lo = Lane16(lowHalf: SIMD8(lowHalf: x.lowHalf.lowHalf, highHalf: x.highHalf.lowHalf),
                    highHalf: SIMD8(lowHalf: y.lowHalf.lowHalf, highHalf: y.highHalf.lowHalf))
    let hi = Lane16(lowHalf: SIMD8(lowHalf: x.lowHalf.highHalf, highHalf: x.highHalf.highHalf),
                    highHalf: SIMD8(lowHalf: y.lowHalf.highHalf, highHalf: y.highHalf.highHalf))
    return lo + hi
}

/// Eight vectors' 4-lane partials, four per argument → their 2-lane partials: 2 + 2 per sum (pairs of
/// floats taken as doubles: even and odd pairs).
@inline(__always) private func halves2(_ x: Lane16, _ y: Lane16) -> Lane16 {
    let xd = unsafeBitCast(x, to: SIMD8<Double>.self), yd = unsafeBitCast(y, to: SIMD8<Double>.self)
    let lo = SIMD8<Double>(lowHalf: xd.evenHalf, highHalf: yd.evenHalf)
    let hi = SIMD8<Double>(lowHalf: xd.oddHalf, highHalf: yd.oddHalf)
    return unsafeBitCast(lo, to: Lane16.self) + unsafeBitCast(hi, to: Lane16.self)
}

/// Sixteen vectors' 2-lane partials, eight per argument → their sums: 1 + 1 per sum.
@inline(__always) private func halves1(_ x: Lane16, _ y: Lane16) -> Lane16 {
    Lane16(lowHalf: x.evenHalf, highHalf: y.evenHalf) + Lane16(lowHalf: x.oddHalf, highHalf: y.oddHalf)
}
#else
private func winogradGradientMicrokernel(_ e: UnsafePointer<Float>, rows: Int, _ v: UnsafePointer<Float>, columns: Int,
                                         ld: Int, count: Int, _ sums: UnsafeMutablePointer<Float>) {
    let e0 = e, e1 = e + min(1, rows - 1) * ld, v0 = v, v1 = v + min(1, columns - 1) * ld
    var a00 = Lane16(), a01 = Lane16(), a10 = Lane16(), a11 = Lane16()
    var p = 0
    for _ in 0..<count {
        let x0 = load16(v0 + p), x1 = load16(v1 + p), d0 = load16(e0 + p), d1 = load16(e1 + p)
        madd16(&a00, d0, x0); madd16(&a01, d0, x1); madd16(&a10, d1, x0); madd16(&a11, d1, x1)
        p += 16
    }
    sums[0] = laneSum16(a00); sums[1] = laneSum16(a01); sums[2] = laneSum16(a10); sums[3] = laneSum16(a11)
}
#endif
