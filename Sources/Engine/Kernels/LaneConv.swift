// LaneConv: direct convolutions with the batch in the vector lanes, for small feature maps.
// Layout ("lane grid"): images in blocks of 16; per block and channel one zero-padded plane of
// (H+2p)·(W+2p) 16-float vectors, lane l holding image l of the block:
//   x̄[b][c][(y+p)·Wp + (x+p)][l] = x[16b + l, c, y, x]   (zero on the border and in missing images).
// Only real output pixels are computed (DirectConv's shared-gap grid also computes the gaps: 25/16 of
// the work on 4×4 maps, 64/49 on 7×7), at the price of moving every pixel into and out of the lanes.
// forward   y[o][t][l] = Σ_c Σ_(i,j) w[o, c, i, j] · x̄[c][base(t) + i·Wp + j][l],
//           t = y·Wo + x, base(t) = s·y·Wp + s·x                         x [N, C, H, W] → y [N, O, Ho, Wo]
// backward  dx = the same kernel on the lane grid of dy (padded by p) with W̃[c, o, i, j] = W[o, c, k−1−i,
//           k−1−j] (Bᵀ flipped under FA): stride 1 only;
//           dW[o, c, i, j] = Σ_b Σ_t Σ_l dy[b][o][t][l] · x̄[b][c][base(t) + i·Wp + j][l]: a second kernel,
//           4 (AVX2: 2) output channels × 3 taps in 16-lane sums, lanes added in a fixed tree per call.
// Microkernel (forward, dx): 4 output channels × `lanePositions` positions (AVX-512: 4, 16 accumulators;
// otherwise 1), one multiply-add per (c, tap) and lane, summed in (c, tap) order on every build; the
// weight gradient's lanes are images on every build, so AVX2 and AVX-512 builds give the same bits.
// Reference: convNaive (Im2col.swift); KernelTests hold this path against it and the im2col path.

typealias Lane16 = SIMD16<Float>

/// Output positions one forward/dx microkernel call computes per output channel.
#if BLOCKLOCAL_TARGET_AVX512
let lanePositions = 4
#else
let lanePositions = 1
#endif

public enum LaneConv {
    /// Images per block: the vector lanes.
    public static let lanes = 16
    /// Floats of lane grid one group may hold per operand (bounds each worker's scratch; a group's
    /// weight-gradient sums run over all its blocks before the lanes are added, so bigger is better).
    nonisolated(unsafe) public static var groupFloats = 1 << 22

    /// Whether a convolution can take this path: stride 1 (the input gradient is a stride-1
    /// convolution of dy), odd kernel > 1, "same" padding.
    public static func applies(kernel: Int, stride: Int, padding: Int) -> Bool {
        stride == 1 && kernel > 1 && kernel % 2 == 1 && padding == kernel / 2
    }
}

/// The lane grid of one group of images (stride 1, "same" padding): geometry and layout moves.
public struct LaneGrid: Equatable, Sendable {
    public let k: Int, h: Int, w: Int, images: Int
    public var pad: Int { k / 2 }
    public var hp: Int { h + 2 * pad }
    public var wp: Int { w + 2 * pad }
    public var blocks: Int { (images + LaneConv.lanes - 1) / LaneConv.lanes }
    /// Floats of one padded plane (one channel of one block).
    public var plane: Int { hp * wp * LaneConv.lanes }
    public var positions: Int { h * w }
    /// `positions` rounded up to whole microkernel calls (the extra ones repeat the last position).
    public var positionsRounded: Int { (positions + lanePositions - 1) / lanePositions * lanePositions }
    /// Floats of one output channel of one block.
    public var outPlane: Int { positionsRounded * LaneConv.lanes }

    public init(k: Int, h: Int, w: Int, images: Int) { self.k = k; self.h = h; self.w = w; self.images = images }

    /// Images per group: as many whole blocks as fit `LaneConv.groupFloats` for `channels`, at least one.
    public static func images(k: Int, h: Int, w: Int, channels: Int, available: Int) -> Int {
        let plane = (h + k / 2 * 2) * (w + k / 2 * 2) * LaneConv.lanes
        let blocks = max(1, LaneConv.groupFloats / max(1, channels * plane))
        return max(1, min(available, blocks * LaneConv.lanes))
    }

    /// Floats the weight-gradient kernel may read past the last plane (its unused third tap on 5×5).
    static let slack = 2 * LaneConv.lanes

