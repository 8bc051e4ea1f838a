// Conv2d: y = W ⊛ x + b, NCHW, square kernel, stride, zero padding.
// Shapes: x [N, Cin, H, W], W [Cout, Cin, k, k], b [Cout], y [N, Cout, Ho, Wo].
// Four paths, tried in this order; the layer's `knobs` (ConvKnobs, Core/Knobs.swift) set where each applies:
// 1. Winograd (Conv2d+Winograd.swift, Winograd.swift): 3×3 stride-1 pad-1 with enough channels
//    (`knobs.winogradMinChannels`), 16 images in the vector lanes.
// 2. Lanes (Conv2d+Lanes.swift, LaneConv.swift): stride-2 convolutions (kernel > 1) and stride-1 ones on
//    small maps (`knobs.laneMaxPixels`), 16 images in the vector lanes, computing only real pixels.
// 3. Direct (DirectConv.swift): stride-1 "same" convolutions on maps dense enough in their padded grid
//    (`knobs.directMinDensity`) skip im2col and col2im: per group of images the input is laid out padded
//    once and a register-tiled kernel convolves it; backward convolves the padded dy with the flipped
//    transposed weights and sums dW over shifted views of the padded input.
// 4. im2col: per group of g images, im2col into col [Cin·k·k, g·Ho·Wo] then one single-threaded sgemm;
//    g is chosen so each GEMM has at least `minColumns` columns. 1×1 stride-1 convolutions skip im2col. In
//    training the column matrices are kept from forward for backward (up to `knobs.cacheLimitBytes`).
// Groups are spread over the workers in fixed chunks, so the same worker count gives the same bits.
// Reference: convNaive (Im2col.swift), tested against every path.
// Feedback alignment: with `feedback` set, the input gradient uses B in place of W.

public final class Conv2d: Layer {
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    public internal(set) var feedback: Tensor?
    private(set) var initKind: WeightInit
    static let minColumns = 256
    /// The paths' knobs (Core/Knobs.swift): this layer's own, so no two models share engine state.
    public var knobs = ConvKnobs.standard

