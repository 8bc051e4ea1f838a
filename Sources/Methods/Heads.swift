// Local heads attached to a block's output a: each computes its losses from a and the labels and
// adds dL/da into the gradient the block's backward receives. Shapes: a is [N, C, H, W] (images),
// [N, F] (features) or [N, T, D] (sequences: the head works per token, rows N·T, labels per token).

import Engine

public protocol LocalHead: AnyObject {
    /// Parameters the block's optimizer updates with the block.
    var trainableParameters: [Parameter] { get }
    /// Losses on `a` for `labels`; adds dL/da (already weighted) into `grad` (shaped like a).
    func loss(_ a: Tensor, _ labels: [Int32], into grad: Tensor, mode: Mode) -> [(String, Float)]
    /// The head's class scores [rows, classes] in evaluation mode, for head accuracy.
    func logits(_ a: Tensor) -> Tensor
}

@inline(__always) func addInto(_ grad: Tensor, _ g: Tensor) {
    precondition(grad.count == g.count, "head gradient \(describe(g.shape)) vs block output \(describe(grad.shape))")
    let a = grad.data, b = g.data
    for i in 0..<grad.count { a[i] += b[i] }
}

/// Pooling (global average for images) + Linear → CE (with label smoothing), weight w.
/// BWBPF's auxiliary classifiers; bll-code's auxiliary head (`frozen`: gradient flows to the block, the
/// head itself is not trained, as the released code behaves with torch ≥ 2).
public final class ClassifierHead: LocalHead {
    let pool: Layer?
    public let linear: Linear
    let ce: SoftmaxCrossEntropy
    let weight: Float
    let frozen: Bool
    public let name: String

    /// `adaptivePool` (images only): pool to h'×w' and flatten, the Linear reading C·h'·w' features.
    public init(name: String, inputShape: [Int], classes: Int, weight: Float = 1, smoothing: Float = 0,
                bias: Bool = true, frozen: Bool = false, adaptivePool: (Int, Int)? = nil,
                init kind: WeightInit = .uniformFanIn, rng: inout RandomStream) {
        self.name = name; self.weight = weight; self.frozen = frozen
        ce = SoftmaxCrossEntropy(smoothing: smoothing)
        let features: Int
        if inputShape.count == 4, let (ph, pw) = adaptivePool {
            pool = Sequential([AdaptiveAvgPool2d(ph, pw), Flatten()]); features = inputShape[1] * ph * pw
        } else if inputShape.count == 4 { pool = GlobalPool2d(.average); features = inputShape[1] }
        else { pool = nil; features = inputShape.last! }
        linear = Linear(features, classes, bias: bias, init: kind, rng: &rng)
    }
    public var trainableParameters: [Parameter] { frozen ? [] : linear.parameters }

    public func logits(_ a: Tensor) -> Tensor { linear.forward(pool?.forward(a, mode: .eval) ?? a, mode: .eval) }

    public func loss(_ a: Tensor, _ labels: [Int32], into grad: Tensor, mode: Mode) -> [(String, Float)] {
        let z = linear.forward(pool?.forward(a, mode: mode) ?? a, mode: mode)
        let l = ce(z, labels)
        if weight != 1 { let g = ce.grad.data; for i in 0..<ce.grad.count { g[i] *= weight } }
        var d = linear.backward(ce.grad, inputGradient: true)!
        if let pool { d = pool.backward(d, inputGradient: true)! }
        addInto(grad, d)
        if frozen { linear.weight.grad.zero(); linear.bias?.grad.zero() }
        return [(name, l)]
    }
}