    /// x̄[b][c] = the padded planes of src's images [images, channels, h, w] (zero borders and lanes).
    func fill(_ src: UnsafePointer<Float>, channels: Int, _ grid: UnsafeMutablePointer<Float>) {
        let lanes = LaneConv.lanes, p = pad, hw = h * w, wp = wp, plane = plane, w = w
        for b in 0..<blocks {
            let used = min(lanes, images - b * lanes)
            for c in 0..<channels {
                let dst = grid + (b * channels + c) * plane
                if used < lanes { dst.update(repeating: 0, count: plane) } else {
                    dst.update(repeating: 0, count: p * wp * lanes)                        // top rows
                    (dst + (p + h) * wp * lanes).update(repeating: 0, count: p * wp * lanes) // bottom rows
                    for y in 0..<h {                                                      // side columns
                        let row = dst + (p + y) * wp * lanes
                        row.update(repeating: 0, count: p * lanes)
                        (row + (p + w) * lanes).update(repeating: 0, count: p * lanes)
                    }
                }
                for l in 0..<used {
                    let from = src + ((b * lanes + l) * channels + c) * hw
                    for y in 0..<h {
                        let f = from + y * w, t = dst + ((p + y) * wp + p) * lanes + l
                        for x in 0..<w { t[x * lanes] = f[x] }
                    }
                }
            }
        }
    }

    /// dst[image, c, t] = out[b][c][t][l] (+ bias[c]) for the group's images, t < positions.
    func extract(_ out: UnsafePointer<Float>, channels: Int, outChannelsRounded: Int, bias: UnsafePointer<Float>?,
                 _ dst: UnsafeMutablePointer<Float>) {
        let lanes = LaneConv.lanes, hw = positions, outPlane = outPlane
        for b in 0..<blocks {
            let used = min(lanes, images - b * lanes)
            for c in 0..<channels {
                let from = out + (b * outChannelsRounded + c) * outPlane, bv = bias?[c] ?? 0
                for l in 0..<used {
                    let t = dst + ((b * lanes + l) * channels + c) * hw, f = from + l
                    for q in 0..<hw { t[q] = f[q * lanes] + bv }
                }
            }
        }
    }

    /// out[b][o][t] for o in 0..<roundUp4(outChannels): the convolution of the `inChannels` planes of
    /// each block with weights packed by `packConvWeights`.
    func convolve(_ input: UnsafePointer<Float>, inChannels: Int, packed: UnsafePointer<Float>, outChannels: Int,
                  _ out: UnsafeMutablePointer<Float>) {
        let kk = k * k, quads = DirectConv.roundUp4(outChannels) / 4, lanes = LaneConv.lanes
        let plane = plane, outPlane = outPlane, positions = positions, wp = wp, w = w
        withUnsafeTemporaryAllocation(of: Int.self, capacity: kk + positionsRounded) { table in
            let offsets = table.baseAddress!, bases = offsets + kk
            for i in 0..<k { for j in 0..<k { offsets[i * k + j] = (i * wp + j) * lanes } }
            for t in 0..<positionsRounded {
                let q = min(t, positions - 1)
                bases[t] = (q / w * wp + q % w) * lanes
            }
            let offs = UnsafePointer(offsets)
            for b in 0..<blocks {
                let x = input + b * inChannels * plane, o = out + b * quads * 4 * outPlane
                var t = 0
                while t < positionsRounded {
                    for quad in 0..<quads {
                        laneConvMicrokernel(x, channelStride: plane, inChannels: inChannels, bases: bases + t,
                                            offsets: offs, taps: kk, packed: packed + quad * inChannels * kk * 4,
                                            o + quad * 4 * outPlane + t * lanes, ldOut: outPlane)
                    }
                    t += lanePositions
                }
            }
        }
    }

