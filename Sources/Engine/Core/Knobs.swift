// ConvKnobs: every tuning knob of the convolution paths, declared in one place with its measured default.
// Each Conv2d owns a copy (`Conv2d.knobs`), so two models (two blocks on two workers, a test's reference
// and its subject) never share mutable engine state; `Model.setConvKnobs` sets a whole model's. The knobs
// choose paths and chunk sizes only: every path computes the same function (each fast kernel is tested
// against its naive reference), so they decide speed, never what a run means.

public struct ConvKnobs: Sendable, Hashable {
    /// Whether 3×3, stride-1, pad-1 convolutions take the Winograd path (false: the direct paths, which
    /// sum each output in plain order).
    public var winograd = true
    /// Largest input map (H·W) the Winograd path takes, and the fewest input channels. Below 64 channels
    /// the transforms and lane moves cost more than the multiplies saved: ResNet-18 w1/4 (fwd/bwd ms,
    /// Winograd vs direct) 16→16 on 28×28 12.4/23.4 vs 6.8/13.4, 32→32 on 14×14 5.6/10.0 vs 4.6/10.6,
    /// 64→64 on 7×7 4.2/8.6 vs 4.2/8.7, 128→128 on 4×4 5.0/10.4 vs 4.9/11.2.
    public var winogradMaxPixels = Int.max
    public var winogradMinChannels = 64
    /// Floats the Winograd forward/dx chunk (V and M of all 16 points) may take: it stays in L2 while the
    /// products run, so the transforms never go to memory.
    public var winogradChunkFloats = 1 << 17
    /// Tile positions (of 16 images) one Winograd weight-gradient pass sums before adding its lanes.
    public var winogradGradientPositions = 64
    /// Largest input map (H·W) a stride-1 convolution takes the lane path on; larger maps take the
    /// shared-gap direct path ("same" padding) or im2col. ResNet-18 w1 per layer, lanes vs shared gap
    /// (fwd/bwd ms): 4×4 68/174 vs 105/271, 7×7 50/141 vs 69/147, 14×14 49/131 vs 58/129, 28×28 77/202
    /// vs 71/162; ResNet-50 w1/4's 16×16 2.7/6.1 vs 2.9/6.6, 32×32 3.7/9.3 vs 3.3/8.1 (docs/performance.md).
    public var laneMaxPixels = 256
    /// Floats of lane grid one group may hold per operand (bounds each worker's scratch; a group's
    /// weight-gradient sums run over all its blocks before the lanes are added, so bigger is better).
    public var laneGroupFloats = 1 << 22
    /// Output positions (of 16 images) one lane weight-gradient pass sums before adding its lanes: the
    /// chunk of dy (4 output channels, 32 KiB at 128) stays in L1 while every input channel and tap passes
    /// over it. ResNet-18 w1 backward, 14×14 / 7×7 layers (ms): unchunked 140/134, 32: 138/141,
    /// 64: 124/128, 128: 117/119, 256: 125/133.
    public var laneWeightGradientPositions = 128
    /// Smallest H·W / (H+p)(W+p) at which a stride-1 "same" convolution takes the direct path (the
    /// direct kernel also computes the gap positions: with 3×3, 4×4 maps are 64 % real, 2×2 44 %).
    public var directMinDensity = 0.5
    /// Widest input the direct path takes. AVX-512 builds: any (measured best against 64-256); AVX2 and
    /// generic builds: up to 64 channels, above which OpenBLAS's im2col GEMMs are ahead of the 8-lane
    /// kernel (ResNet-18 w1 61 vs 74 samples/s with all layers direct; docs/performance.md).
#if BLOCKLOCAL_TARGET_AVX512
    public var directMaxInChannels = Int.max
#else
    public var directMaxInChannels = 64
#endif
    /// Floats of input grid one direct-path group may hold (bounds the scratch per worker; 2 MiB measured
    /// best against 1, 4 and 8 MiB on ResNet-18 w1/4 and w1, docs/performance.md).
    public var directGroupFloats = 1 << 19
    /// Largest im2col cache one layer keeps between forward and backward (bytes); above it, backward
    /// recomputes im2col. 512 MiB holds ResNet-18 width 1 at 28×28, batch 128, in every layer.
    public var cacheLimitBytes = 512 << 20

    public init() {}
    /// The measured defaults.
    public static let standard = ConvKnobs()
}

extension Model {
    /// Sets every convolution's knobs.
    public func setConvKnobs(_ knobs: ConvKnobs) {
        for u in units { u.layer.walk { ($0 as? Conv2d)?.knobs = knobs } }
    }
}
