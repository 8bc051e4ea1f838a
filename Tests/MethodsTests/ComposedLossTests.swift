import XCTest
import Foundation
@testable import Engine
@testable import Methods
@testable import Datasets

/// Issue 18, item 3: the local losses as the rules compose them — value and gradient by central differences
/// (BLL Gaussian and Bernoulli, bll-code's prototype + decorrelation + auxiliary head and its feedback update,
/// Pred-Sim's head as a whole), the output scalings ((1−β) in Pred-Sim, α in bll-code), and, on Fashion-MNIST,
/// that each rule's local loss is what makes block 1 learn (its head beats the same block frozen at init).
final class ComposedLossTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }

    let labels: [Int32] = [0, 1, 2, 3, 0, 1]

    /// Central differences of `value` at `indices` of x against `analytic`.
    func checkGradient(_ name: String, _ x: Tensor, _ analytic: [Float], indices: [Int], eps: Float = 1e-3,
                       atol: Float = 1e-3, rtol: Float = 3e-2, line: UInt = #line, _ value: () -> Float) {
        var worst: Float = 0
        for i in indices {
            let old = x[i]
            x[i] = old + eps; let lp = value()
            x[i] = old - eps; let lm = value()
            x[i] = old
            let numeric = (lp - lm) / (2 * eps)
            worst = max(worst, abs(numeric - analytic[i]))
            XCTAssert(abs(numeric - analytic[i]) <= atol + rtol * max(abs(numeric), abs(analytic[i])),
                      "\(name) d[\(i)]: analytic \(analytic[i]) vs numeric \(numeric)", line: line)
        }
        XCTAssertGreaterThan(analytic.map(abs).max() ?? 0, 10 * atol, "\(name): the gradient is not trivially zero", line: line)
    }

    func spread(_ count: Int, _ n: Int = 40) -> [Int] { (0..<min(n, count)).map { $0 * count / min(n, count) } }

    /// A ResNet-18 at width 1/16 on 8×8 inputs, cut in two: block 1 ends in a [N, C, H, W] map.
    func imageSetup(_ method: MethodName, configure: (inout MethodConfig) -> Void = { _ in }) throws -> MethodSetup {
        var s = ModelSpec(arch: .resnet18); s.width = 0.0625; s.inChannels = 1; s.imageSize = 8; s.classes = 4
        let m = try s.build(seed: 5)
        var c = MethodConfig(method: method); configure(&c)
        return MethodSetup(model: m, blocks: try BlockSplit.split(m, blocks: 2, rule: .even), config: c, optimizer: OptimizerConfig(),
                           classes: 4, seed: 5)
    }

    func blockOutput(_ setup: MethodSetup, seed: UInt64) -> Tensor {
        GradProbe.random([labels.count] + setup.blockShapes()[0].dropFirst(), seed: seed)
    }

    /// BLL's block-1 loss as composed, checked against central differences: dL/da of kl + w·decorr, and the
    /// feedback map's gradient of the kl term (its own objective λ·Σ|b(W) − sg(r)|²/B).
    func checkBLLBlockOne(_ name: String, _ configure: @escaping (inout MethodConfig) -> Void, seed: UInt64) throws {
        let setup = try imageSetup(.bll, configure: configure)
        let rule = try XCTUnwrap(try Methods.make(setup) as? BLL)
        let a = blockOutput(setup, seed: seed), w = Float(setup.config.decorrelation)
        func evaluate() -> (total: Float, grad: Tensor, kl: Float) {
            let b = rule.blockFeedback(0, labels: labels, next: nil)!
            let g = Tensor(a.shape)
            rule.feedback[0].weight.grad.zero()
            let terms = Dictionary(uniqueKeysWithValues: rule.localLoss(0, a, labels, feedback: b, into: g))
            return (terms["kl"]! + w * terms["decorr"]!, g, terms["kl"]!)
        }
        let first = evaluate()
        XCTAssertGreaterThan(first.kl, 0)
        checkGradient("\(name) dL/da", a, first.grad.array, indices: spread(a.count)) { evaluate().total }
        let weight = rule.feedback[0].weight.value
        _ = evaluate()
        checkGradient("\(name) dL/dW_feedback", weight, rule.feedback[0].weight.grad.array, indices: spread(weight.count)) { evaluate().kl }
    }

    /// BLL (Gaussian): L(a) = λ·Σ|N(pool(a)) − b|²/B + w·decorr(N(pool(a))), average and max pooling.
    func testBLLGaussianLossAsComposed() throws {
        for pooling in [MethodConfig.Pooling.avg, .max] {
            try checkBLLBlockOne("bll \(pooling)", { $0.lambda = 0.7; $0.decorrelation = 0.5; $0.pooling = pooling }, seed: 1)
        }
    }

    /// BLL Bernoulli: KL(σ(u)‖σ(z)) summed over units, mean over rows, z = pool(a) unnormalised, plus w·decorr(N(z)).
    func testBLLBernoulliLossAsComposed() throws {
        try checkBLLBlockOne("bernoulli", { $0.distribution = .bernoulli; $0.lambda = 13; $0.decorrelation = 0.25 }, seed: 2)
    }

    /// bll-code on features: corr·decorr(x̂) + proto·sign·Σ⟨β(y_i), x̂_i⟩/B² + aux·CE_ls(aux(a)); and the feedback
    /// map's update, the gradient of ½Σ_c‖β(c) − p_c‖² with p_c the class means of x̂ (0 when absent).
    func testBLLCodeLossAndFeedbackUpdateAsComposed() throws {
        for sign in [1.0, -1.0] {
            let setup = try mlpSetup(.bllCode, blocks: 3) { $0.protoSign = sign; $0.corrWeight = 0.7; $0.protoWeight = 0.25; $0.auxWeight = 0.5 }
            let rule = try XCTUnwrap(try Methods.make(setup) as? BLLCode)
            let a = GradProbe.random([labels.count, setup.blockShapes()[0].last!], seed: 3)
            func evaluate() -> (Float, Tensor) {
                let g = Tensor(a.shape)
                rule.feedback[0].weight.grad.zero()
                let t = Dictionary(uniqueKeysWithValues: rule.localLoss(0, a, labels, feedback: nil, into: g))
                return (0.7 * t["corr"]! + 0.25 * t["proto"]! + 0.5 * t["aux.ce"]!, g)
            }
            let (_, g) = evaluate()
            checkGradient("bll-code sign \(sign) dL/da", a, g.array, indices: spread(a.count, 64)) { evaluate().0 }
            // the feedback update: W[:, c] gets β(c) − p_c
            let xh = RowNormalize().forward(a)
            let d = xh.shape[1], classes = setup.classes
            var p = [Float](repeating: 0, count: classes * d), counts = [Int](repeating: 0, count: classes)
            for (i, y) in labels.enumerated() { counts[Int(y)] += 1; for t in 0..<d { p[Int(y) * d + t] += xh[i * d + t] } }
            let w = rule.feedback[0].weight.value
            func half() -> Float {
                var s: Float = 0
                for c in 0..<classes { for t in 0..<d {
                    let diff = w[t * classes + c] - (counts[c] > 0 ? p[c * d + t] / Float(counts[c]) : 0); s += 0.5 * diff * diff
                } }
                return s
            }
            _ = evaluate()
            checkGradient("bll-code feedback update", w, rule.feedback[0].weight.grad.array, indices: spread(w.count)) { half() }
        }
    }

    /// Pred-Sim's head as a whole: (1−β)·CE(decoder(pool(a))) + β·MSE(S(std(conv(a))), S(Y)), with the
    /// decoder's pooling active (dimIn below C·H·W) and without it.
    func testPredSimHeadAsComposed() throws {
        for dimIn in [16, 4096] {
            var rng = RandomStream(seed: 7, name: "head")
            let head = PredSimHead(inputShape: [labels.count, 4, 6, 6], classes: 4, beta: 0.3, dimIn: dimIn, rng: &rng)
            var r = RandomStream(seed: 8, name: "decoder")
            r.fillNormal(head.decoder.weight.value, std: 0.3)   // zero-initialised: give the prediction path a gradient
            let a = GradProbe.random([labels.count, 4, 6, 6], seed: 4)
            func evaluate() -> (Float, Tensor) {
                let g = Tensor(a.shape)
                let t = Dictionary(uniqueKeysWithValues: head.loss(a, labels, into: g, mode: .train))
                return (0.7 * t["pred"]! + 0.3 * t["sim"]!, g)
            }
            let (_, g) = evaluate()
            checkGradient("pred-sim head dimIn \(dimIn)", a, g.array, indices: spread(a.count, 60)) { evaluate().0 }
        }
    }

    /// The output scalings: the last block's gradient is (1−β) times Pred-Sim's at β = 0, and α times
    /// bll-code's at α = 1.
    func testOutputLossScalings() throws {
        let (x, y) = synthetic(n: 16, features: 16, classes: 4, seed: 9)
        func lastBlockGrads(_ method: MethodName, _ configure: @escaping (inout MethodConfig) -> Void) throws -> [Float] {
            let rule = try Methods.make(try mlpSetup(method, configure: configure))
            (rule as! BlockLocalRule).skipOptimizerStep = true
            _ = try rule.step(x, y, lr: 1e-3)
            return rule.blocks.last!.parameters.flatMap { $0.grad.array }
        }
        for (method, base, scaled, factor) in [(MethodName.predsim, { (c: inout MethodConfig) in c.beta = 0 }, { (c: inout MethodConfig) in c.beta = 0.25 }, Float(0.75)),
                                               (.bllCode, { $0.alpha = 1 }, { $0.alpha = 0.43 }, 0.43)] {
            let g1 = try lastBlockGrads(method, base), g2 = try lastBlockGrads(method, scaled)
            XCTAssertGreaterThan(g1.map(abs).max()!, 1e-4)
            for (u, v) in zip(g1, g2) { XCTAssertEqual(v, factor * u, accuracy: 1e-6 + 1e-4 * abs(u), "\(method)") }
        }
    }

    /// A broken local loss fails here: after one short epoch on Fashion-MNIST, block 1's head (BLL: its
    /// prototype read-out) is clearly more accurate than the same network's with block 1 frozen at its init
    /// (its head and feedback map still trained, so the difference is what the local loss taught the block).
    func testLocalLossesMatterOnFashionMNIST() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("dataset-fashion-mnist is not installed (`make deps` installs it)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-ll-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = DatasetStore(directory: dir.path)
        try store.fetch(Registry.fashionMNIST, options: FetchOptions(network: false))
        let ds = try store.load("fashion-mnist")
        func blockOneAccuracy(_ method: MethodName, frozen: Bool) throws -> Double {
            var spec = ModelSpec(arch: .mlp); spec.hidden = [64, 64]
            let model = try spec.build(seed: 0)
            var opt = OptimizerConfig(); opt.lr = 1e-3
            let rule = try Methods.make(MethodSetup(model: model, blocks: try BlockSplit.split(model, blocks: 3, rule: .even),
                                                    config: MethodConfig(method: method), optimizer: opt, classes: 10, seed: 0))
            if frozen { (rule as! BlockLocalRule).frozenBlocks = [0] }
            let data = ImageData(dataset: ds, mean: Registry.fashionMNIST.mean, std: Registry.fashionMNIST.std, augmentation: .none,
                                 batchSize: 128, trainSubset: 6_000, testSubset: 2_000, seed: 0)
            let last = try XCTUnwrap(try Trainer(epochs: 1, baseLR: 1e-3, schedule: .constant).run(rule, data: data).epochs.last)
            return method == .bll ? last.diagnostics["b1.proto_acc"]! : last.headAccuracy["b1"]!
        }
        var lines: [String] = []
        for method in [MethodName.predsim, .bwbpf, .bll, .bllCode] {
            let trained = try blockOneAccuracy(method, frozen: false), frozen = try blockOneAccuracy(method, frozen: true)
            lines.append(String(format: "%@ %.1f vs frozen %.1f", method.rawValue, 100 * trained, 100 * frozen))
            XCTAssertGreaterThan(trained, frozen + 0.02, "\(method): block 1's local loss must teach it more than a frozen block's head learns alone")
        }
        print("block 1 accuracy, trained vs frozen at init (MLP 784-64-64-10, K = 3, 6,000 samples): " + lines.joined(separator: ", "))
    }
}

