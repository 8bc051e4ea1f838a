// DirectConv: stride-1 "same" convolutions (k odd, padding p = (k−1)/2) without im2col.
// Grid layout: a group of g images; each channel's g planes lie end to end in one row of `ld` floats,
// every image row followed by p zero columns and every image preceded by p zero rows (Hp = H + p,
// Wp = W + p): one gap serves as the right padding of a row and the left padding of the next, and as the
// bottom padding of an image and the top padding of the next (the tail beyond g·Hp·Wp is zero). 3×3 on
// 28×28 computes 29²/28² = 1.07 positions per output pixel, on 4×4 1.56. A convolution is then k² shifted
// views of the rows:
//   out[o, q] = Σ_c Σ_(i,j) w[o, c, i, j] · in[c, q + i·Wp + j],
// and the output pixel (y, x) of image s sits at q = s·Hp·Wp + y·Wp + x (every other q is discarded).
// forward   y  = conv(grid(x), W)                                  x [g, C, H, W] → y [g, O, H, W]
// backward  dx = conv(grid(dy), W̃),  W̃[c, o, i, j] = W[o, c, k−1−i, k−1−j]   (Bᵀ flipped under FA)
//           dW[o, c, i, j] = Σ_q dy⁰[o, q] · grid(x)[c, q + i·Wp + j], dy⁰ = grid(dy) read from p·Wp + p
//           on (zero off the valid pixels): the shared weight-gradient kernel (WeightGradientKernel.swift).
// Microkernel: 4 output channels × 3 pixel vectors in 12 registers, one multiply-add per (c, tap) and
// lane. Each output sums its (c, tap) products in one fixed order whatever the vector width, so AVX2
// and AVX-512 builds give the same bits (builds without FMA round the product separately).
// Reference: convNaive (Im2col.swift); KernelTests hold this path and the im2col path against it.

#if BLOCKLOCAL_TARGET_AVX512
typealias ConvLane = SIMD16<Float>
#else
typealias ConvLane = SIMD8<Float>
#endif

public enum DirectConv {
    /// Output pixels one microkernel call computes per output channel (3 vectors).
    static let tile = 3 * ConvLane.scalarCount
    /// `c` rounded up to the microkernel's 4 output channels.
    @inline(__always) static func roundUp4(_ c: Int) -> Int { (c + 3) / 4 * 4 }
    /// Input floats the microkernel sweeps before moving to the next 4 output channels (L1/L2 reuse).
    static let blockFloats = 1 << 15

    /// Whether a convolution can take this path: stride 1, odd kernel > 1, "same" padding.
    public static func applies(kernel: Int, stride: Int, padding: Int) -> Bool {
        stride == 1 && kernel > 1 && kernel % 2 == 1 && padding == kernel / 2
    }
}

/// The grid of one group of images: geometry and offsets.
public struct ConvGrid: Equatable, Sendable {
    public let k: Int, h: Int, w: Int, images: Int
    public var pad: Int { k / 2 }
    public var hp: Int { h + pad }
    public var wp: Int { w + pad }
    public var plane: Int { hp * wp }
    /// Output positions computed: every q of the group's planes.
    public var span: Int { images * plane }
    /// `span` rounded up to 48: whole microkernel tiles (24 or 48) and whole 16-lane sums, on every build.
    public var sweep: Int { (span + 47) / 48 * 48 }
    /// Row length: the sweep plus the farthest tap (+2 for the weight-gradient kernel's unused third
    /// tap on a 5×5 row), rounded to 16 floats.
    public var ld: Int { (sweep + (k - 1) * (wp + 1) + 2 + 15) / 16 * 16 }

    public init(k: Int, h: Int, w: Int, images: Int) { self.k = k; self.h = h; self.w = w; self.images = images }

    /// Images per group for `channels` rows: as many as fit `groupFloats` (ConvKnobs.directGroupFloats), at least one.
    public static func images(k: Int, h: Int, w: Int, channels: Int, available: Int, groupFloats: Int) -> Int {
        let plane = (h + k / 2) * (w + k / 2)
        return max(1, min(available, groupFloats / max(1, channels * plane)))
    }

