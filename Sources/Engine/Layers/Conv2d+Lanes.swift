// Conv2d's lane path (LaneConv.swift): stride-1 "same" convolutions on small maps, with 16 images in
// the vector lanes, so that only real output pixels are computed. Each worker takes a fixed chunk of
// the images, in groups of whole 16-image blocks (`LaneGrid.images`); per worker one scratch holds the
// group's input lane grid, an output buffer, and dy's lane grid.

extension Conv2d {
    /// Largest map (H·W) a stride-1 "same" convolution takes the lane path on; larger maps take the
    /// shared-gap direct path. ResNet-18 w1 per layer, lanes vs shared gap (fwd/bwd ms): 4×4 68/174 vs
    /// 105/271, 7×7 50/141 vs 69/147, 14×14 49/131 vs 58/129, 28×28 77/202 vs 71/162; ResNet-50 w1/4's
    /// 16×16 2.7/6.1 vs 2.9/6.6, 32×32 3.7/9.3 vs 3.3/8.1 (docs/performance.md).
    nonisolated(unsafe) public static var laneMaxPixels = 256

    /// Whether the current geometry takes the lane path.
    var usesLanes: Bool {
        LaneConv.applies(kernel: kernel, stride: stride, padding: padding) && geo.h * geo.w <= Conv2d.laneMaxPixels
    }

    /// Workers, images per group, and the scratch floats per worker (input grid, output buffer with
    /// room for Cout or Cin channels rounded up to 4, dy's grid, and the weight-gradient kernel's slack).
    private func lanePlan(_ n: Int) -> (parts: Int, images: Int, floats: Int, outputAt: Int, dyAt: Int) {
        let parts = Parallel.parts(n), k = kernel, h = geo.h, w = geo.w
        let images = LaneGrid.images(k: k, h: h, w: w, channels: max(inChannels, outChannels),
                                     available: (n + parts - 1) / parts)
        let g = LaneGrid(k: k, h: h, w: w, images: images)
        let outputAt = g.blocks * inChannels * g.plane
        let dyAt = outputAt + g.blocks * DirectConv.roundUp4(max(inChannels, outChannels)) * g.outPlane
        return (parts, images, dyAt + g.blocks * outChannels * g.plane + LaneGrid.slack, outputAt, dyAt)
    }

    /// Calls `body(worker, grid, firstImage)` for each group of each worker's chunk of `n` images.
    private func forEachLaneGroup(_ n: Int, parts: Int, images: Int, _ body: (Int, LaneGrid, Int) -> Void) {
        let k = kernel, h = geo.h, w = geo.w
        Parallel.forChunks(n, parts: parts) { worker, range in
            var first = range.lowerBound
            while first < range.upperBound {
                let count = min(images, range.upperBound - first)
                body(worker, LaneGrid(k: k, h: h, w: w, images: count), first)
                first += count
            }
        }
    }

    // y_g = extract(convolve(fill(x_g), W)) (+ b)
    func forwardLanes(_ x: Tensor) {
        let n = x.shape[0], ci = inChannels, co = outChannels, kk = kernel * kernel
        let plan = lanePlan(n)
        packed.resize([DirectConv.roundUp4(co) * ci * kk])
        packConvWeights(weight.value.data, outChannels: co, inChannels: ci, taps: kk, transposeFlip: false, packed.data)
        ensureWork(plan.parts, plan.floats)
        let xp = x.data, yp = y.data, pk = UnsafePointer(packed.data), bp = bias.map { UnsafePointer($0.value.data) }
        let workPtrs = work.map { $0.data }, inSize = ci * geo.h * geo.w, outSize = co * geo.h * geo.w
        forEachLaneGroup(n, parts: plan.parts, images: plan.images) { worker, grid, first in
            let xg = workPtrs[worker], og = xg + plan.outputAt
            grid.fill(xp + first * inSize, channels: ci, xg)
            grid.convolve(xg, inChannels: ci, packed: pk, outChannels: co, og)
            grid.extract(og, channels: co, outChannelsRounded: DirectConv.roundUp4(co), bias: bp, yp + first * outSize)
        }
    }

    // dW += Σ lanes of grid(dy)·shifted grid(x) (per-worker partials, summed in worker order);
    // dx = extract(convolve(grid(dy), W̃)); db += Σ dy
    func backwardLanes(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let n = x.shape[0], ci = inChannels, co = outChannels, kk = kernel * kernel
        let plan = lanePlan(n)
        ensureWork(plan.parts, plan.floats)
        resetWeightPartials(plan.parts)
        if inputGradient {
            dx.resize(x.shape)
            packed.resize([DirectConv.roundUp4(ci) * co * kk])
            packConvWeights((feedback ?? weight.value).data, outChannels: ci, inChannels: co, taps: kk,
                            transposeFlip: true, packed.data)
        }
        let xp = x.data, dyp = dy.data, dxp = dx.data, pk = UnsafePointer(packed.data)
        let workPtrs = work.map { $0.data }, dwPtrs = dwPartial.map { $0.data }
        let inSize = ci * geo.h * geo.w, outSize = co * geo.h * geo.w
        forEachLaneGroup(n, parts: plan.parts, images: plan.images) { worker, grid, first in
            let xg = workPtrs[worker], og = xg + plan.outputAt, dyg = xg + plan.dyAt
            grid.fill(xp + first * inSize, channels: ci, xg)
            grid.fill(dyp + first * outSize, channels: co, dyg)
            grid.weightGradient(dy: dyg, outChannels: co, x: xg, inChannels: ci, dwPtrs[worker])
            guard inputGradient else { return }
            grid.convolve(dyg, inChannels: co, packed: pk, outChannels: ci, og)
            grid.extract(og, channels: ci, outChannelsRounded: DirectConv.roundUp4(ci), bias: nil, dxp + first * inSize)
        }
        addWeightPartials(plan.parts)
        accumulateBiasGradient(dy)
        return inputGradient ? dx : nil
    }
}
