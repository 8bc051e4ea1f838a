// LaneConv: direct convolutions with the batch in the vector lanes, for small maps and stride 2.
// Layout ("lane grid"): images in blocks of 16; per block and channel one zero-padded plane of
// (H+2p)·(W+2p) 16-float vectors, lane l holding image l of the block:
//   x̄[b][c][(y+p)·Wp + (x+p)][l] = x[16b + l, c, y, x]   (zero on the border and in missing images).
// Only real output pixels are computed (DirectConv's shared-gap grid also computes the gaps: 25/16 of
// the work on 4×4 maps, 64/49 on 7×7), at the price of moving every pixel into and out of the lanes.
// forward   y[o][t][l] = Σ_c Σ_(i,j) w[o, c, i, j] · x̄[c][base(t) + i·Wp + j][l],
//           t = y·Wo + x, base(t) = s·y·Wp + s·x                         x [N, C, H, W] → y [N, O, Ho, Wo]
// backward  dx = the same kernel on the lane grid of dy (padded by P), once per parity class of the input
//           pixels (stride² classes, one for stride 1), each with its own taps of W (B under FA);
//           dW[o, c, i, j] = Σ_b Σ_t Σ_l dy[b][o][t][l] · x̄[b][c][base(t) + i·Wp + j][l]: the shared
//           weight-gradient kernel (WeightGradientKernel.swift) over chunks of positions.
// Microkernel (forward, dx): 4 output channels × `lanePositions` positions (AVX-512: 4, 16 accumulators;
// otherwise 1), one multiply-add per (c, tap) and lane, summed in (c, tap) order on every build; the
// weight gradient's lanes are images on every build, so AVX2 and AVX-512 builds give the same bits.
// Reference: convNaive (Im2col.swift); KernelTests hold this path against it and the im2col path.

/// Output positions one forward/dx microkernel call computes per output channel.
#if BLOCKLOCAL_TARGET_AVX512
let lanePositions = 4
#else
let lanePositions = 1
#endif

public enum LaneConv {
    /// Images per block: the vector lanes.
    public static let lanes = 16

    /// Whether a convolution can take this path: stride 1 or 2, padding below the kernel size.
    public static func applies(kernel: Int, stride: Int, padding: Int) -> Bool {
        (1...2).contains(stride) && padding < kernel
    }
}

/// The geometry of one convolution on lane grids, and its position and tap tables.
/// Forward: output position t = y·Wo + x reads x̄ at base(t) + offset(i, j), base(t) = s·y·Wp + s·x,
/// offset = i·Wp + j (in vectors). Input gradient: for each parity class (a, b) of (Y + p, X + p) mod s,
/// dx[Y, X] = Σ_o Σ_(i ≡ a, j ≡ b) w[o, c, i, j] · dȳ[(Y + p − a)/s + P − (i − a)/s][(X + p − b)/s + P − (j − b)/s],
/// dȳ the lane grid of dy padded by P on every side; the classes' positions are stored class after
/// class (each rounded up to whole microkernel calls) and `LaneTables.classPositions` maps them back.
public struct LaneGeometry: Equatable, Sendable {
    public let k: Int, stride: Int, pad: Int, h: Int, w: Int
    public var outH: Int { (h + 2 * pad - k) / stride + 1 }
    public var outW: Int { (w + 2 * pad - k) / stride + 1 }
    public var hp: Int { h + 2 * pad }
    public var wp: Int { w + 2 * pad }
    /// Padding of dy's lane grid: enough for every tap of every class, in both directions (at least 1).
    public var gradientPad: Int {
        max(1, (k - 1 - pad + stride - 1) / stride, (max(h, w) - 1 + pad) / stride + 1 - min(outH, outW))
    }
    public var hdp: Int { outH + 2 * gradientPad }
    public var wdp: Int { outW + 2 * gradientPad }
    /// Floats of one channel's plane of one block: input grid, dy's grid.
    public var plane: Int { hp * wp * LaneConv.lanes }
    public var gradientPlane: Int { hdp * wdp * LaneConv.lanes }
    public var positions: Int { outH * outW }
    /// Floats of one channel of one block in the forward output buffer (positions rounded up to whole calls).
    public var outPlane: Int { roundUpCall(positions) * LaneConv.lanes }

