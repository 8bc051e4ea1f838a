// Conv2d's lane path (LaneConv.swift): convolutions of stride 1 or 2 on small maps with 16 images in
// the vector lanes, so that only real output pixels are computed. Each worker takes a fixed chunk of
// the images, in groups of whole 16-image blocks (`LaneGrid.images`); per worker one scratch holds the
// group's input lane grid, an output buffer (forward: y, backward: dx), and dy's lane grid.

extension Conv2d {
    /// Whether the current geometry takes the lane path: kernels > 1 (a 1×1 kernel is a GEMM; on lanes
    /// its weight gradient would compute three taps for one), stride 2 at every map size (3×3/2 on
    /// ResNet-18 w1's 28×28: 11.5/30.1 ms against im2col's 20.4/35.7), stride 1 up to `knobs.laneMaxPixels`.
    var usesLanes: Bool {
        LaneConv.applies(kernel: kernel, stride: stride, padding: padding) && kernel > 1
            && (stride == 2 || geo.h * geo.w <= knobs.laneMaxPixels)
    }

    /// The lane tables of the current geometry (rebuilt when it changes).
    private func tables() -> LaneTables {
        let g = LaneGeometry(k: kernel, stride: stride, pad: padding, h: geo.h, w: geo.w)
        if let t = laneTables, t.geometry == g { return t }
        let t = LaneTables(g); laneTables = t; return t
    }

    /// Workers, images per group, and the scratch per worker: input grid, output buffer (Cout forward
    /// or Cin backward channels, rounded up to 4), dy's grid, and the weight-gradient kernel's slack.
    private func lanePlan(_ n: Int, _ t: LaneTables) -> (parts: Int, images: Int, floats: Int, outputAt: Int, dyAt: Int) {
        let parts = Parallel.parts(n), g = t.geometry
        let images = LaneGrid.images(g, channels: max(inChannels, outChannels), available: (n + parts - 1) / parts,
                                     groupFloats: knobs.laneGroupFloats)
        let blocks = LaneGrid(g, images: images).blocks
        let outputAt = blocks * inChannels * g.plane
        let output = max(DirectConv.roundUp4(outChannels) * g.outPlane, DirectConv.roundUp4(inChannels) * t.inputGradientPlane)
        let dyAt = outputAt + blocks * output
        return (parts, images, dyAt + blocks * outChannels * g.gradientPlane + LaneGrid.slack, outputAt, dyAt)
    }

    // y_g = extract(convolve(fill(x_g), W)) (+ b)
    func forwardLanes(_ x: Tensor) {
        let n = x.shape[0], ci = inChannels, co = outChannels, kk = kernel * kernel
        let t = tables(), g = t.geometry, plan = lanePlan(n, t)
        packed.resize([DirectConv.roundUp4(co) * ci * kk])
        packConvWeights(weight.value.data, outChannels: co, inChannels: ci, kk: kk, taps: taps,
                        transposed: false, packed.data)
        ensureWork(plan.parts, plan.floats)
        let xp = x.data, yp = y.data, pk = UnsafePointer(packed.data), bp = bias.map { UnsafePointer($0.value.data) }
        let workPtrs = work.map { $0.data }, inSize = ci * g.h * g.w, outSize = co * g.positions
        forEachGroup(n, parts: plan.parts, images: plan.images, grid: { LaneGrid(g, images: $0) }) { worker, grid, first in
            let xg = workPtrs[worker], og = xg + plan.outputAt
            grid.fill(xp + first * inSize, channels: ci, h: g.h, w: g.w, pad: g.pad, xg)
            grid.convolve(xg, inChannels: ci, plane: g.plane, bases: t.bases, count: t.count, offsets: t.offsets, taps: kk,
                          packed: pk, outChannels: co, og, outPlane: g.outPlane)
            grid.extract(og, channels: co, channelsRounded: DirectConv.roundUp4(co), plane: g.outPlane,
                         positions: t.positions, count: t.count, pixels: g.positions, bias: bp, yp + first * outSize)
        }
    }