/// lr_step = epoch: the schedule's factor holds for a whole epoch (PyTorch's per-epoch scheduler.step()).
final class LRStepTests: XCTestCase {
    final class Recorder: LearningRule {
        var rates: [Float] = []
        let inner: LearningRule
        init(_ r: LearningRule) { inner = r }
        var name: MethodName { inner.name }
        var model: Model { inner.model }
        var blocks: [Block] { inner.blocks }
        var optimizers: [Optimizer] { inner.optimizers }
        func step(_ x: Tensor, _ labels: [Int32], lr: Float) throws -> [(String, Float)] { rates.append(lr); return try inner.step(x, labels, lr: lr) }
        func headLogits(_ x: Tensor) -> [(String, Tensor)] { [] }
        func diagnostics(_ x: Tensor, _ labels: [Int32]) -> [(String, Double)] { [] }
    }
    final class Batches: TrainingData {
        let x = GradProbe.random([8, 4], seed: 1), y: [Int32] = [0, 1, 0, 1, 0, 1, 0, 1]
        var classes: Int { 2 }; var trainSamplesPerEpoch: Int { 32 }; var batchesPerEpoch: Int { 4 }; var isSequence: Bool { false }
        func forEachTrainBatch(epoch: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows { for _ in 0..<4 { try body(x, y) } }
        func forEachTestBatch(_ body: (Tensor, [Int32]) throws -> Void) rethrows { try body(x, y) }
    }

