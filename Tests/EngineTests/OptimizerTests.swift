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

    /// The optimizers update all parameters in one pass cut into one chunk per worker, chunks spanning
    /// parameter boundaries: every element must end exactly where a plain per-element loop puts it.
    func testOnePassUpdateMatchesThePerElementRuleAcrossChunkBoundaries() {
        let saved = Parallel.workers
        defer { Parallel.workers = saved }
        Parallel.workers = 2
        let sizes = [70_001, 3, 90_017, 17]   // 160k elements: two chunks, the cut inside the third parameter
        func make() -> [Parameter] {
            var rng = RandomStream(seed: 5, name: "optimizer-test")
            return sizes.enumerated().map { i, n in
                let p = Parameter("p\(i)", .weight, shape: [n])
                rng.fillNormal(p.value, std: 1); return p
            }
        }
        func grads(_ ps: [Parameter], step: Int) {
            var rng = RandomStream(seed: UInt64(100 + step), name: "optimizer-test/grad")
            for p in ps { rng.fillNormal(p.grad, std: 1) }
        }
        for (mu, nesterov) in [(Float(0), false), (0.9, false), (0.9, true)] {
            let ps = make(), ref = make()
            let sgd = SGD([ParameterGroup(Array(ps[..<2]), weightDecay: 0.01), ParameterGroup(Array(ps[2...]), weightDecay: 0)],
                          momentum: mu, nesterov: nesterov)
            var bufs = ref.map { [Float](repeating: 0, count: $0.count) }
            for step in 0..<3 {
                grads(ps, step: step); grads(ref, step: step)
                sgd.step(lr: 0.1)
                for (k, p) in ref.enumerated() {
                    let wd: Float = k < 2 ? 0.01 : 0
                    for i in 0..<p.count {
                        var d = p.grad[i] + wd * p.value[i]
                        if mu != 0 {
                            bufs[k][i] = step == 0 ? d : mu * bufs[k][i] + d
                            d = nesterov ? d + mu * bufs[k][i] : bufs[k][i]
                        }
                        p.value[i] -= 0.1 * d
                    }
                }
            }
            for k in ps.indices {
                XCTAssertNil(firstDifference(ps[k], ref[k]), "SGD μ=\(mu) nesterov=\(nesterov), parameter \(k)")
                XCTAssertTrue(ps[k].grad.array.allSatisfy { $0 == 0 }, "gradients zeroed")
            }
        }
        let ps = make(), ref = make()
        let adam = Adam([ParameterGroup(ps, weightDecay: 0.01)], decoupled: true)
        var m = ref.map { [Float](repeating: 0, count: $0.count) }, v = m
        for step in 0..<3 {
            grads(ps, step: step); grads(ref, step: step)
            adam.step(lr: 0.01)
            let c1 = 1 - Float(Double(Float(0.9)).power(step + 1)), c2 = 1 - Float(Double(Float(0.999)).power(step + 1))
            for (k, p) in ref.enumerated() {
                for i in 0..<p.count {
                    let g = p.grad[i]
                    p.value[i] -= 0.01 * 0.01 * p.value[i]
                    m[k][i] = 0.9 * m[k][i] + (1 - 0.9) * g
                    v[k][i] = 0.999 * v[k][i] + (1 - 0.999) * g * g
                    p.value[i] -= 0.01 * (m[k][i] / c1) / ((v[k][i] / c2).squareRoot() + 1e-8)
                }
            }
        }
        for k in ps.indices { XCTAssertNil(firstDifference(ps[k], ref[k]), "AdamW, parameter \(k)") }
    }

    /// The first element where two parameters' values differ in any bit, with both values.
    private func firstDifference(_ a: Parameter, _ b: Parameter) -> String? {
        for i in 0..<a.count where a.value[i].bitPattern != b.value[i].bitPattern {
            return "element \(i): \(a.value[i]) vs \(b.value[i])"
        }
        return nil
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
