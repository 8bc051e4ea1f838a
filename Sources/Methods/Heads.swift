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

/// MACs of a pooled linear classifier on a block output `shape` (sequences: per token).
func classifierHeadMACs(_ shape: [Int], classes: Int) -> Int {
    let positions = shape.count == 3 ? shape[1] : 1
    let features = shape.count == 4 ? shape[1] : shape.last!
    return positions * features * classes
}
