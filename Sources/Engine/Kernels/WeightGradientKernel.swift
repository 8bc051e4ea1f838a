// WeightGradientKernel: the weight-gradient half that both direct convolution paths share, and the
// 16-lane vector helpers.
//   dW[o, c, i·k + j] += Σ over a walk of positions of dy[o, pos] · x[c, pos + (i·Wp + j)·tapStride]
// A microkernel sums 4 (AVX2: 2) output channels × 3 adjacent taps over the walk in 16-lane
// accumulators, then adds the lanes in a fixed tree; `accumulateWeightGradient` drives it over output
// channels, chunks of the walk, input channels and kernel rows, and adds the sums in the weight's layout.
// Each sum runs in the same order whatever the vector width, so AVX2 and AVX-512 builds give the same bits.
//   shared-gap grid (DirectConv): one row of count/16 vectors, taps 1 float apart (lane l takes q ≡ l mod 16)
//   lane grid (LaneConv): the output rows of the blocks, taps 16 floats apart (lane l is image l)
// Reference: the im2col path (dW = dy·colᵀ); KernelTests hold both direct paths against it.

typealias Lane16 = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> Lane16 {
    UnsafeRawPointer(p).loadUnaligned(as: Lane16.self)
}

@inline(__always) func store16(_ v: Lane16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lane16.self)
}

@inline(__always) func madd16(_ acc: inout Lane16, _ a: Lane16, _ b: Lane16) {
#if BLOCKLOCAL_TARGET_HASWELL || BLOCKLOCAL_TARGET_AVX512
    acc.addProduct(a, b)       // one fused multiply-add (the target has FMA)
#else
    acc += a * b               // no FMA on a generic x86-64 target: a libm call per lane otherwise
#endif
}

/// Fixed-order sum of 16 lanes: halves added pairwise down to one.
@inline(__always) func laneSum16(_ v: Lane16) -> Float {
    let h8 = v.lowHalf + v.highHalf, h4 = h8.lowHalf + h8.highHalf, h2 = h4.lowHalf + h4.highHalf
    return h2[0] + h2[1]
}

/// Output channels one weight-gradient call sums (4 × 3 accumulators fit AVX-512's 32 registers;
/// AVX2's 16 hold 2 × 3 sixteen-lane accumulators). The order of each sum is the same either way.
#if BLOCKLOCAL_TARGET_AVX512
let weightGradientRows = 4
#else
let weightGradientRows = 2
#endif

/// The positions a weight-gradient call walks: `rows` of rows laid end to end (row r is row r mod h of
/// block r / h), w vectors of each, and the strides between them (in floats).
struct WeightGradientWalk {
    var rows: Range<Int>
    let h: Int, w: Int
    let dyRowStride: Int, dyBlockStride: Int, xRowStride: Int, xStep: Int, xBlockStride: Int
    /// Floats between adjacent taps of x: 1 on the shared-gap grid, 16 on the lane grid.
    let tapStride: Int

    /// `count` consecutive floats (a multiple of 16) of one row, taps 1 float apart.
    static func contiguous(count: Int) -> WeightGradientWalk {
        WeightGradientWalk(rows: 0..<1, h: 1, w: count / 16, dyRowStride: 0, dyBlockStride: 0,
                           xRowStride: 0, xStep: 16, xBlockStride: 0, tapStride: 1)
    }
}