    public init(k: Int, stride: Int, pad: Int, h: Int, w: Int) {
        self.k = k; self.stride = stride; self.pad = pad; self.h = h; self.w = w
    }

    @inline(__always) func roundUpCall(_ n: Int) -> Int { (n + lanePositions - 1) / lanePositions * lanePositions }

    /// Forward tables, in floats: tap offsets (k·k, row-major taps) and the bases of the rounded positions.
    var forwardTables: (offsets: [Int], bases: [Int]) {
        let lanes = LaneConv.lanes, wp = wp, s = stride, ow = outW
        let offsets = (0..<(k * k)).map { t in (t / k * wp + t % k) * lanes }
        let bases = (0..<roundUpCall(positions)).map { t -> Int in
            let q = min(t, positions - 1)
            return (s * (q / ow) * wp + s * (q % ow)) * lanes
        }
        return (offsets, bases)
    }

    /// One parity class of the input gradient: its taps (indices i·k + j), their offsets into dȳ, the
    /// input positions Y·W + X it computes, and their bases in dȳ (in floats).
    struct InputGradientClass {
        let taps: [Int], offsets: [Int], positions: [Int], bases: [Int]
    }

    var classes: [InputGradientClass] {
        let lanes = LaneConv.lanes, s = stride, p = pad, pd = gradientPad, wdp = wdp
        var result: [InputGradientClass] = []
        for a in 0..<s { for b in 0..<s {
            let taps = (0..<(k * k)).filter { t in (t / k) % s == a && (t % k) % s == b }
            let offsets = taps.map { t in (-((t / k - a) / s) * wdp - (t % k - b) / s) * lanes }
            let ys = (0..<h).filter { ($0 + p) % s == a }, xs = (0..<w).filter { ($0 + p) % s == b }
            let positions = ys.flatMap { y in xs.map { y * w + $0 } }
            var bases = positions.map { t -> Int in
                let y = t / w, x = t % w
                return (((y + p - a) / s + pd) * wdp + (x + p - b) / s + pd) * lanes
            }
            guard let last = bases.last else { continue }
            bases += Array(repeating: last, count: roundUpCall(bases.count) - bases.count)
            result.append(InputGradientClass(taps: taps, offsets: offsets, positions: positions, bases: bases))
        } }
        return result
    }
}

/// A group of images on lane grids: the layout moves and the three convolutions.
public struct LaneGrid {
    public let geometry: LaneGeometry
    public let images: Int
    public var blocks: Int { (images + LaneConv.lanes - 1) / LaneConv.lanes }

    public init(_ geometry: LaneGeometry, images: Int) { self.geometry = geometry; self.images = images }

    /// Images per group: as many whole blocks as fit `groupFloats` (ConvKnobs.laneGroupFloats) for `channels` planes.
    public static func images(_ g: LaneGeometry, channels: Int, available: Int, groupFloats: Int) -> Int {
        let blocks = max(1, groupFloats / max(1, channels * max(g.plane, g.gradientPlane)))
        return max(1, min(available, blocks * LaneConv.lanes))
    }

    /// Floats the weight-gradient kernel may read past the last plane (its unused taps on 1×1 and 5×5).
    static let slack = 2 * LaneConv.lanes

