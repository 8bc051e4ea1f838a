// Determinism (same seed → bit-identical weights) and learning (each family fits a small problem).
import XCTest
@testable import Engine

/// A tiny fixed classification or sequence problem and end-to-end training on it.
struct TinyProblem {
    let x: Tensor
    let labels: [Int32]
    let chance: Float

    static func images(n: Int, channels: Int, size: Int, classes: Int, seed: UInt64) -> TinyProblem {
        var r = RandomStream(seed: seed, name: "tiny")
        let x = Tensor([n, channels, size, size]); r.fillNormal(x, std: 1)
        return TinyProblem(x: x, labels: (0..<n).map { Int32($0 % classes) }, chance: logf(Float(classes)))
    }

    /// Reverse a sequence: first half the input digits, second half the targets (the S2S layout).
    static func reversal(n: Int, half: Int, vocabulary: Int, seed: UInt64) -> TinyProblem {
        var r = RandomStream(seed: seed, name: "tiny")
        let t = 2 * half
        let x = Tensor([n, t]); var labels = [Int32](repeating: -1, count: n * t)
        for b in 0..<n {
            let digits = (0..<half).map { _ in r.below(vocabulary) }
            for p in 0..<half { x[b * t + p] = Float(digits[p]) }
            // teacher forcing: position half+p sees digit p of the reversal, predicts the next
            for p in 0..<half {
                x[b * t + half + p] = Float(p == 0 ? 0 : digits[half - p])
                labels[b * t + half + p] = Int32(digits[half - 1 - p])
            }
        }
        return TinyProblem(x: x, labels: labels, chance: logf(Float(vocabulary)))
    }

    /// Trains end to end with Adam; returns the losses.
    func train(_ m: Model, steps: Int, lr: Float) -> [Float] {
        let ce = SoftmaxCrossEntropy()
        let opt = Adam([ParameterGroup(m.parameters)])
        return (0..<steps).map { _ in
            let l = ce(m.forward(x, mode: .train), labels)
            m.backward(ce.grad)
            opt.step(lr: lr)
            return l
        }
    }
}

final class TrainingTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }

    private func weights(_ m: Model) -> [[Float]] { m.parameters.map { $0.value.array } + m.buffers.map { $0.array } }

    func testSameSeedGivesBitIdenticalWeightsDifferentSeedsDiffer() throws {
        var s = ModelSpec(arch: .resnet18); s.width = 0.125; s.imageSize = 12
        var v = ModelSpec(arch: .vgg8b); v.width = 0.0625; v.imageSize = 16; v.dropout = 0.2
        for spec in [s, v] {
            let p = TinyProblem.images(n: 16, channels: 1, size: spec.imageSize, classes: 4, seed: 1)
            func run(_ seed: UInt64) throws -> [[Float]] {
                let m = try spec.build(seed: seed); _ = p.train(m, steps: 3, lr: 1e-3); return weights(m)
            }
            let a = try run(7), b = try run(7), c = try run(8)
            XCTAssertEqual(a, b, "\(spec.arch): same seed, same weights, bit for bit")
            XCTAssertNotEqual(a, c, "\(spec.arch): another seed, other weights")
        }
    }

    func testEveryFamilyFitsASmallProblem() throws {
        var mlp = ModelSpec(arch: .mlp); mlp.hidden = [64]; mlp.imageSize = 6; mlp.classes = 4
        var r18 = ModelSpec(arch: .resnet18); r18.width = 0.125; r18.imageSize = 8; r18.classes = 4
        var r50 = ModelSpec(arch: .resnet50); r50.width = 0.0625; r50.imageSize = 8; r50.classes = 4
        var vgg = ModelSpec(arch: .vgg8b); vgg.width = 0.0625; vgg.imageSize = 16; vgg.classes = 4
        for spec in [mlp, r18, r50, vgg] {
            let p = TinyProblem.images(n: 32, channels: 1, size: spec.imageSize, classes: 4, seed: 2)
            let losses = p.train(try spec.build(seed: 1), steps: 60, lr: 3e-3)
            XCTAssertLessThan(losses.last!, 0.1 * p.chance, "\(spec.arch) fits 32 samples: \(losses.first!) → \(losses.last!)")
        }
        var gpt = ModelSpec(arch: .transformer)
        gpt.layers = 2; gpt.dModel = 32; gpt.heads = 2; gpt.ffn = 64; gpt.vocabulary = 6; gpt.length = 8
        let rev = TinyProblem.reversal(n: 64, half: 4, vocabulary: 6, seed: 3)
        let losses = rev.train(try gpt.build(seed: 1), steps: 150, lr: 3e-3)
        XCTAssertLessThan(losses.last!, 0.1 * rev.chance, "transformer learns to reverse: \(losses.first!) → \(losses.last!)")
    }

    func testFeedbackAlignmentStillLearnsAndDiffersFromBackprop() throws {
        var s = ModelSpec(arch: .mlp); s.hidden = [64, 64]; s.imageSize = 6; s.classes = 4
        let p = TinyProblem.images(n: 32, channels: 1, size: 6, classes: 4, seed: 4)
        let bp = try s.build(seed: 1), fa = try s.build(seed: 1)
        fa.enableFeedbackAlignment(seed: 1)
        XCTAssertEqual(fa.feedbackAngles().count, 3)
        let lb = p.train(bp, steps: 80, lr: 3e-3), lf = p.train(fa, steps: 80, lr: 3e-3)
        XCTAssertNotEqual(lb, lf)
        XCTAssertLessThan(lf.last!, 0.5 * p.chance, "FA learns: \(lf.first!) → \(lf.last!)")
    }
}
