// Finite-difference gradient checks in float32 with central differences and tolerances chosen
// for it: |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|).
// The scalar checked is L = Σ y ⊙ r for a fixed random r, so dL/dy = r.

import XCTest
@testable import Engine

struct GradCheck {
    var eps: Float = 1e-2
    var atol: Float = 2e-3
    var rtol: Float = 2e-2
    var samples = 24   // coordinates probed per tensor

    /// A reproducible tensor of distinct values ±(0.05 … ), away from 0 (no ReLU or max-pool ties).
    static func distinct(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        let t = Tensor(shape)
        var rng = RandomStream(seed: seed, name: "distinct")
        let perm = rng.permutation(t.count)
        for i in 0..<t.count {
            let v = (Float(perm[i]) + 0.5) / Float(t.count)  // (0, 1), spacing 1/n
            let sign: Float = rng.uniform() < 0.5 ? -1 : 1
            t[i] = sign * scale * (0.05 + v)
        }
        return t
    }

    static func random(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
        let t = Tensor(shape); var rng = RandomStream(seed: seed, name: "random"); rng.fillNormal(t, std: std); return t
    }

    private func loss(_ y: Tensor, _ r: Tensor) -> Double {
        var s = 0.0; for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }; return s
    }

    private func indices(_ n: Int, _ salt: UInt64) -> [Int] {
        if n <= samples { return Array(0..<n) }
        var rng = RandomStream(seed: salt, name: "probe")
        return (0..<samples).map { _ in rng.below(n) }
    }

    /// Checks the input gradient and every parameter gradient of `layer` at `x`.
    func check(_ layer: Layer, _ x: Tensor, mode: Mode = .train, inputGradient: Bool = true,
               file: StaticString = #filePath, line: UInt = #line) {
        for p in layer.parameters { p.grad.zero() }
        let y0 = layer.forward(x, mode: mode)
        let r = GradCheck.random(y0.shape, seed: 99)
        let dx = layer.backward(r, inputGradient: inputGradient).map { Tensor($0.shape, $0.array) }
        let analyticParams = layer.parameters.map { $0.grad.array }

        func numeric(_ t: Tensor, _ i: Int) -> Float {
            let old = t[i]
            t[i] = old + eps; let lp = loss(layer.forward(x, mode: mode), r)
            t[i] = old - eps; let lm = loss(layer.forward(x, mode: mode), r)
            t[i] = old
            return Float((lp - lm) / (2 * Double(eps)))
        }
        func compare(_ a: Float, _ n: Float, _ what: String) {
            let ok = abs(a - n) <= atol + rtol * max(abs(a), abs(n))
            XCTAssert(ok, "\(what): analytic \(a) vs numeric \(n)", file: file, line: line)
        }
        if inputGradient, let dx {
            for i in indices(x.count, 1) { compare(dx[i], numeric(x, i), "d input[\(i)]") }
        }
        for (k, p) in layer.parameters.enumerated() {
            for i in indices(p.count, UInt64(k + 2)) { compare(analyticParams[k][i], numeric(p.value, i), "d \(p.name)[\(i)]") }
        }
    }
}