    // dW += Σ lanes of grid(dy)·shifted grid(x) (per-worker partials, summed in worker order);
    // dx = extract(per parity class, convolve(grid(dy), W's class taps)); db += Σ dy
    func backwardLanes(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let n = x.shape[0], ci = inChannels, co = outChannels, kk = kernel * kernel
        let t = tables(), g = t.geometry, plan = lanePlan(n, t)
        ensureWork(plan.parts, plan.floats)
        resetWeightPartials(plan.parts)
        if inputGradient {
            dx.resize(x.shape)
            packed.resize([DirectConv.roundUp4(ci) * co * kk])
            for c in t.classes {
                packConvWeights((feedback ?? weight.value).data, outChannels: co, inChannels: ci, kk: kk, taps: c.taps,
                                transposed: true, packed.data + DirectConv.roundUp4(ci) * co * c.tapsBefore)
            }
        }
        let xp = x.data, dyp = dy.data, dxp = dx.data, pk = UnsafePointer(packed.data)
        let workPtrs = work.map { $0.data }, dwPtrs = dwPartial.map { $0.data }
        let inSize = ci * g.h * g.w, outSize = co * g.positions
        forEachGroup(n, parts: plan.parts, images: plan.images, grid: { LaneGrid(g, images: $0) }) { worker, grid, first in
            let xg = workPtrs[worker], og = xg + plan.outputAt, dyg = xg + plan.dyAt
            grid.fill(xp + first * inSize, channels: ci, h: g.h, w: g.w, pad: g.pad, xg)
            grid.fill(dyp + first * outSize, channels: co, h: g.outH, w: g.outW, pad: g.gradientPad, dyg)
            grid.weightGradient(dy: dyg, outChannels: co, x: xg, inChannels: ci, chunkPositions: knobs.laneWeightGradientPositions, dwPtrs[worker])
            guard inputGradient else { return }
            for c in t.classes {
                grid.convolve(dyg, inChannels: co, plane: g.gradientPlane, bases: c.bases, count: c.count,
                              offsets: c.offsets, taps: c.taps.count, packed: pk + DirectConv.roundUp4(ci) * co * c.tapsBefore, outChannels: ci,
                              og + c.start * LaneConv.lanes, outPlane: t.inputGradientPlane)
            }
            grid.extract(og, channels: ci, channelsRounded: DirectConv.roundUp4(ci), plane: t.inputGradientPlane,
                         positions: t.classPositions, count: t.classCount, pixels: g.h * g.w, bias: nil,
                         dxp + first * inSize)
        }
        addWeightPartials(plan.parts)
        accumulateBiasGradient(dy)
        return inputGradient ? dx : nil
    }
}

/// A geometry's position and tap tables, in one allocation that the kernels read by pointer; built
/// once per geometry, so that a training step allocates nothing.
final class LaneTables {
    let geometry: LaneGeometry
    /// Floats of one channel of one block in the input-gradient buffer (class after class, each rounded
    /// up to whole microkernel calls).
    let inputGradientPlane: Int
    /// Forward: tap offsets, position bases, and each position's pixel (−1 for the rounding ones).
    let offsets: UnsafePointer<Int>, bases: UnsafePointer<Int>, positions: UnsafePointer<Int>, count: Int
    struct Class {
        let taps: [Int], offsets: UnsafePointer<Int>, bases: UnsafePointer<Int>, count: Int
        let start: Int, tapsBefore: Int   // its first buffer position; the taps of the classes before it
    }
    /// Input gradient: the parity classes, and the pixel of every buffer position, class after class.
    let classes: [Class], classPositions: UnsafePointer<Int>, classCount: Int
    private let storage: UnsafeMutablePointer<Int>

    init(_ g: LaneGeometry) {
        geometry = g
        let forward = g.forwardTables, parity = g.classes, kk = g.k * g.k
        let fwdPositions = (0..<forward.bases.count).map { $0 < g.positions ? $0 : -1 }
        var all = forward.offsets + forward.bases + fwdPositions
        var layout: [(taps: [Int], offsetsAt: Int, basesAt: Int, count: Int, start: Int, tapsBefore: Int)] = []
        var start = 0, tapsBefore = 0
        var classPositions: [Int] = []
        for c in parity {
            layout.append((c.taps, all.count, all.count + c.offsets.count, c.bases.count, start, tapsBefore))
            all += c.offsets + c.bases
            classPositions += c.positions + Array(repeating: -1, count: c.bases.count - c.positions.count)
            start += c.bases.count
            tapsBefore += c.taps.count
        }
        let classPositionsAt = all.count
        all += classPositions
        storage = .allocate(capacity: max(1, all.count))
        storage.initialize(from: all, count: all.count)
        let p = UnsafePointer(storage), nf = forward.bases.count
        offsets = p; bases = p + kk; positions = p + kk + nf; count = nf
        self.classPositions = p + classPositionsAt; classCount = start
        inputGradientPlane = start * LaneConv.lanes
        classes = layout.map { Class(taps: $0.taps, offsets: p + $0.offsetsAt, bases: p + $0.basesAt, count: $0.count,
                                     start: $0.start, tapsBefore: $0.tapsBefore) }
    }

    deinit { storage.deallocate() }
}