    func rates(perEpoch: Bool) throws -> [Float] {
        var spec = ModelSpec(arch: .mlp); spec.hidden = [4]; spec.inChannels = 1; spec.imageSize = 2; spec.classes = 2
        let model = try spec.build(seed: 0)
        let rule = Recorder(try Methods.make(MethodSetup(model: model, blocks: try BlockSplit.split(model, blocks: 1, rule: .even),
                                                         config: MethodConfig(method: .bp), optimizer: OptimizerConfig(), classes: 2, seed: 0)))
        _ = try Trainer(epochs: 2, baseLR: 1, schedule: .cosine(period: 2, minFactor: 0), stepPerEpoch: perEpoch).run(rule, data: Batches())
        return rule.rates
    }

    func testPerEpochSteppingHoldsTheRateForTheEpoch() throws {
        let epoch = try rates(perEpoch: true), iteration = try rates(perEpoch: false)
        XCTAssertEqual(epoch.count, 8)
        XCTAssertEqual(Array(epoch[0..<4]), [1, 1, 1, 1])
        for r in epoch[4..<8] { XCTAssertEqual(r, 0.5, accuracy: 1e-6) }   // cos at epoch 1 of 2
        XCTAssertEqual(iteration[0], 1)
        XCTAssertLessThan(iteration[3], iteration[1])                     // moves within the epoch
        XCTAssertEqual(iteration[4], 0.5, accuracy: 1e-6)
    }
}
