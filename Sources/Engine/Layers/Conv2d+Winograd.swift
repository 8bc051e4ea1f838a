// Conv2d's Winograd path (Winograd.swift): 3×3, stride-1, pad-1 convolutions with 16 images in the
// vector lanes. Each worker takes a fixed chunk of the images, in groups of whole 16-image blocks;
// per worker one scratch holds (backward) the transformed weight-gradient sums, the group's input grid,
// dy's grid and one chunk of transforms. Tried before the lane, direct and im2col paths.

extension Conv2d {
    var usesWinograd: Bool {
        knobs.winograd && Winograd.applies(kernel: kernel, stride: stride, padding: padding)
            && geo.h * geo.w <= knobs.winogradMaxPixels && inChannels >= knobs.winogradMinChannels
    }

    /// Workers, images per group, the chunk, and the scratch per worker: the transformed dW sums, the
    /// input grid, dy's grid, then one chunk of transforms (forward/dx: V and M; dW: V_ξ and (A dy Aᵀ)_ξ).
    private func winogradPlan(_ n: Int) -> (parts: Int, images: Int, chunk: Int, floats: Int, gridAt: Int, dyAt: Int, chunkAt: Int) {
        let parts = Parallel.parts(n), g = WinogradGeometry(h: geo.h, w: geo.w)
        let ci = inChannels, co = outChannels, lanes = LaneConv.lanes
        let images = g.images(channels: max(ci, co), available: (n + parts - 1) / parts, groupFloats: knobs.laneGroupFloats)
        let blocks = (images + lanes - 1) / lanes
        let chunk = WinogradGeometry.chunk(inChannels: max(ci, co), outChannels: max(ci, co), chunkFloats: knobs.winogradChunkFloats)
        let transforms = max(16 * lanes * chunk * (max(ci, co) + DirectConv.roundUp4(max(ci, co))),
                             (ci + co) * knobs.winogradGradientPositions * lanes)
        let gridAt = 16 * ci * co, dyAt = gridAt + blocks * ci * g.plane, chunkAt = dyAt + blocks * co * g.plane
        return (parts, images, chunk, chunkAt + transforms, gridAt, dyAt, chunkAt)
    }

    // y_g = Aᵀ[U · (Bᵀ fill(x_g) B)]A (+ b)
    func forwardWinograd(_ x: Tensor) {
        let n = x.shape[0], ci = inChannels, co = outChannels, g = WinogradGeometry(h: geo.h, w: geo.w)
        let plan = winogradPlan(n)
        packed.resize([16 * DirectConv.roundUp4(co) * ci])
        winogradPackWeights(weight.value.data, outChannels: co, inChannels: ci, backward: false, packed.data)
        ensureWork(plan.parts, plan.floats)
        let xp = x.data, yp = y.data, pk = UnsafePointer(packed.data), bp = bias.map { UnsafePointer($0.value.data) }
        let workPtrs = work.map { $0.data }, size = ci * g.h * g.w, outSize = co * g.h * g.w
        let lane = LaneGeometry(k: 3, stride: 1, pad: 1, h: g.h, w: g.w)
        forEachGroup(n, parts: plan.parts, images: plan.images, grid: { LaneGrid(lane, images: $0) }) { worker, grid, first in
            let xg = workPtrs[worker] + plan.gridAt
            grid.fill(xp + first * size, channels: ci, h: g.h, w: g.w, pad: 1, rows: g.gridH, columns: g.gridW, xg)
            grid.winogradConvolve(xg, channels: ci, g, packed: pk, outChannels: co, chunk: plan.chunk,
                                  scratch: workPtrs[worker] + plan.chunkAt, bias: bp, yp + first * outSize)
        }
    }

    // dW += Gᵀ[Σ (A dy Aᵀ) ⊙ (Bᵀ x B)]G (per-worker partials, summed in worker order);
    // dx = the forward on fill(dy) with W flipped and transposed (B under FA); db += Σ dy
    func backwardWinograd(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let n = x.shape[0], ci = inChannels, co = outChannels, g = WinogradGeometry(h: geo.h, w: geo.w)
        let plan = winogradPlan(n)
        ensureWork(plan.parts, plan.floats)
        ensureWeightPartials(plan.parts)
        if inputGradient {
            dx.resize(x.shape)
            packed.resize([16 * DirectConv.roundUp4(ci) * co])
            winogradPackWeights((feedback ?? weight.value).data, outChannels: co, inChannels: ci, backward: true, packed.data)
        }
        let xp = x.data, dyp = dy.data, dxp = dx.data, pk = UnsafePointer(packed.data)
        let workPtrs = work.map { $0.data }, dwPtrs = dwPartial.map { $0.data }
        let size = ci * g.h * g.w, lane = LaneGeometry(k: 3, stride: 1, pad: 1, h: g.h, w: g.w), images = plan.images
        Parallel.forChunks(n, parts: plan.parts) { worker, range in
            let sums = workPtrs[worker], xg = sums + plan.gridAt, dyg = sums + plan.dyAt, scratch = sums + plan.chunkAt
            sums.update(repeating: 0, count: 16 * ci * co)
            var first = range.lowerBound
            while first < range.upperBound {
                let grid = LaneGrid(lane, images: min(images, range.upperBound - first))
                grid.fill(xp + first * size, channels: ci, h: g.h, w: g.w, pad: 1, rows: g.gridH, columns: g.gridW, xg)
                grid.fill(dyp + first * co * g.h * g.w, channels: co, h: g.h, w: g.w, pad: 1, rows: g.gridH, columns: g.gridW, dyg)
                grid.winogradWeightGradient(x: xg, inChannels: ci, dy: dyg, outChannels: co, g, chunkPositions: knobs.winogradGradientPositions,
                                            scratch: scratch, sums)
                if inputGradient {
                    grid.winogradConvolve(dyg, channels: co, g, packed: pk, outChannels: ci, chunk: plan.chunk,
                                          scratch: scratch, bias: nil, dxp + first * size)
                }
                first += grid.images
            }
            winogradWeightGradient(sums, outChannels: co, inChannels: ci, dwPtrs[worker])
        }
        addWeightPartials(plan.parts)
        accumulateBiasGradient(dy)
        return inputGradient ? dx : nil
    }
}
