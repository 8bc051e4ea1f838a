// Linear: y = x·Wᵀ + b over the last dimension; leading dimensions are flattened into rows.
// Shapes: x [R, in] (or [N, T, in]), W [out, in], b [out], y [R, out].
// Feedback alignment: with `feedback` set, the input gradient uses the fixed matrix B
// (W's shape, W's init distribution, its own stream) in place of W; W's gradient is unchanged.

public final class Linear: Layer {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// The fixed feedback matrix B of feedback alignment (nil: exact backprop).
    public internal(set) var feedback: Tensor?
    private(set) var initKind: WeightInit
    private var x: Tensor!
    private let y = Tensor([0]), dx = Tensor([0])

    /// `biasInit` nil: zero with a zero weight, else U(±1/√fan_in) (0.5.0's rule; local-loss's decoder
    /// has a zero weight and the default bias: `.uniformFanIn`).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, init kind: WeightInit = .uniformFanIn,
                biasInit: BiasInit? = nil, rng: inout RandomStream) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.initKind = kind
        weight = Parameter("weight", .weight, shape: [outFeatures, inFeatures])
        kind.fill(weight.value, fanIn: inFeatures, fanOut: outFeatures, rng: &rng)
        if bias {
            let b = Parameter("bias", .bias, shape: [outFeatures])
            (biasInit ?? (kind == .zeros ? .zeros : .uniformFanIn)).fill(b.value, fanIn: inFeatures, rng: &rng)
            self.bias = b
        } else { self.bias = nil }
    }

    /// Draws W and b again from `kind` and `biasInit` (an InitScheme over a built model); a later
    /// feedback matrix B comes from `kind` too.
    public func reinitialize(_ kind: WeightInit, biasInit: BiasInit, rng: inout RandomStream) {
        initKind = kind
        kind.fill(weight.value, fanIn: inFeatures, fanOut: outFeatures, rng: &rng)
        if let bias { biasInit.fill(bias.value, fanIn: inFeatures, rng: &rng) }
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }
    /// The output of the last forward (attention reads Q, K, V from it in backward).
    public var outputBuffer: Tensor { y }

    /// Switches to feedback alignment: draws B from W's init distribution (zero init draws uniform fan-in).
    public func enableFeedbackAlignment(rng: inout RandomStream) {
        let b = Tensor(weight.value.shape)
        (initKind == .zeros ? WeightInit.uniformFanIn : initKind).fill(b, fanIn: inFeatures, fanOut: outFeatures, rng: &rng)
        feedback = b
    }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        guard let last = input.last, last == inFeatures, input.count >= 2 else {
            throw EngineError.shapeMismatch(layer: "Linear(\(inFeatures)→\(outFeatures))",
                                            expected: "[*, \(inFeatures)]", got: describe(input))
        }
        return Array(input.dropLast()) + [outFeatures]
    }

    public func macs(_ input: [Int]) -> Int { input.reduce(1, *) / inFeatures * inFeatures * outFeatures }

    // forward: y[R, out] = x[R, in] · W[out, in]ᵀ + b
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.x = x
        let rows = x.count / inFeatures
        y.resize(Array(x.shape.dropLast()) + [outFeatures])
        gemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
             a: x.data, lda: inFeatures, b: weight.value.data, ldb: inFeatures, c: y.data, ldc: outFeatures)
        if let b = bias {
            let yp = y.data, bp = b.value.data, o = outFeatures
            for r in 0..<rows { let row = yp + r * o; for j in 0..<o { row[j] += bp[j] } }
        }
        return y
    }

    // backward: dW[out, in] += dyᵀ·x; db += Σ_rows dy; dx[R, in] = dy·W (or dy·B under FA)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let rows = dy.count / outFeatures, o = outFeatures
        gemm(transA: true, transB: false, m: o, n: inFeatures, k: rows,
             a: dy.data, lda: o, b: x.data, ldb: inFeatures, beta: 1, c: weight.grad.data, ldc: inFeatures)
        if let b = bias {
            let gp = b.grad.data, dp = dy.data
            for r in 0..<rows { let row = dp + r * o; for j in 0..<o { gp[j] += row[j] } }
        }
        guard inputGradient else { return nil }
        dx.resize(x.shape)
        let w = feedback ?? weight.value
        gemm(transA: false, transB: false, m: rows, n: inFeatures, k: o,
             a: dy.data, lda: o, b: w.data, ldb: inFeatures, c: dx.data, ldc: inFeatures)
        return dx
    }
}