    var x: Tensor!
    private(set) var geo = ConvGeometry(c: 0, h: 0, w: 0, kh: 0, kw: 0, stride: 1, pad: 0)
    let y = Tensor([0]), dx = Tensor([0])
    var work: [Tensor] = []      // per worker: col (+ staging) buffer
    var dwPartial: [Tensor] = [] // per worker: weight-gradient partial sums
    private let colCache = Tensor([0])   // [n images] × col [K, HoWo], group-major; valid when `cached`
    private var cached = false
    let packed = Tensor([0])     // direct paths: W packed for the microkernel (forward), W̃ (backward)
    let taps: [Int], flippedTaps: [Int]   // 0..<k·k and its reverse: the direct paths' packing orders
    var laneTables: LaneTables?  // lane path: the current geometry's position and tap tables

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, init kind: WeightInit = .uniformFanIn, rng: inout RandomStream) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.initKind = kind
        taps = Array(0..<(kernel * kernel)); flippedTaps = taps.reversed()
        weight = Parameter("weight", .weight, shape: [outChannels, inChannels, kernel, kernel])
        let fanIn = inChannels * kernel * kernel, fanOut = outChannels * kernel * kernel
        kind.fill(weight.value, fanIn: fanIn, fanOut: fanOut, rng: &rng)
        if bias {
            let b = Parameter("bias", .bias, shape: [outChannels])
            BiasInit.uniformFanIn.fill(b.value, fanIn: fanIn, rng: &rng)
            self.bias = b
        } else { self.bias = nil }
    }

    /// Draws W and b again from `kind` and `biasInit` (an InitScheme over a built model); a later
    /// feedback matrix B comes from `kind` too.
    public func reinitialize(_ kind: WeightInit, biasInit: BiasInit, rng: inout RandomStream) {
        initKind = kind
        let fanIn = inChannels * kernel * kernel
        kind.fill(weight.value, fanIn: fanIn, fanOut: outChannels * kernel * kernel, rng: &rng)
        if let bias { biasInit.fill(bias.value, fanIn: fanIn, rng: &rng) }
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func enableFeedbackAlignment(rng: inout RandomStream) {
        let b = Tensor(weight.value.shape)
        (initKind == .zeros ? WeightInit.uniformFanIn : initKind).fill(
            b, fanIn: inChannels * kernel * kernel, fanOut: outChannels * kernel * kernel, rng: &rng)
        feedback = b
    }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        let name = "Conv2d(\(inChannels)→\(outChannels), k\(kernel) s\(stride) p\(padding))"
        try expectShape(name, input, [nil, inChannels, nil, nil])
        let g = ConvGeometry(c: inChannels, h: input[2], w: input[3], kh: kernel, kw: kernel, stride: stride, pad: padding)
        guard input[2] + 2 * padding >= kernel, input[3] + 2 * padding >= kernel else {
            throw EngineError.shapeMismatch(layer: name, expected: "spatial size ≥ \(kernel - 2 * padding)", got: describe(input))
        }
        return [input[0], outChannels, g.outH, g.outW]
    }

    public func macs(_ input: [Int]) -> Int {
        guard let out = try? outputShape(input) else { return 0 }
        return out.reduce(1, *) * inChannels * kernel * kernel
    }

    /// Images per GEMM and the per-worker buffer size for the current geometry.
    private func plan(_ n: Int) -> (group: Int, parts: Int) {
        let cols = geo.cols
        let group = max(1, min(n, (Conv2d.minColumns + cols - 1) / cols))
        let groups = (n + group - 1) / group
        return (group, Parallel.parts(groups))
    }

    func ensureWork(_ parts: Int, _ floats: Int) {
        while work.count < parts { work.append(Tensor([0])) }
        for w in 0..<parts where work[w].count < floats { work[w].resize([floats]) }
    }

    // forward: per group, col = im2col(x_g); y_g[Cout, g·HoWo] = W[Cout, K]·col[K, g·HoWo] (+ b)
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        let n = x.shape[0]
        geo = ConvGeometry(c: inChannels, h: x.shape[2], w: x.shape[3], kh: kernel, kw: kernel, stride: stride, pad: padding)
        let g = geo, cols = g.cols, kk = g.rows, co = outChannels
        y.resize([n, co, g.outH, g.outW])
        if usesWinograd { forwardWinograd(x); return y }
        if usesLanes { forwardLanes(x); return y }
        if usesDirect { forwardDirect(x); return y }
        let (group, parts) = plan(n)
        let groups = (n + group - 1) / group
        let direct = g.isPointwise && group == 1
        cached = mode == .train && !direct && n * kk * cols * MemoryLayout<Float>.size <= knobs.cacheLimitBytes
        if cached && colCache.count < n * kk * cols { colCache.resize([n * kk * cols]) }
        let staging = group > 1 ? co * group * cols : 0
        ensureWork(parts, direct ? 1 : cached ? max(1, staging) : kk * group * cols + staging)
        let xp = x.data, yp = y.data, wp = weight.value.data, inSize = g.c * g.h * g.w
        let workPtrs = work.map { $0.data }
        let bp = bias?.value.data
        let cachePtr = colCache.data, useCache = cached
        Parallel.forChunks(groups, parts: parts) { w, range in
            for gi in range {
                let first = gi * group, count = min(group, n - first), ld = count * cols
                // the group's col: its slice of the cache, or the worker's buffer (staging after it)
                let col = useCache ? cachePtr + first * kk * cols : workPtrs[w]
                let stage = useCache ? workPtrs[w] : workPtrs[w] + kk * group * cols
                if direct {
                    gemmSerial(transA: false, transB: false, m: co, n: cols, k: kk, a: wp, lda: kk,
                               b: xp + first * inSize, ldb: cols, c: yp + first * co * cols, ldc: cols)
                } else {
                    for s in 0..<count { im2col(g, xp + (first + s) * inSize, col + s * cols, ld: ld) }
                    let out = count == 1 ? yp + first * co * cols : stage
                    gemmSerial(transA: false, transB: false, m: co, n: ld, k: kk, a: wp, lda: kk,
                               b: col, ldb: ld, c: out, ldc: count == 1 ? cols : ld)
                    if count > 1 {  // scatter [Cout, g·HoWo] → g × [Cout, HoWo]
                        for s in 0..<count { for o in 0..<co {
                            (yp + ((first + s) * co + o) * cols).update(from: out + o * ld + s * cols, count: cols)
                        } }
                    }
                }
                if let bp {
                    for s in 0..<count { for o in 0..<co {
                        let row = yp + ((first + s) * co + o) * cols, bv = bp[o]
                        for t in 0..<cols { row[t] += bv }
                    } }
                }
            }
        }
        return y
    }

    // backward: dW += dy_g·colᵀ (per-worker partials, summed in worker order); db += Σ dy;
    //           dcol = Wᵀ·dy_g (Bᵀ under FA), dx = col2im(dcol)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        if usesWinograd { return backwardWinograd(dy, inputGradient: inputGradient) }
        if usesLanes { return backwardLanes(dy, inputGradient: inputGradient) }
        if usesDirect { return backwardDirect(dy, inputGradient: inputGradient) }
        let g = geo, n = x.shape[0], cols = g.cols, kk = g.rows, co = outChannels
        let (group, parts) = plan(n)
        let groups = (n + group - 1) / group
        let pointwise = g.isPointwise
        // per worker: col [K, g·HoWo] + dy staging [Cout, g·HoWo] + dcol [K, g·HoWo]
        ensureWork(parts, 2 * kk * group * cols + co * group * cols)
        resetWeightPartials(parts)
        if inputGradient { dx.resize(x.shape); dx.zero() }
        let xp = x.data, dyp = dy.data, dxp = dx.data, inSize = g.c * g.h * g.w
        let bw = (feedback ?? weight.value).data
        let workPtrs = work.map { $0.data }, dwPtrs = dwPartial.map { $0.data }
        let cachePtr = colCache.data, useCache = cached
        cached = false   // one backward per forward
        Parallel.forChunks(groups, parts: parts) { w, range in
            let col = workPtrs[w], stage = col + kk * group * cols, dcol = stage + co * group * cols
            let dw = dwPtrs[w]
            for gi in range {
                let first = gi * group, count = min(group, n - first), ld = count * cols
                // gather dy of the group into [Cout, g·HoWo]
                let dyg: UnsafeMutablePointer<Float>
                if count == 1 { dyg = dyp + first * co * cols } else {
                    dyg = stage
                    for s in 0..<count { for o in 0..<co {
                        (stage + o * ld + s * cols).update(from: dyp + ((first + s) * co + o) * cols, count: cols)
                    } }
                }
                let colp: UnsafePointer<Float>
                if pointwise && count == 1 { colp = UnsafePointer(xp + first * inSize) }
                else if useCache { colp = UnsafePointer(cachePtr + first * kk * cols) } else {
                    for s in 0..<count { im2col(g, xp + (first + s) * inSize, col + s * cols, ld: ld) }
                    colp = UnsafePointer(col)
                }
                gemmSerial(transA: false, transB: true, m: co, n: kk, k: ld, a: dyg, lda: ld, b: colp, ldb: ld,
                           beta: 1, c: dw, ldc: kk)
                guard inputGradient else { continue }
                if pointwise && count == 1 {
                    gemmSerial(transA: true, transB: false, m: kk, n: cols, k: co, a: bw, lda: kk, b: dyg, ldb: cols,
                               beta: 1, c: dxp + first * inSize, ldc: cols)
                } else {
                    gemmSerial(transA: true, transB: false, m: kk, n: ld, k: co, a: bw, lda: kk, b: dyg, ldb: ld,
                               c: dcol, ldc: ld)
                    for s in 0..<count { col2im(g, dcol + s * cols, ld: ld, dxp + (first + s) * inSize) }
                }
            }
        }
        addWeightPartials(parts)
        accumulateBiasGradient(dy)
        return inputGradient ? dx : nil
    }

    /// Makes the first `parts` per-worker weight-gradient partials (a path that writes every element).
    func ensureWeightPartials(_ parts: Int) {
        while dwPartial.count < parts { dwPartial.append(Tensor(weight.value.shape)) }
    }

    /// Zeroes the first `parts` per-worker weight-gradient partials (making them as needed).
    func resetWeightPartials(_ parts: Int) {
        ensureWeightPartials(parts)
        for w in 0..<parts { dwPartial[w].zero() }
    }

    /// dW += the per-worker partials, in worker order (the same worker count gives the same bits);
    /// the elements are spread over the workers, each element still summed in worker order.
    func addWeightPartials(_ parts: Int) {
        let gw = weight.grad.data, total = weight.value.count, partials = dwPartial.prefix(parts).map { $0.data }
        Parallel.forRange(total, minPerChunk: 1 << 16) { range in
            for p in partials { for i in range { gw[i] += p[i] } }
        }
    }

    /// db[o] += Σ over images and pixels of dy[s, o, ·] (image by image, pixel by pixel).
    func accumulateBiasGradient(_ dy: Tensor) {
        guard let b = bias else { return }
        let gb = b.grad.data, dyp = dy.data, n = dy.shape[0], co = outChannels, cols = dy.shape[2] * dy.shape[3]
        for s in 0..<n { for o in 0..<co {
            let row = dyp + (s * co + o) * cols
            var acc: Float = 0
            for t in 0..<cols { acc += row[t] }
            gb[o] += acc
        } }
    }
}

