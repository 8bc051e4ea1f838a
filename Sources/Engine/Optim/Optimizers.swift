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
    private let slices: ParameterSlices
    public var steps = 0

    public init(_ groups: [ParameterGroup], momentum: Float = 0, nesterov: Bool = false) {
        self.groups = groups; self.momentum = momentum; self.nesterov = nesterov
        buffers = groups.flatMap { $0.parameters.map { Tensor($0.value.shape) } }
        slices = ParameterSlices(groups)
    }
    public var state: [Tensor] { buffers }

    public func step(lr: Float) {
        let mu = momentum, first = steps == 0, nesterov = nesterov, buffers = buffers
        slices.forEachSlice { k, p, wd, r in
            let w = p.value.data + r.lowerBound, g = p.grad.data + r.lowerBound, b = buffers[k].data + r.lowerBound
            let n = r.count
            // One branch-free loop per case, so each vectorizes; every element is updated alone,
            // so the split across workers does not change the bits.
            if mu == 0 {
                for i in 0..<n { w[i] -= lr * (g[i] + wd * w[i]); g[i] = 0 }
            } else if first {
                if nesterov { for i in 0..<n { let d = g[i] + wd * w[i]; b[i] = d; w[i] -= lr * (d + mu * d); g[i] = 0 } }
                else { for i in 0..<n { let d = g[i] + wd * w[i]; b[i] = d; w[i] -= lr * d; g[i] = 0 } }
            } else if nesterov {
                for i in 0..<n { let d = g[i] + wd * w[i]; let m = mu * b[i] + d; b[i] = m; w[i] -= lr * (d + mu * m); g[i] = 0 }
            } else {
                for i in 0..<n { let d = g[i] + wd * w[i]; let m = mu * b[i] + d; b[i] = m; w[i] -= lr * m; g[i] = 0 }
            }
        }
        steps += 1
    }
}

/// All parameters of an optimizer's groups seen as one range of elements, cut into one contiguous
/// chunk per worker (a chunk may span several parameters), so an update is one parallel pass.
final class ParameterSlices {
    /// (parameter, its group's weight decay, index of its first element in the whole range)
    private let entries: [(parameter: Parameter, weightDecay: Float, start: Int)]
    private let total: Int

    init(_ groups: [ParameterGroup]) {
        var e: [(Parameter, Float, Int)] = [], start = 0
        for g in groups { for p in g.parameters { e.append((p, g.weightDecay, start)); start += p.count } }
        entries = e; total = start
    }

    /// Calls `body(k, parameter, weightDecay, elements)` for every piece of a parameter in each
    /// worker's chunk; k is the parameter's index in group order.
    func forEachSlice(_ body: (Int, Parameter, Float, Range<Int>) -> Void) {
        let entries = entries
        Parallel.forRange(total, minPerChunk: 1 << 16) { chunk in
            // first parameter overlapping the chunk, by binary search on the start offsets
            var lo = 0, hi = entries.count - 1
            while lo < hi { let mid = (lo + hi + 1) / 2; if entries[mid].start <= chunk.lowerBound { lo = mid } else { hi = mid - 1 } }
            var k = lo
            while k < entries.count && entries[k].start < chunk.upperBound {
                let e = entries[k], a = max(chunk.lowerBound, e.start) - e.start
                let b = min(chunk.upperBound, e.start + e.parameter.count) - e.start
                if b > a { body(k, e.parameter, e.weightDecay, a..<b) }
                k += 1
            }
        }
    }
}

public final class Adam: Optimizer {
    public let groups: [ParameterGroup]
    public let beta1: Float, beta2: Float, eps: Float, decoupled: Bool
    private var m: [Tensor], v: [Tensor]
    private let slices: ParameterSlices
    public var steps = 0

    /// `decoupled: true` is AdamW.
    public init(_ groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, decoupled: Bool = false) {
        self.groups = groups; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.decoupled = decoupled
        m = groups.flatMap { $0.parameters.map { Tensor($0.value.shape) } }
        v = groups.flatMap { $0.parameters.map { Tensor($0.value.shape) } }
        slices = ParameterSlices(groups)
    }
    public var state: [Tensor] { m + v }

    public func step(lr: Float) {
        steps += 1
        let b1 = beta1, b2 = beta2, e = eps, decoupled = decoupled, m = m, v = v
        let c1 = 1 - Float(Double(b1).power(steps)), c2 = 1 - Float(Double(b2).power(steps))
        slices.forEachSlice { k, p, wd, r in
            let w = p.value.data + r.lowerBound, gr = p.grad.data + r.lowerBound
            let mp = m[k].data + r.lowerBound, vp = v[k].data + r.lowerBound
            for i in 0..<r.count {
                var gi = gr[i]
                if decoupled { w[i] -= lr * wd * w[i] } else { gi += wd * w[i] }
                mp[i] = b1 * mp[i] + (1 - b1) * gi
                vp[i] = b2 * vp[i] + (1 - b2) * gi * gi
                w[i] -= lr * (mp[i] / c1) / ((vp[i] / c2).squareRoot() + e)
                gr[i] = 0
            }
        }
    }
}

extension Double {
    func power(_ n: Int) -> Double { var r = 1.0; for _ in 0..<n { r *= self }; return r }
}
