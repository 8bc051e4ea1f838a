import XCTest
@testable import Engine

final class OptimizerTests: XCTestCase {
    private func param(_ values: [Float], grad: [Float], kind: Parameter.Kind = .weight) -> Parameter {
        let p = Parameter("p", kind, shape: [values.count])
        for i in values.indices { p.value[i] = values[i]; p.grad[i] = grad[i] }
        return p
    }

    /// Hand-computed PyTorch SGD: d = g + wd·p; buf = d (first) then μ·buf + d; nesterov d + μ·buf.
    func testSGDMomentumNesterovAndDecay() {
        let p = param([1, -2], grad: [0.5, 0.25])
        let sgd = SGD([ParameterGroup([p], weightDecay: 0.1)], momentum: 0.9)
        sgd.step(lr: 0.1)      // d = [0.6, 0.05], buf = d, p = [0.94, -2.005]
        XCTAssertEqual(p.value.array, [0.94, -2.005], "first step")
        XCTAssertEqual(p.grad.array, [0, 0], "step zeroes gradients")
        p.grad[0] = 0.5; p.grad[1] = 0.25
        sgd.step(lr: 0.1)      // d = [0.594, 0.0495]; buf = 0.9·[0.6,0.05] + d = [1.134, 0.0945]
        XCTAssertEqual(p.value[0], 0.94 - 0.1134, accuracy: 1e-6)
        XCTAssertEqual(p.value[1], -2.005 - 0.00945, accuracy: 1e-6)

        let q = param([1], grad: [1])
        let nes = SGD([ParameterGroup([q])], momentum: 0.5, nesterov: true)
        nes.step(lr: 1)        // buf = 1; d = 1 + 0.5·1 = 1.5
        XCTAssertEqual(q.value[0], -0.5, accuracy: 1e-7)
    }

    func testNormParametersCanBeExcludedFromDecay() {
        let w = param([1], grad: [0]), g = param([1], grad: [0], kind: .norm)
        let sgd = SGD(ParameterGroup.excludingNorm([w, g], weightDecay: 0.5))
        sgd.step(lr: 1)
        XCTAssertEqual(w.value[0], 0.5); XCTAssertEqual(g.value[0], 1)
    }

    /// Adam's first step moves each coordinate by lr·sign(g) (bias correction); AdamW decays p first.
    func testAdamAndAdamW() {
        let p = param([1, 1], grad: [0.3, -4])
        Adam([ParameterGroup([p])]).step(lr: 0.01)
        XCTAssertEqual(p.value[0], 0.99, accuracy: 1e-6); XCTAssertEqual(p.value[1], 1.01, accuracy: 1e-6)
        let q = param([2], grad: [1])
        Adam([ParameterGroup([q], weightDecay: 0.1)], decoupled: true).step(lr: 0.1)
        XCTAssertEqual(q.value[0], 2 - 0.1 * 0.1 * 2 - 0.1, accuracy: 1e-6)
        let r = param([2], grad: [1])   // coupled: g = 1 + 0.1·2; the first step is still lr·sign
        Adam([ParameterGroup([r], weightDecay: 0.1)]).step(lr: 0.1)
        XCTAssertEqual(r.value[0], 1.9, accuracy: 1e-6)
    }

    func testSchedules() {
        let step = Schedule.step(milestones: [100, 150, 175, 188], gamma: 0.25)
        XCTAssertEqual(step.factor(at: 99.9), 1); XCTAssertEqual(step.factor(at: 100), 0.25)
        XCTAssertEqual(step.factor(at: 190), pow(0.25, 4))
        let cos = Schedule.cosine(period: 400, minFactor: 0)
        XCTAssertEqual(cos.factor(at: 0), 1); XCTAssertEqual(cos.factor(at: 200), 0.5, accuracy: 1e-12)
        XCTAssertEqual(cos.factor(at: 400), 0, accuracy: 1e-12)
        let cyc = Schedule.piecewise(points: [(0, 1e-4), (2, 1), (32, 0)])
        XCTAssertEqual(cyc.factor(at: 1), (1e-4 + 1) / 2, accuracy: 1e-12)
        XCTAssertEqual(cyc.factor(at: 17), 0.5, accuracy: 1e-12)
        let warm = Schedule.warmup(epochs: 5, then: .constant)
        XCTAssertEqual(warm.factor(at: 1), 0.2, accuracy: 1e-12); XCTAssertEqual(warm.factor(at: 9), 1)
        XCTAssertEqual(Schedule.constant.rate(base: 0.1, at: 3), 0.1)
    }
}
