// Optimizers over parameter groups, with PyTorch's update rules so that published recipes carry over.
// A group owns parameters and its own weight decay; each block (or head) of a block-local
// method gets its own optimizer. step(lr:) applies the update and zeroes the gradients.
// SGD:  d = g + wd·p;  buf = μ·buf + d;  d = nesterov ? d + μ·buf : buf;  p −= lr·d
// Adam: m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  p −= lr·m̂/(√v̂ + ε), with g += wd·p (Adam)
//       or p −= lr·wd·p first (AdamW, decoupled).

public struct ParameterGroup {
    public var parameters: [Parameter]
    public var weightDecay: Float
    public init(_ parameters: [Parameter], weightDecay: Float = 0) {
        self.parameters = parameters; self.weightDecay = weightDecay
    }
    /// Splits parameters into (decayed, not decayed) groups: norm parameters, and biases when
    /// `biasesToo`, get no decay (the BLL recipe excludes BatchNorm from weight decay).
    public static func excludingNorm(_ ps: [Parameter], weightDecay: Float, biasesToo: Bool = false) -> [ParameterGroup] {
        let skip: (Parameter) -> Bool = { $0.kind == .norm || (biasesToo && $0.kind == .bias) }
        return [ParameterGroup(ps.filter { !skip($0) }, weightDecay: weightDecay),
                ParameterGroup(ps.filter(skip), weightDecay: 0)]
    }
}

public protocol Optimizer: AnyObject {
    var groups: [ParameterGroup] { get }
    /// Applies one update with learning rate `lr`, then zeroes the gradients.
    func step(lr: Float)
    /// Optimizer state tensors, in a fixed order (for checkpoints).
    var state: [Tensor] { get }
    /// Steps taken so far (Adam's bias correction, SGD's first momentum step); checkpoints restore it.
    var steps: Int { get set }
}

public extension Optimizer {
    func zeroGrad() { for g in groups { for p in g.parameters { p.grad.zero() } } }
    var parameters: [Parameter] { groups.flatMap { $0.parameters } }
}

public final class SGD: Optimizer {
    public let groups: [ParameterGroup]
    public let momentum: Float, nesterov: Bool
    private var buffers: [Tensor]
    public var steps = 0

    public init(_ groups: [ParameterGroup], momentum: Float = 0, nesterov: Bool = false) {
        self.groups = groups; self.momentum = momentum; self.nesterov = nesterov
        buffers = groups.flatMap { $0.parameters.map { Tensor($0.value.shape) } }
    }
    public var state: [Tensor] { buffers }

    public func step(lr: Float) {
        var k = 0
        let mu = momentum, first = steps == 0
        for g in groups {
            let wd = g.weightDecay
            for p in g.parameters {
                let w = p.value.data, gr = p.grad.data, b = buffers[k].data
                for i in 0..<p.count {
                    var d = gr[i] + wd * w[i]
                    if mu != 0 {
                        b[i] = first ? d : mu * b[i] + d
                        d = nesterov ? d + mu * b[i] : b[i]
                    }
                    w[i] -= lr * d
                    gr[i] = 0
                }
                k += 1
            }
        }
        steps += 1
    }
}

public final class Adam: Optimizer {
    public let groups: [ParameterGroup]
    public let beta1: Float, beta2: Float, eps: Float, decoupled: Bool
    private var m: [Tensor], v: [Tensor]
    public var steps = 0

    /// `decoupled: true` is AdamW.
    public init(_ groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, decoupled: Bool = false) {
        self.groups = groups; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.decoupled = decoupled
        m = groups.flatMap { $0.parameters.map { Tensor($0.value.shape) } }
        v = groups.flatMap { $0.parameters.map { Tensor($0.value.shape) } }
    }
    public var state: [Tensor] { m + v }

    public func step(lr: Float) {
        steps += 1
        let b1 = beta1, b2 = beta2, e = eps
        let c1 = 1 - Float(Double(b1).power(steps)), c2 = 1 - Float(Double(b2).power(steps))
        var k = 0
        for g in groups {
            let wd = g.weightDecay
            for p in g.parameters {
                let w = p.value.data, gr = p.grad.data, mp = m[k].data, vp = v[k].data
                for i in 0..<p.count {
                    var gi = gr[i]
                    if decoupled { w[i] -= lr * wd * w[i] } else { gi += wd * w[i] }
                    mp[i] = b1 * mp[i] + (1 - b1) * gi
                    vp[i] = b2 * vp[i] + (1 - b2) * gi * gi
                    w[i] -= lr * (mp[i] / c1) / ((vp[i] / c2).squareRoot() + e)
                    gr[i] = 0
                }
                k += 1
            }
        }
    }
}

extension Double {
    func power(_ n: Int) -> Double { var r = 1.0; for _ in 0..<n { r *= self }; return r }
}