// The direct path (DirectConv.swift): each worker takes a fixed chunk of the images, in groups of
// `ConvGrid.images(...)`; per worker one scratch holds the input grid, the output grid and dy's grid.
extension Conv2d {
    /// Whether the current geometry takes the direct path.
    var usesDirect: Bool {
        DirectConv.applies(kernel: kernel, stride: stride, padding: padding)
            && ConvGrid.density(k: kernel, h: geo.h, w: geo.w) >= knobs.directMinDensity
            && inChannels <= knobs.directMaxInChannels
    }

    /// A worker's scratch for one group, in rows of `ld`: the input grid (Cin rows), the output grid
    /// (Cout or, backward, Cin rows, rounded up to the microkernel's 4), dy's grid (Cout rows).
    private func scratchRows() -> (output: Int, dy: Int, total: Int) {
        let output = inChannels, dy = output + DirectConv.roundUp4(max(inChannels, outChannels))
        return (output, dy, dy + outChannels)
    }

    /// Workers, images per group, and the scratch floats per worker.
    private func directPlan(_ n: Int) -> (parts: Int, images: Int, floats: Int) {
        let parts = Parallel.parts(n)
        let images = ConvGrid.images(k: kernel, h: geo.h, w: geo.w, channels: max(inChannels, outChannels),
                                     available: (n + parts - 1) / parts, groupFloats: knobs.directGroupFloats)
        let ld = ConvGrid(k: kernel, h: geo.h, w: geo.w, images: images).ld
        return (parts, images, scratchRows().total * ld)
    }