/// part[o][c][i·k + j] += Σ_walk dy[o]·x[c] at tap (i, j), for o in 0..<outChannels (rows `oStride`
/// apart from `dy`) and c in 0..<inChannels (`cStride` apart from `x`), taps (i·wp + j)·tapStride apart.
/// Output channels go `weightGradientRows` at a time, the walk `chunkRows` rows at a time (lanes added
/// per chunk), then input channels, kernel rows and tap triples.
func accumulateWeightGradient(_ walk: WeightGradientWalk, chunkRows: Int, dy: UnsafePointer<Float>, oStride: Int,
                              outChannels: Int, x: UnsafePointer<Float>, cStride: Int, inChannels: Int,
                              k: Int, wp: Int, _ part: UnsafeMutablePointer<Float>) {
    let kk = k * k, rows = weightGradientRows, all = walk.rows
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * rows) { buffer in
        let sums = buffer.baseAddress!
        var o = 0
        while o < outChannels {
            let used = min(rows, outChannels - o)
            var chunk = walk
            var r0 = all.lowerBound
            while r0 < all.upperBound {
                chunk.rows = r0..<min(all.upperBound, r0 + chunkRows)
                for c in 0..<inChannels {
                    for i in 0..<k {
                        var j = 0
                        while j < k {
                            let taps = min(3, k - j)
                            weightGradientMicrokernel(dy + o * oStride, oStride: oStride, rows: used,
                                                      x + c * cStride + (i * wp + j) * walk.tapStride, chunk, sums)
                            let at = part + (o * inChannels + c) * kk + i * k + j
                            for r in 0..<used { for t in 0..<taps { at[r * inChannels * kk + t] += sums[3 * r + t] } }
                            j += taps
                        }
                    }
                }
                r0 += chunkRows
            }
            o += used
        }
    }
}

/// sums[3r + t] = Σ_(b,y) Σ_x Σ_l dy[r·oStride + b·dyBlockStride + y·dyRowStride + 16x][l] ·
/// x[b·xBlockStride + y·xRowStride + x·xStep + t·tapStride][l] for r in 0..<rows (≤ weightGradientRows;
/// missing rows repeat the last) and t in 0..<3.
private func weightGradientMicrokernel(_ dy: UnsafePointer<Float>, oStride: Int, rows: Int, _ x: UnsafePointer<Float>,
                                       _ s: WeightGradientWalk, _ sums: UnsafeMutablePointer<Float>) {
    let r1 = min(1, rows - 1) * oStride, ts = s.tapStride
    var a0 = Lane16(), a1 = Lane16(), a2 = Lane16(), b0 = Lane16(), b1 = Lane16(), b2 = Lane16()
#if BLOCKLOCAL_TARGET_AVX512
    let r2 = min(2, rows - 1) * oStride, r3 = min(3, rows - 1) * oStride
    var c0 = Lane16(), c1 = Lane16(), c2 = Lane16(), e0 = Lane16(), e1 = Lane16(), e2 = Lane16()
#endif
    for row in s.rows {
        let b = row / s.h, y = row - b * s.h
        var d = dy + b * s.dyBlockStride + y * s.dyRowStride, p = x + b * s.xBlockStride + y * s.xRowStride
        for _ in 0..<s.w {
            let x0 = load16(p), x1 = load16(p + ts), x2 = load16(p + 2 * ts)
            let u = load16(d), v = load16(d + r1)
            madd16(&a0, u, x0); madd16(&a1, u, x1); madd16(&a2, u, x2)
            madd16(&b0, v, x0); madd16(&b1, v, x1); madd16(&b2, v, x2)
#if BLOCKLOCAL_TARGET_AVX512
            let g = load16(d + r2), z = load16(d + r3)
            madd16(&c0, g, x0); madd16(&c1, g, x1); madd16(&c2, g, x2)
            madd16(&e0, z, x0); madd16(&e1, z, x1); madd16(&e2, z, x2)
#endif
            d += 16; p += s.xStep
        }
    }
    sums[0] = laneSum16(a0); sums[1] = laneSum16(a1); sums[2] = laneSum16(a2)
    sums[3] = laneSum16(b0); sums[4] = laneSum16(b1); sums[5] = laneSum16(b2)
#if BLOCKLOCAL_TARGET_AVX512
    sums[6] = laneSum16(c0); sums[7] = laneSum16(c1); sums[8] = laneSum16(c2)
    sums[9] = laneSum16(e0); sums[10] = laneSum16(e1); sums[11] = laneSum16(e2)
#endif
}