    /// Fraction of computed positions that are real output pixels.
    public static func density(k: Int, h: Int, w: Int) -> Double {
        Double(h * w) / Double((h + k / 2) * (w + k / 2))
    }

    /// rows[c][s·plane + (y+p)·wp + p + x] = src[s, c, y, x]; zero elsewhere in `channels` rows of `ld`
    /// (the first p rows of each plane and the first p columns of each of its rows are the gaps).
    func fill(_ src: UnsafePointer<Float>, channels: Int, _ rows: UnsafeMutablePointer<Float>) {
        let p = pad, hw = h * w
        for c in 0..<channels {
            let row = rows + c * ld
            row.update(repeating: 0, count: ld)
            for s in 0..<images {
                let from = src + (s * channels + c) * hw, to = row + s * plane + p * wp + p
                for y in 0..<h { (to + y * wp).update(from: from + y * w, count: w) }
            }
        }
    }

    /// dst[s, c, y, x] = rows[c][s·plane + y·wp + x] (+ bias[c]).
    func extract(_ rows: UnsafePointer<Float>, channels: Int, bias: UnsafePointer<Float>?,
                 _ dst: UnsafeMutablePointer<Float>) {
        let hw = h * w
        for s in 0..<images {
            for c in 0..<channels {
                let from = rows + c * ld + s * plane, to = dst + (s * channels + c) * hw
                if let bias {
                    let b = bias[c]
                    for y in 0..<h { let f = from + y * wp, t = to + y * w; for x in 0..<w { t[x] = f[x] + b } }
                } else {
                    for y in 0..<h { (to + y * w).update(from: from + y * wp, count: w) }
                }
            }
        }
    }

    /// out[o][q] for q in 0..<sweep, o in 0..<roundUp(outChannels, 4): the convolution of `inChannels`
    /// input rows with weights packed by `packConvWeights`.
    func convolve(_ input: UnsafePointer<Float>, inChannels: Int, packed: UnsafePointer<Float>, outChannels: Int,
                  _ out: UnsafeMutablePointer<Float>) {
        let kk = k * k, blocks = DirectConv.roundUp4(outChannels) / 4, tile = DirectConv.tile
        let block = max(tile, DirectConv.blockFloats / max(1, inChannels) / tile * tile)
        let ld = ld, sweep = sweep, wp = wp
        withUnsafeTemporaryAllocation(of: Int.self, capacity: kk) { offsets in
            for i in 0..<k { for j in 0..<k { offsets[i * k + j] = i * wp + j } }
            let offs = UnsafePointer(offsets.baseAddress!)
            var q0 = 0
            while q0 < sweep {
                let q1 = min(sweep, q0 + block)
                for b in 0..<blocks {
                    convMicrokernel(input, ld: ld, inChannels: inChannels, offsets: offs, taps: kk,
                                    packed: packed + b * inChannels * kk * 4, out + b * 4 * ld, ldOut: ld, q0, q1)
                }
                q0 = q1
            }
        }
    }

    /// part[o][c][t] += Σ_q dy⁰[o, q] · x[c, q + offset_t] for q in 0..<sweep: the weight gradient, in
    /// the weight's own layout. Each sum runs in 16 lanes (lane l takes q ≡ l mod 16, in order of q),
    /// then adds the lanes in a fixed tree, whatever the build's vector width.
    func weightGradient(dy: UnsafePointer<Float>, outChannels: Int, x: UnsafePointer<Float>, inChannels: Int,
                        _ part: UnsafeMutablePointer<Float>) {
        accumulateWeightGradient(.contiguous(count: sweep), chunkRows: 1, dy: dy + pad * (wp + 1), oStride: ld,
                                 outChannels: outChannels, x: x, cStride: ld, inChannels: inChannels, k: k, wp: wp, part)
    }
}