/// Pred-Sim's heads (local-loss train.py, methods.md §3): similarity — a 3×3 conv without bias
/// (Linear without bias for features), channel-wise spatial std, S(·) vs S(Y), MSE; prediction —
/// average pooling sized to `dimIn`, then a zero-initialised Linear, CE. Loss (1−β)·pred + β·sim.
public final class PredSimHead: LocalHead {
    let beta: Float, classes: Int
    let simConv: Conv2d?, simLinear: Linear?
    let std = SpatialStd()
    let useStd: Bool
    let pool: AvgPool2d?
    let flatten = Flatten()
    public let decoder: Linear
    let ce = SoftmaxCrossEntropy()
    let sim = SimilarityMatching()
    private let dsim = Tensor([0])
    private var rows = Tensor(viewPlaceholder: ())

    /// `decoderBias`: nil zeroes it with the weight (0.5.0); local-loss keeps PyTorch's default (`.uniformFanIn`).
    public init(inputShape: [Int], classes: Int, beta: Float, dimIn: Int, decoderBias: BiasInit? = nil, rng: inout RandomStream) {
        self.beta = beta; self.classes = classes
        if inputShape.count == 4 {
            let c = inputShape[1], h = inputShape[2], w = inputShape[3]
            simConv = Conv2d(c, c, kernel: 3, padding: 1, bias: false, rng: &rng); simLinear = nil
            useStd = c > 3 && h > 1
            let p = predSimPooling(channels: c, height: h, width: w, dimIn: dimIn)
            pool = (p.kh > 1 || p.kw > 1) ? AvgPool2d(kernelH: p.kh, kernelW: p.kw, padH: p.padH, padW: p.padW) : nil
            decoder = Linear(c * p.outH * p.outW, classes, init: .zeros, biasInit: decoderBias, rng: &rng)
        } else {
            let f = inputShape.last!
            simConv = nil; simLinear = Linear(f, f, bias: false, rng: &rng); useStd = false; pool = nil
            decoder = Linear(f, classes, init: .zeros, biasInit: decoderBias, rng: &rng)
        }
    }

    public var trainableParameters: [Parameter] { (simConv?.parameters ?? []) + (simLinear?.parameters ?? []) + decoder.parameters }

    func decoderInput(_ a: Tensor, _ mode: Mode) -> Tensor {
        if a.dims == 4 { return flatten.forward(pool?.forward(a, mode: mode) ?? a, mode: mode) }
        return a
    }

    public func logits(_ a: Tensor) -> Tensor { decoder.forward(decoderInput(a, .eval), mode: .eval) }

    public func loss(_ a: Tensor, _ labels: [Int32], into grad: Tensor, mode: Mode) -> [(String, Float)] {
        // prediction
        let z = decoder.forward(decoderInput(a, mode), mode: mode)
        let lp = ce(z, labels)
        let gp = ce.grad.data; for i in 0..<ce.grad.count { gp[i] *= 1 - beta }
        var d = decoder.backward(ce.grad, inputGradient: true)!
        if a.dims == 4 { d = flatten.backward(d, inputGradient: true)!; if let pool { d = pool.backward(d, inputGradient: true)! } }
        addInto(grad, d)
        // similarity
        let ls: Float
        if let simConv {
            let h = simConv.forward(a, mode: mode)
            let feats: Tensor
            if useStd { feats = std.forward(h) } else { rows.view(of: h, shape: [h.shape[0], h.count / h.shape[0]]); feats = rows }
            ls = sim(feats, labels, classes: classes)
            let gs = sim.grad.data; for i in 0..<sim.grad.count { gs[i] *= beta }
            let dh: Tensor
            if useStd { dh = std.backward(sim.grad) } else { dsim.resize(h.shape); dsim.copy(from: sim.grad); dh = dsim }
            addInto(grad, simConv.backward(dh, inputGradient: true)!)
        } else {
            let f = a.shape.last!
            rows.view(of: a, shape: [a.count / f, f])
            let h = simLinear!.forward(rows, mode: mode)
            ls = sim(h, labels, classes: classes)
            let gs = sim.grad.data; for i in 0..<sim.grad.count { gs[i] *= beta }
            addInto(grad, simLinear!.backward(sim.grad, inputGradient: true)!)
        }
        return [("pred", lp), ("sim", ls)]
    }
}