    /// part[o][c][t] += Σ_b Σ_q Σ_l dy[b][o][q][l] · x̄[b][c][base(q) + offset_t][l], with dy a lane grid
    /// of `outChannels` planes (padded like x̄). Each sum runs in 16 lanes over the group's blocks and
    /// positions in order, then adds the lanes in a fixed tree, whatever the build's vector width.
    func weightGradient(dy: UnsafePointer<Float>, outChannels: Int, x: UnsafePointer<Float>, inChannels: Int,
                        _ part: UnsafeMutablePointer<Float>) {
        let lanes = LaneConv.lanes, plane = plane, kk = k * k, rows = weightGradientRows
        let interior = (pad * wp + pad) * lanes
        let shape = LanePositions(blocks: blocks, h: h, w: w, rowStride: wp * lanes,
                                  dyBlockStride: outChannels * plane, xBlockStride: inChannels * plane)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * rows) { sums in
            var o = 0
            while o < outChannels {
                let used = min(rows, outChannels - o)
                for c in 0..<inChannels {
                    for i in 0..<k {
                        var j = 0
                        while j < k {
                            let taps = min(3, k - j)
                            laneWeightGradientMicrokernel(dy + o * plane + interior, oStride: plane, rows: used,
                                                          x + c * plane + (i * wp + j) * lanes, shape, sums.baseAddress!)
                            for r in 0..<used { for t in 0..<taps {
                                part[((o + r) * inChannels + c) * kk + i * k + j + t] += sums[3 * r + t]
                            } }
                            j += taps
                        }
                    }
                }
                o += used
            }
        }
    }
}

/// The positions a weight-gradient call walks: blocks × rows × columns, and the strides between them.
struct LanePositions {
    let blocks: Int, h: Int, w: Int, rowStride: Int, dyBlockStride: Int, xBlockStride: Int
}

/// Fixed-order sum of 16 lanes: halves added pairwise down to one (as DirectConv's).
@inline(__always) private func laneSum16(_ v: Lane16) -> Float {
    let h8 = v.lowHalf + v.highHalf, h4 = h8.lowHalf + h8.highHalf, h2 = h4.lowHalf + h4.highHalf
    return h2[0] + h2[1]
}

@inline(__always) private func load16(_ p: UnsafePointer<Float>) -> Lane16 {
    UnsafeRawPointer(p).loadUnaligned(as: Lane16.self)
}

@inline(__always) private func store16(_ v: Lane16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lane16.self)
}

@inline(__always) private func madd16(_ acc: inout Lane16, _ a: Lane16, _ b: Lane16) {
#if BLOCKLOCAL_TARGET_HASWELL || BLOCKLOCAL_TARGET_AVX512
    acc.addProduct(a, b)
#else
    acc += a * b
#endif
}

/// sums[3r + t] = Σ_b Σ_(y,x) Σ_l dy[r·oStride + b·dyBlockStride + y·rowStride + 16x][l] ·
/// x[b·xBlockStride + y·rowStride + 16(x + t)][l] for r in 0..<rows (≤ weightGradientRows; missing rows
/// repeat the last) and t in 0..<3.
private func laneWeightGradientMicrokernel(_ dy: UnsafePointer<Float>, oStride: Int, rows: Int,
                                           _ x: UnsafePointer<Float>, _ s: LanePositions,
                                           _ sums: UnsafeMutablePointer<Float>) {
    let r1 = min(1, rows - 1) * oStride
    var a0 = Lane16(), a1 = Lane16(), a2 = Lane16(), b0 = Lane16(), b1 = Lane16(), b2 = Lane16()
#if BLOCKLOCAL_TARGET_AVX512
    let r2 = min(2, rows - 1) * oStride, r3 = min(3, rows - 1) * oStride
    var c0 = Lane16(), c1 = Lane16(), c2 = Lane16(), e0 = Lane16(), e1 = Lane16(), e2 = Lane16()
#endif
    for b in 0..<s.blocks {
        for y in 0..<s.h {
            var d = dy + b * s.dyBlockStride + y * s.rowStride, p = x + b * s.xBlockStride + y * s.rowStride
            for _ in 0..<s.w {
                let x0 = load16(p), x1 = load16(p + 16), x2 = load16(p + 32)
                let u = load16(d), v = load16(d + r1)
                madd16(&a0, u, x0); madd16(&a1, u, x1); madd16(&a2, u, x2)
                madd16(&b0, v, x0); madd16(&b1, v, x1); madd16(&b2, v, x2)
#if BLOCKLOCAL_TARGET_AVX512
                let g = load16(d + r2), z = load16(d + r3)
                madd16(&c0, g, x0); madd16(&c1, g, x1); madd16(&c2, g, x2)
                madd16(&e0, z, x0); madd16(&e1, z, x1); madd16(&e2, z, x2)
#endif
                d += 16; p += 16
            }
        }
    }
    sums[0] = laneSum16(a0); sums[1] = laneSum16(a1); sums[2] = laneSum16(a2)
    sums[3] = laneSum16(b0); sums[4] = laneSum16(b1); sums[5] = laneSum16(b2)
#if BLOCKLOCAL_TARGET_AVX512
    sums[6] = laneSum16(c0); sums[7] = laneSum16(c1); sums[8] = laneSum16(c2)
    sums[9] = laneSum16(e0); sums[10] = laneSum16(e1); sums[11] = laneSum16(e2)
#endif
}

