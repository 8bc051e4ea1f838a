// Weight initialisation: the distributions the papers' code uses, drawn from a named stream, and the
// named schemes (InitScheme) that say which distribution each layer of a reference code starts from.

import Foundation

public enum WeightInit: String, Sendable, CaseIterable {
    /// PyTorch's default for Linear/Conv2d: kaiming_uniform(a=√5) = U(−1/√fan_in, 1/√fan_in).
    case uniformFanIn
    /// kaiming_normal(mode=fan_out, relu): N(0, 2/fan_out), torchvision's ResNet convs.
    case kaimingNormalFanOut
    /// xavier_uniform: U(±√(6/(fan_in+fan_out))), biotorch's FA default.
    case xavierUniform
    case zeros

    public func fill(_ t: Tensor, fanIn: Int, fanOut: Int, rng: inout RandomStream) {
        switch self {
        case .uniformFanIn:
            let b = 1 / Float(fanIn).squareRoot()
            rng.fillUniform(t, -b, b)
        case .kaimingNormalFanOut:
            rng.fillNormal(t, std: (2 / Float(fanOut)).squareRoot())
        case .xavierUniform:
            let b = (6 / Float(fanIn + fanOut)).squareRoot()
            rng.fillUniform(t, -b, b)
        case .zeros:
            t.zero()
        }
    }
}

/// A layer's bias at construction: PyTorch's default U(±1/√fan_in), or zero (biotorch's xavier option).
public enum BiasInit: Sendable { case uniformFanIn, zeros
    public func fill(_ t: Tensor, fanIn: Int, rng: inout RandomStream) {
        switch self {
        case .uniformFanIn: let b = 1 / Float(fanIn).squareRoot(); rng.fillUniform(t, -b, b)
        case .zeros: t.zero()
        }
    }
}

/// The initialisation of a reference code, as a recorded recipe element (a run config's `init`; unset
/// keeps blocklocal 0.5.0's: torchvision's ResNet init, PyTorch's default elsewhere, Pred-Sim's decoder
/// all zero). It decides every Conv2d and Linear of the model, feedback alignment's B (drawn from the
/// layer's own distribution, so from the scheme's), and the reference code's zero-initialised layers.
/// Sources: docs/methods.md, "Initialisation".
public enum InitScheme: String, Codable, Sendable, CaseIterable {
    /// torchvision `resnet.py` (the BLL code's ResNets): convs kaiming-normal fan-out, BatchNorm 1/0,
    /// the classifier PyTorch's default. Defined for the ResNets only.
    case torchvision
    /// PyTorch's layer defaults everywhere: weights kaiming_uniform(a=√5) = U(±1/√fan_in), biases
    /// U(±1/√fan_in); FA's B from the same (local-loss `LinearFA`, biotorch's `init: kaiming`).
    case pytorchDefault = "pytorch-default"
    /// local-loss `train.py` (Nøkland & Eidnes): PyTorch's defaults, and, when a rule trains locally, the
    /// output layer's weight zero (`if not args.backprop: linear.weight.data.zero_()`); Pred-Sim's
    /// prediction decoder has a zero weight and its default bias.
    case localLoss = "local-loss"
    /// biotorch's FA layers, `init: xavier` (the default of its configs): W and B xavier_uniform, biases 0.
    case biotorch

    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public init(parsing text: String) throws {
        guard let s = InitScheme(rawValue: text) else {
            throw EngineError.invalidArgument(name: "init", value: text, allowed: InitScheme.list)
        }
        self = s
    }

    /// The distribution of every Conv2d and Linear weight under this scheme (nil: as the model builds them).
    public var layerWeights: WeightInit? {
        switch self {
        case .torchvision: return nil
        case .pytorchDefault, .localLoss: return .uniformFanIn
        case .biotorch: return .xavierUniform
        }
    }
    public var layerBiases: BiasInit { self == .biotorch ? .zeros : .uniformFanIn }
}

/// The angle in degrees between two tensors seen as vectors (FA diagnostic: B vs W).
public func angleDegrees(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.count == b.count)
    var dot = 0.0, na = 0.0, nb = 0.0
    let pa = a.data, pb = b.data
    for i in 0..<a.count {
        let x = Double(pa[i]), y = Double(pb[i])
        dot += x * y; na += x * x; nb += y * y
    }
    guard na > 0, nb > 0 else { return 90 }
    return acos(max(-1, min(1, dot / (na.squareRoot() * nb.squareRoot())))) * 180 / Double.pi
}