/// packed[q][c][t][l] = w[4q + l, c, taps[t]] (0 past the last output), w [O, C, k·k]: forward weights
/// for both direct paths' microkernels. With `transposed`, packed[q][o][t][l] = w[o, 4q + l, taps[t]]:
/// the input gradient's (w = W or B), with the taps flipped (DirectConv) or one parity class's (LaneConv).
func packConvWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int, kk: Int, taps: [Int],
                     transposed: Bool, _ packed: UnsafeMutablePointer<Float>) {
    // rows of the packed matrix (4 lanes each): the forward's output channels, or the input's
    let (rowsOut, rowsIn) = transposed ? (inChannels, outChannels) : (outChannels, inChannels)
    let quads = DirectConv.roundUp4(rowsOut) / 4, nt = taps.count
    taps.withUnsafeBufferPointer { tp in
        for q in 0..<quads { for l in 0..<4 {
            let r = 4 * q + l
            for i in 0..<rowsIn {
                let dst = packed + (q * rowsIn + i) * nt * 4 + l
                if r >= rowsOut { for t in 0..<nt { dst[t * 4] = 0 }; continue }
                let src = transposed ? w + (i * inChannels + r) * kk : w + (r * inChannels + i) * kk
                for t in 0..<nt { dst[t * 4] = src[tp[t]] }
            }
        } }
    }
}

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> ConvLane {
    UnsafeRawPointer(p).loadUnaligned(as: ConvLane.self)
}

@inline(__always) private func store(_ v: ConvLane, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: ConvLane.self)
}

@inline(__always) private func madd(_ acc: inout ConvLane, _ a: ConvLane, _ b: ConvLane) {
#if BLOCKLOCAL_TARGET_HASWELL || BLOCKLOCAL_TARGET_AVX512
    acc.addProduct(a, b)       // one fused multiply-add (the target has FMA)
#else
    acc += a * b               // no FMA on a generic x86-64 target: a libm call per lane otherwise
#endif
}

/// out[l][q..<q+tile] for 4 output channels l and q in q0..<q1 (step tile): 12 accumulators.
private func convMicrokernel(_ x: UnsafePointer<Float>, ld: Int, inChannels: Int, offsets: UnsafePointer<Int>,
                             taps: Int, packed: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                             ldOut: Int, _ q0: Int, _ q1: Int) {
    let v = ConvLane.scalarCount
    var q = q0
    while q < q1 {
        var a00 = ConvLane(), a01 = ConvLane(), a02 = ConvLane()
        var a10 = ConvLane(), a11 = ConvLane(), a12 = ConvLane()
        var a20 = ConvLane(), a21 = ConvLane(), a22 = ConvLane()
        var a30 = ConvLane(), a31 = ConvLane(), a32 = ConvLane()
        var w = packed
        for c in 0..<inChannels {
            let xc = x + c * ld + q
            for t in 0..<taps {
                let p = xc + offsets[t]
                let x0 = load(p), x1 = load(p + v), x2 = load(p + 2 * v)
                var b = ConvLane(repeating: w[0])
                madd(&a00, b, x0); madd(&a01, b, x1); madd(&a02, b, x2)
                b = ConvLane(repeating: w[1])
                madd(&a10, b, x0); madd(&a11, b, x1); madd(&a12, b, x2)
                b = ConvLane(repeating: w[2])
                madd(&a20, b, x0); madd(&a21, b, x1); madd(&a22, b, x2)
                b = ConvLane(repeating: w[3])
                madd(&a30, b, x0); madd(&a31, b, x1); madd(&a32, b, x2)
                w += 4
            }
        }
        let o0 = out + q, o1 = o0 + ldOut, o2 = o1 + ldOut, o3 = o2 + ldOut
        store(a00, o0); store(a01, o0 + v); store(a02, o0 + 2 * v)
        store(a10, o1); store(a11, o1 + v); store(a12, o1 + 2 * v)
        store(a20, o2); store(a21, o2 + v); store(a22, o2 + 2 * v)
        store(a30, o3); store(a31, o3 + v); store(a32, o3 + 2 * v)
        q += 3 * v
    }
}
