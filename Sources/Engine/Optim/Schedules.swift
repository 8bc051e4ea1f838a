// Learning-rate schedules as pure functions of the (fractional) epoch, so that a resumed run
// gets the same rate as an uninterrupted one. All return a multiple of the base rate.
//   step:      base · γ^(number of milestones ≤ epoch)        (Pred-Sim: γ = 0.25)
//   cosine:    η_min + (base − η_min)·(1 + cos(π·epoch/T))/2   (BWBPF: T = 400)
//   piecewise: linear interpolation through (epoch, factor) points (BLL's cyclic: [0,2,E]→[1e-4,1,0])
//   warm-up:   a linear ramp from 0 over the first w epochs, multiplied onto any of the above

import Foundation

public indirect enum Schedule: Equatable, Sendable {
    case constant
    case step(milestones: [Double], gamma: Double)
    case cosine(period: Double, minFactor: Double)
    case piecewise(points: [(Double, Double)])
    case warmup(epochs: Double, then: Schedule)

    public static func == (a: Schedule, b: Schedule) -> Bool { String(describing: a) == String(describing: b) }

    /// The learning-rate multiplier at fractional epoch `e` (0 at the start of training).
    public func factor(at e: Double) -> Double {
        switch self {
        case .constant: return 1
        case let .step(milestones, gamma):
            return pow(gamma, Double(milestones.filter { e >= $0 }.count))
        case let .cosine(period, minFactor):
            let t = min(e, period)
            return minFactor + (1 - minFactor) * (1 + cos(Double.pi * t / period)) / 2
        case let .piecewise(points):
            guard let first = points.first, let last = points.last else { return 1 }
            if e <= first.0 { return first.1 }
            if e >= last.0 { return last.1 }
            for (a, b) in zip(points, points.dropFirst()) where e >= a.0 && e <= b.0 {
                return b.0 == a.0 ? b.1 : a.1 + (b.1 - a.1) * (e - a.0) / (b.0 - a.0)
            }
            return last.1
        case let .warmup(epochs, then):
            return (epochs > 0 ? min(1, e / epochs) : 1) * then.factor(at: e)
        }
    }

    public func rate(base: Float, at e: Double) -> Float { Float(Double(base) * factor(at: e)) }
}