    /// Calls `body(worker, grid(count), firstImage)` for each group of at most `images` images of each
    /// worker's chunk of `n` images: both direct paths.
    func forEachGroup<Grid>(_ n: Int, parts: Int, images: Int, grid: (Int) -> Grid, _ body: (Int, Grid, Int) -> Void) {
        Parallel.forChunks(n, parts: parts) { worker, range in
            var first = range.lowerBound
            while first < range.upperBound {
                let count = min(images, range.upperBound - first)
                body(worker, grid(count), first)
                first += count
            }
        }
    }

    // y_g = extract(convolve(fill(x_g), W)) (+ b)
    func forwardDirect(_ x: Tensor) {
        let n = x.shape[0], ci = inChannels, co = outChannels, kk = kernel * kernel
        let (parts, images, floats) = directPlan(n)
        packed.resize([DirectConv.roundUp4(co) * ci * kk])
        packConvWeights(weight.value.data, outChannels: co, inChannels: ci, kk: kk, taps: taps, transposed: false, packed.data)
        ensureWork(parts, floats)
        let xp = x.data, yp = y.data, pk = UnsafePointer(packed.data), bp = bias.map { UnsafePointer($0.value.data) }
        let workPtrs = work.map { $0.data }, inSize = ci * geo.h * geo.w, outSize = co * geo.h * geo.w
        let rows = scratchRows()
        let k = kernel, h = geo.h, w = geo.w
        forEachGroup(n, parts: parts, images: images, grid: { ConvGrid(k: k, h: h, w: w, images: $0) }) { worker, grid, first in
            let xg = workPtrs[worker], og = xg + rows.output * grid.ld
            grid.fill(xp + first * inSize, channels: ci, xg)
            grid.convolve(xg, inChannels: ci, packed: pk, outChannels: co, og)
            grid.extract(og, channels: co, bias: bp, yp + first * outSize)
        }
    }

    // dW += Σ_q grid(dy)·shifted grid(x) (per-worker partials, summed in worker order);
    // dx = extract(convolve(grid(dy), W̃)); db += Σ dy
    func backwardDirect(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let n = x.shape[0], ci = inChannels, co = outChannels, kk = kernel * kernel
        let (parts, images, floats) = directPlan(n)
        ensureWork(parts, floats)
        resetWeightPartials(parts)
        if inputGradient {
            dx.resize(x.shape)
            packed.resize([DirectConv.roundUp4(ci) * co * kk])
            packConvWeights((feedback ?? weight.value).data, outChannels: co, inChannels: ci, kk: kk, taps: flippedTaps,
                            transposed: true, packed.data)
        }
        let xp = x.data, dyp = dy.data, dxp = dx.data, pk = UnsafePointer(packed.data)
        let workPtrs = work.map { $0.data }, dwPtrs = dwPartial.map { $0.data }
        let inSize = ci * geo.h * geo.w, outSize = co * geo.h * geo.w, rows = scratchRows()
        let k = kernel, h = geo.h, w = geo.w
        forEachGroup(n, parts: parts, images: images, grid: { ConvGrid(k: k, h: h, w: w, images: $0) }) { worker, grid, first in
            let xg = workPtrs[worker], og = xg + rows.output * grid.ld, dyg = xg + rows.dy * grid.ld
            grid.fill(xp + first * inSize, channels: ci, xg)
            grid.fill(dyp + first * outSize, channels: co, dyg)
            grid.weightGradient(dy: dyg, outChannels: co, x: xg, inChannels: ci, dwPtrs[worker])
            guard inputGradient else { return }
            grid.convolve(dyg, inChannels: co, packed: pk, outChannels: ci, og)
            grid.extract(og, channels: ci, bias: nil, dxp + first * inSize)
        }
        addWeightPartials(parts)
        accumulateBiasGradient(dy)
        return inputGradient ? dx : nil
    }
}
