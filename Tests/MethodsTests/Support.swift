import XCTest
@testable import Engine

enum GradProbe {
    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        let t = Tensor(shape); var r = RandomStream(seed: seed, name: "probe"); r.fillNormal(t, std: 1); return t
    }
}

/// Central differences of a scalar loss against its analytic gradient.
struct LossGradCheck {
    var eps: Float = 1e-2, atol: Float = 2e-3, rtol: Float = 3e-2
    func check(_ name: String, _ x: Tensor, file: StaticString = #filePath, line: UInt = #line, _ f: (Tensor) -> (Float, Tensor)) {
        let g = f(x).1.array
        for i in 0..<x.count {
            let old = x[i]
            x[i] = old + eps; let lp = f(x).0
            x[i] = old - eps; let lm = f(x).0
            x[i] = old
            let n = (lp - lm) / (2 * eps)
            XCTAssert(abs(n - g[i]) <= atol + rtol * max(abs(n), abs(g[i])), "\(name) d[\(i)]: analytic \(g[i]) vs numeric \(n)", file: file, line: line)
        }
    }
}