    /// grid[b][c] = the planes of src's images [images, channels, h, w], padded by `pad` (zero borders
    /// and missing lanes); `h`, `w`, `pad` those of the input or of dy. Planes are `rows` × `columns`
    /// vectors (default h + 2·pad × w + 2·pad; more extends the bottom and right borders).
    func fill(_ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, pad p: Int,
              rows: Int? = nil, columns: Int? = nil, _ grid: UnsafeMutablePointer<Float>) {
        let lanes = LaneConv.lanes, hw = h * w, wp = columns ?? w + 2 * p, hp = rows ?? h + 2 * p
        let plane = hp * wp * lanes, right = wp - p - w
        for b in 0..<blocks {
            let used = min(lanes, images - b * lanes)
            for c in 0..<channels {
                let dst = grid + (b * channels + c) * plane
                if used < lanes { dst.update(repeating: 0, count: plane) } else {
                    dst.update(repeating: 0, count: p * wp * lanes)                                 // top rows
                    (dst + (p + h) * wp * lanes).update(repeating: 0, count: (hp - p - h) * wp * lanes) // bottom rows
                    for y in 0..<h {                                                               // side columns
                        let row = dst + (p + y) * wp * lanes
                        row.update(repeating: 0, count: p * lanes)
                        (row + (p + w) * lanes).update(repeating: 0, count: right * lanes)
                    }
                }
                if used == lanes {   // whole vectors, each gathered from the 16 images' pixel: sequential stores
                    let from = src + (b * lanes * channels + c) * hw, imageStride = channels * hw
                    for y in 0..<h {
                        let f = from + y * w, t = dst + ((p + y) * wp + p) * lanes
                        for x in 0..<w {
                            var v = Lane16()
                            for l in 0..<lanes { v[l] = f[l * imageStride + x] }
                            store16(v, t + x * lanes)
                        }
                    }
                } else {
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
    }

    /// dst[image, c, positions[u]] = out[b][c][u][l] (+ bias[c]) for the group's images; `positions`
    /// lists the pixel (of `pixels` per channel) of each buffer position u, −1 for the rounding ones.
    func extract(_ out: UnsafePointer<Float>, channels: Int, channelsRounded: Int, plane: Int,
                 positions: UnsafePointer<Int>, count: Int, pixels: Int, bias: UnsafePointer<Float>?,
                 _ dst: UnsafeMutablePointer<Float>) {
        let lanes = LaneConv.lanes
        for b in 0..<blocks {
            let used = min(lanes, images - b * lanes)
            for c in 0..<channels {
                let from = out + (b * channelsRounded + c) * plane, bv = bias?[c] ?? 0
                for l in 0..<used {
                    let t = dst + ((b * lanes + l) * channels + c) * pixels, f = from + l
                    for u in 0..<count { let q = positions[u]; if q >= 0 { t[q] = f[u * lanes] + bv } }
                }
            }
        }
    }

    /// out[b][o][u] for o in 0..<roundUp4(outChannels) and the `bases.count` positions u (a multiple of
    /// `lanePositions`): Σ_c Σ_t packed · grid[b][c][bases[u] + offsets[t]], grid planes `plane` floats.
    func convolve(_ grid: UnsafePointer<Float>, inChannels: Int, plane: Int, bases: UnsafePointer<Int>, count: Int,
                  offsets: UnsafePointer<Int>, taps: Int, packed: UnsafePointer<Float>, outChannels: Int,
                  _ out: UnsafeMutablePointer<Float>, outPlane: Int) {
        let quads = DirectConv.roundUp4(outChannels) / 4, lanes = LaneConv.lanes
        for b in 0..<blocks {
            let x = grid + b * inChannels * plane, o = out + b * quads * 4 * outPlane
            var u = 0
            while u < count {
                for quad in 0..<quads {
                    laneConvMicrokernel(x, channelStride: plane, inChannels: inChannels, bases: bases + u,
                                        offsets: offsets, taps: taps, packed: packed + quad * inChannels * taps * 4,
                                        o + quad * 4 * outPlane + u * lanes, ldOut: outPlane)
                }
                u += lanePositions
            }
        }
    }

    /// part[o][c][t] += Σ_b Σ_(y,x) Σ_l dȳ[b][o][(y+P)·Wdp + x + P][l] · x̄[b][c][s·y·Wp + s·x + offset_t][l].
    /// Each sum runs in 16 lanes over the group's blocks and positions in order, then adds the lanes in a
    /// fixed tree, whatever the build's vector width.
    func weightGradient(dy: UnsafePointer<Float>, outChannels: Int, x: UnsafePointer<Float>, inChannels: Int,
                        chunkPositions: Int, _ part: UnsafeMutablePointer<Float>) {
        let g = geometry, lanes = LaneConv.lanes
        // the output rows of all blocks, walked in chunks of about `chunkPositions` positions
        // so that the chunk of dy stays in L1 while every input channel and tap passes over it
        let walk = WeightGradientWalk(rows: 0..<(blocks * g.outH), h: g.outH, w: g.outW,
                                      dyRowStride: g.wdp * lanes, dyBlockStride: outChannels * g.gradientPlane,
                                      xRowStride: g.stride * g.wp * lanes, xStep: g.stride * lanes,
                                      xBlockStride: inChannels * g.plane, tapStride: lanes)
        accumulateWeightGradient(walk, chunkRows: max(1, chunkPositions / g.outW),
                                 dy: dy + (g.gradientPad * g.wdp + g.gradientPad) * lanes, oStride: g.gradientPlane,
                                 outChannels: outChannels, x: x, cStride: g.plane, inChannels: inChannels,
                                 k: g.k, wp: g.wp, part)
    }
}

#if BLOCKLOCAL_TARGET_AVX512
/// out[r·ldOut + 16v ..< +16] for 4 output channels r and the 4 positions v at bases[0..<4]:
/// 16 accumulators, one multiply-add per (c, tap) and lane.
func laneConvMicrokernel(_ x: UnsafePointer<Float>, channelStride cs: Int, inChannels: Int,
                                 bases: UnsafePointer<Int>, offsets: UnsafePointer<Int>, taps: Int,
                                 packed: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, ldOut: Int) {
    let p0 = x + bases[0], p1 = x + bases[1], p2 = x + bases[2], p3 = x + bases[3]
    var a00 = Lane16(), a01 = Lane16(), a02 = Lane16(), a03 = Lane16()
    var a10 = Lane16(), a11 = Lane16(), a12 = Lane16(), a13 = Lane16()
    var a20 = Lane16(), a21 = Lane16(), a22 = Lane16(), a23 = Lane16()
    var a30 = Lane16(), a31 = Lane16(), a32 = Lane16(), a33 = Lane16()
    var w = packed
    for c in 0..<inChannels {
        let co = c &* cs                  // wrapping arithmetic: no overflow branch in the inner loop
        for t in 0..<taps {
            let off = co &+ offsets[t]
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
func laneConvMicrokernel(_ x: UnsafePointer<Float>, channelStride cs: Int, inChannels: Int,
                                 bases: UnsafePointer<Int>, offsets: UnsafePointer<Int>, taps: Int,
                                 packed: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, ldOut: Int) {
    let p0 = x + bases[0]
    var a0 = Lane16(), a1 = Lane16(), a2 = Lane16(), a3 = Lane16()
    var w = packed
    for c in 0..<inChannels {
        let co = c &* cs
        for t in 0..<taps {
            let x0 = load16(p0 + (co &+ offsets[t]))
            madd16(&a0, Lane16(repeating: w[0]), x0); madd16(&a1, Lane16(repeating: w[1]), x0)
            madd16(&a2, Lane16(repeating: w[2]), x0); madd16(&a3, Lane16(repeating: w[3]), x0)
            w += 4
        }
    }
    store16(a0, out); store16(a1, out + ldOut); store16(a2, out + 2 * ldOut); store16(a3, out + 3 * ldOut)
}
#endif
