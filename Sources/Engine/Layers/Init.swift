// Weight initialisation: the distributions the papers' code uses, drawn from a named stream.

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
