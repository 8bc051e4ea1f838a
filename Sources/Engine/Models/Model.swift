// Model: a sequence of named units (stem, residual units or layers, head) that a method can cut
// into K contiguous blocks. The model itself is the chain; methods decide where gradients stop.

public final class Model {
    public struct Unit {
        public let name: String
        public let layer: Layer
    }
    public let spec: ModelSpec
    public let units: [Unit]
    /// Shape of one input sample (no batch dimension): [C, H, W], [F] or [T].
    public let sampleShape: [Int]

    init(spec: ModelSpec, units: [Unit], sampleShape: [Int]) throws {
        self.spec = spec; self.units = units; self.sampleShape = sampleShape
        _ = try unitShapes(batch: 1)  // validates the chain once, at build time
    }

    public var parameters: [Parameter] { units.flatMap { $0.layer.parameters } }
    public var buffers: [Tensor] { units.flatMap { $0.layer.buffers } }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Output shape of every unit for a batch of `batch` samples.
    public func unitShapes(batch: Int) throws -> [[Int]] {
        var shape = [batch] + sampleShape
        return try units.map { shape = try $0.layer.outputShape(shape); return shape }
    }

    /// Forward multiply-accumulates per sample, per unit.
    public func unitMACs() -> [Int] {
        var shape = [1] + sampleShape
        return units.map { u in let m = u.layer.macs(shape); shape = (try? u.layer.outputShape(shape)) ?? shape; return m }
    }
    /// Training FLOPs per sample in the usual convention: 3 × forward, forward = 2 × MACs.
    public var trainingFLOPsPerSample: Double { 6 * Double(unitMACs().reduce(0, +)) }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        var h = x
        for u in units { h = u.layer.forward(h, mode: mode) }
        return h
    }

    /// Backward through every unit (end-to-end backprop); parameters' gradients accumulate.
    public func backward(_ dy: Tensor) {
        var g: Tensor? = dy
        for (i, u) in units.enumerated().reversed() { g = u.layer.backward(g!, inputGradient: i > 0) }
    }

    /// Switches every Linear and Conv2d (shortcuts and classifier included) to feedback alignment;
    /// each B comes from its own stream derived from `seed` and the unit's name.
    public func enableFeedbackAlignment(seed: UInt64) {
        for u in units {
            var rng = RandomStream(seed: seed, name: "feedback/" + u.name)
            u.layer.walk { l in
                if let lin = l as? Linear { lin.enableFeedbackAlignment(rng: &rng) }
                if let conv = l as? Conv2d { conv.enableFeedbackAlignment(rng: &rng) }
            }
        }
    }

    /// Re-draws every Conv2d and Linear under `scheme` (its weight distribution and biases), each unit from
    /// its own stream `(seed, "init/<scheme>/<unit>")`; BatchNorm stays 1/0. `torchvision` keeps the
    /// model as built (the ResNets are built with torchvision's init).
    public func initialize(_ scheme: InitScheme, seed: UInt64) {
        guard let kind = scheme.layerWeights else { return }
        for u in units {
            var rng = RandomStream(seed: seed, name: "init/\(scheme.rawValue)/" + u.name)
            u.layer.walk { l in
                if let lin = l as? Linear { lin.reinitialize(kind, biasInit: scheme.layerBiases, rng: &rng) }
                if let conv = l as? Conv2d { conv.reinitialize(kind, biasInit: scheme.layerBiases, rng: &rng) }
            }
        }
    }

    /// The network's output layer: the last Linear of the last unit (nil when it has none).
    public var outputLinear: Linear? {
        var last: Linear?
        units.last?.layer.walk { if let lin = $0 as? Linear { last = lin } }
        return last
    }

    /// Angle (degrees) between each FA layer's B and W, in model order.
    public func feedbackAngles() -> [Double] {
        var out: [Double] = []
        for u in units { u.layer.walk { l in
            if let lin = l as? Linear, let b = lin.feedback { out.append(angleDegrees(b, lin.weight.value)) }
            if let conv = l as? Conv2d, let b = conv.feedback { out.append(angleDegrees(b, conv.weight.value)) }
        } }
        return out
    }
}