#if BLOCKLOCAL_TARGET_AVX512
/// out[r·ldOut + 16v ..< +16] for 4 output channels r and the 4 positions v at bases[0..<4]:
/// 16 accumulators, one multiply-add per (c, tap) and lane.
private func laneConvMicrokernel(_ x: UnsafePointer<Float>, channelStride cs: Int, inChannels: Int,
                                 bases: UnsafePointer<Int>, offsets: UnsafePointer<Int>, taps: Int,
                                 packed: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, ldOut: Int) {
    let p0 = x + bases[0], p1 = x + bases[1], p2 = x + bases[2], p3 = x + bases[3]
    var a00 = Lane16(), a01 = Lane16(), a02 = Lane16(), a03 = Lane16()
    var a10 = Lane16(), a11 = Lane16(), a12 = Lane16(), a13 = Lane16()
    var a20 = Lane16(), a21 = Lane16(), a22 = Lane16(), a23 = Lane16()
    var a30 = Lane16(), a31 = Lane16(), a32 = Lane16(), a33 = Lane16()
    var w = packed
    for c in 0..<inChannels {
        let co = c * cs
        for t in 0..<taps {
            let off = co + offsets[t]
            let x0 = load16(p0 + off), x1 = load16(p1 + off), x2 = load16(p2 + off), x3 = load16(p3 + off)
            var b = Lane16(repeating: w[0])
            madd16(&a00, b, x0); madd16(&a01, b, x1); madd16(&a02, b, x2); madd16(&a03, b, x3)
            b = Lane16(repeating: w[1])
            madd16(&a10, b, x0); madd16(&a11, b, x1); madd16(&a12, b, x2); madd16(&a13, b, x3)
            b = Lane16(repeating: w[2])
            madd16(&a20, b, x0); madd16(&a21, b, x1); madd16(&a22, b, x2); madd16(&a23, b, x3)
            b = Lane16(repeating: w[3])
            madd16(&a30, b, x0); madd16(&a31, b, x1); madd16(&a32, b, x2); madd16(&a33, b, x3)
            w += 4
        }
    }
    let o0 = out, o1 = o0 + ldOut, o2 = o1 + ldOut, o3 = o2 + ldOut
    store16(a00, o0); store16(a01, o0 + 16); store16(a02, o0 + 32); store16(a03, o0 + 48)
    store16(a10, o1); store16(a11, o1 + 16); store16(a12, o1 + 32); store16(a13, o1 + 48)
    store16(a20, o2); store16(a21, o2 + 16); store16(a22, o2 + 32); store16(a23, o2 + 48)
    store16(a30, o3); store16(a31, o3 + 16); store16(a32, o3 + 32); store16(a33, o3 + 48)
}
#else
/// out[r·ldOut ..< +16] for 4 output channels r and the one position at bases[0]: 4 accumulators
/// of 16 lanes (8 registers of 8), one multiply-add per (c, tap) and lane.
private func laneConvMicrokernel(_ x: UnsafePointer<Float>, channelStride cs: Int, inChannels: Int,
                                 bases: UnsafePointer<Int>, offsets: UnsafePointer<Int>, taps: Int,
                                 packed: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, ldOut: Int) {
    let p0 = x + bases[0]
    var a0 = Lane16(), a1 = Lane16(), a2 = Lane16(), a3 = Lane16()
    var w = packed
    for c in 0..<inChannels {
        let co = c * cs
        for t in 0..<taps {
            let x0 = load16(p0 + co + offsets[t])
            madd16(&a0, Lane16(repeating: w[0]), x0); madd16(&a1, Lane16(repeating: w[1]), x0)
            madd16(&a2, Lane16(repeating: w[2]), x0); madd16(&a3, Lane16(repeating: w[3]), x0)
            w += 4
        }
    }
    store16(a0, out); store16(a1, out + ldOut); store16(a2, out + 2 * ldOut); store16(a3, out + 3 * ldOut)
}
#endif
