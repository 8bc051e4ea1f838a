import XCTest
@testable import Engine
@testable import Methods
@testable import Datasets

/// A learnable synthetic classification task: class-dependent means plus noise.
func synthetic(n: Int, features: Int, classes: Int, seed: UInt64) -> (Tensor, [Int32]) {
    var r = RandomStream(seed: seed, name: "synthetic")
    var centers = RandomStream(seed: 99, name: "centers")
    let mu = (0..<(classes * features)).map { _ in centers.normal() }
    precondition(features == 16, "the test MLP reads 1×4×4 inputs")
    let x = Tensor([n, 1, 4, 4]); var y = [Int32]()
    for i in 0..<n {
        let c = i % classes; y.append(Int32(c))
        for j in 0..<features { x[i * features + j] = mu[c * features + j] + 1.5 * r.normal() }
    }
    return (x, y)
}

/// An MLP on 1×4×4 inputs (16 features), cut into `blocks` blocks by the even rule.
func mlpSetup(_ method: MethodName, seed: UInt64 = 1, hidden: [Int] = [32, 32], classes: Int = 4,
              blocks: Int = 3, lr: Double = 3e-3, configure: (inout MethodConfig) -> Void = { _ in },
              optimizer: (inout OptimizerConfig) -> Void = { _ in }) throws -> MethodSetup {
    var s = ModelSpec(arch: .mlp); s.hidden = hidden; s.inChannels = 1; s.imageSize = 4; s.classes = classes
    let m = try s.build(seed: seed)
    var c = MethodConfig(method: method); configure(&c)
    var o = OptimizerConfig(); o.lr = lr; optimizer(&o)
    return MethodSetup(model: m, blocks: try BlockSplit.split(m, blocks: blocks, rule: .even), config: c, optimizer: o, classes: classes, seed: seed)
}

final class MethodTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }
    /// The registry's rules whose blocks are declared detached (every rule's file says which).
    let local = MethodName.allCases.filter { !$0.isLocked }

    /// The cut: after one step, block 1 (and its heads) is bit-identical whatever the later blocks' weights are;
    /// for bp and bwbpf-code it is not.
    /// A runaway loss counts as divergence, not only a non-finite one (Adam at lr 1e6 reached 2e24 and was
    /// stored as done).
    func testRunawayLossesAreDivergence() {
        XCTAssertNil(Divergence.first([("out.ce", 2.3), ("b1.kl", 1e6)]))
        XCTAssertEqual(Divergence.first([("out.ce", 2.3), ("b1.kl", 2e24)])?.0, "b1.kl")
        XCTAssertEqual(Divergence.first([("out.ce", .nan)])?.0, "out.ce")
        XCTAssertEqual(Divergence.first([("out.ce", -.infinity)])?.0, "out.ce")
    }

    func testLocalMethodsCutTheGradientAtBlockInputs() throws {
        let (x, y) = synthetic(n: 32, features: 16, classes: 4, seed: 1)
        for method in MethodName.allCases where method != .fa {
            func block1After(perturbLater: Bool) throws -> [[Float]] {
                let setup = try mlpSetup(method)
                if perturbLater { for p in setup.blocks.dropFirst().flatMap(\.parameters) { let d = p.value.data; for i in 0..<p.count { d[i] *= 1.7 } } }
                let rule = try Methods.make(setup)
                _ = try rule.step(x, y, lr: 0.01)
                return setup.blocks[0].parameters.map { $0.value.array }
            }
            let same = try block1After(perturbLater: false) == block1After(perturbLater: true)
            XCTAssertEqual(same, local.contains(method), "\(method.rawValue): block 1's update \(same ? "ignores" : "depends on") later blocks")
        }
    }

    /// bp and bwbpf-code: the applied update equals −lr × the finite-difference gradient of their total loss.
    func testBackpropAndBWBPFCodeGradientsMatchFiniteDifferences() throws {
        let (x, y) = synthetic(n: 16, features: 16, classes: 4, seed: 2)
        for method in [MethodName.bp, .bwbpfCode] {
            let setup = try mlpSetup(method) { $0.kind = .sgd; $0.momentum = 0 }
            let rule = try Methods.make(setup)
            func totalLoss() -> Double {
                var h = x, total = 0.0
                for (k, b) in setup.blocks.enumerated() {
                    h = b.forward(h, mode: .train)
                    if k < setup.blocks.count - 1, let r = rule as? BWBPFCode {
                        total += Double(SoftmaxCrossEntropy()(r.heads[k].linear.forward(h, mode: .train), y))
                    }
                }
                return total + Double(SoftmaxCrossEntropy()(h, y))
            }
            let p = setup.blocks[0].parameters[0]           // fc1 weight: the gradient has crossed every block
            let probe = [0, 17, 100, 333]
            let eps: Float = 1e-2
            let numeric = probe.map { i -> Double in
                let old = p.value[i]
                p.value[i] = old + eps; let lp = totalLoss()
                p.value[i] = old - eps; let lm = totalLoss()
                p.value[i] = old
                return (lp - lm) / (2 * Double(eps))
            }
            let before = p.value.array
            let lr: Float = 1e-2
            _ = try rule.step(x, y, lr: lr)
            for (k, i) in probe.enumerated() {
                let applied = Double((before[i] - p.value[i]) / lr)
                XCTAssertEqual(applied, numeric[k], accuracy: 2e-3 + 0.03 * abs(numeric[k]), "\(method.rawValue) fc1.weight[\(i)]")
            }
        }
    }

    func testFAWithBEqualToWIsBackpropAndBNeverChanges() throws {
        let (x, y) = synthetic(n: 32, features: 16, classes: 4, seed: 3)
        let bpSetup = try mlpSetup(.bp), faSetup = try mlpSetup(.fa)
        let bp = try Methods.make(bpSetup), fa = try Methods.make(faSetup)
        var feedbacks: [Linear] = []
        for u in faSetup.model.units { u.layer.walk { if let l = $0 as? Linear { feedbacks.append(l) } } }
        XCTAssertEqual(feedbacks.count, 3); XCTAssert(feedbacks.allSatisfy { $0.feedback != nil })
        let random = feedbacks.map { $0.feedback! }
        // B = W: one FA step is one BP step, bit for bit
        for l in feedbacks { l.feedback = Tensor(l.weight.value.shape, l.weight.value.array) }
        _ = try bp.step(x, y, lr: 0.01); _ = try fa.step(x, y, lr: 0.01)
        XCTAssertTrue(bpSetup.model.parameters.map { $0.value.array } == faSetup.model.parameters.map { $0.value.array }, "FA with B = W equals BP")
        // random B: never updated while W is
        for (l, b) in zip(feedbacks, random) { l.feedback = b }
        let fixed = random.map { $0.array }, w0 = feedbacks.map { $0.weight.value.array }
        for _ in 0..<3 { _ = try fa.step(x, y, lr: 0.01) }
        XCTAssertTrue(feedbacks.map { $0.feedback!.array } == fixed, "B is never updated")
        XCTAssertFalse(feedbacks.map { $0.weight.value.array } == w0, "W is")
    }

    func testPredSimSimilarityMatricesAndPoolingRule() {
        let labels: [Int32] = [0, 1, 2, 0]
        let s = labelSimilarity(labels, classes: 10)
        XCTAssertEqual(s[0 * 4 + 3], 1); XCTAssertEqual(s[0 * 4 + 1], -1.0 / 9, accuracy: 1e-7)
        // the same matrix as S() of the one-hot rows (centred, normalised, cosine)
        let onehot = Tensor([4, 10]); for (i, l) in labels.enumerated() { onehot[i * 10 + Int(l)] = 1 }
        let n = RowNormalize().forward(onehot)
        for i in 0..<4 { for j in 0..<4 {
            var dot: Float = 0; for t in 0..<10 { dot += n[i * 10 + t] * n[j * 10 + t] }
            XCTAssertEqual(dot, s[i * 4 + j], accuracy: 1e-6)
        } }
        // local-loss: 128 channels of 28×28 into dim_in_decoder 2048 → 8×8 windows, padding 4, 4×4 outputs
        let p = predSimPooling(channels: 128, height: 28, width: 28, dimIn: 2048)
        XCTAssertEqual([p.kh, p.kw, p.padH, p.padW, p.outH, p.outW], [8, 8, 4, 4, 4, 4])
        XCTAssertEqual(128 * p.outH * p.outW, 2048)
        let q = predSimPooling(channels: 256, height: 16, width: 16, dimIn: 2048)
        XCTAssertLessThanOrEqual(256 * q.outH * q.outW, 2048)
        XCTAssertEqual([q.outH, q.outW], [2, 4], "height first, then width")
        XCTAssertEqual(AvgPool2d(kernelH: p.kh, kernelW: p.kw, padH: p.padH, padW: p.padW).outputShapeOrNil([1, 128, 28, 28]), [1, 128, 4, 4])
        let none = predSimPooling(channels: 8, height: 4, width: 4, dimIn: 2048)
        XCTAssertEqual([none.kh, none.kw], [1, 1])
    }

    func testLocalLossGradients() {
        let gc = LossGradCheck()
        let x = GradProbe.random([6, 5], seed: 4)
        let labels: [Int32] = [0, 1, 2, 0, -1, 1]
        gc.check("similarity", x) { t in let s = SimilarityMatching(); let l = s(t, labels, classes: 3); return (l, s.grad) }
        gc.check("decorrelation", x) { t in let d = Decorrelation(); let l = d(t); return (l, d.grad) }
        gc.check("row normalise", x) { t in
            let n = RowNormalize(); let y = n.forward(t)
            let w = GradProbe.random(y.shape, seed: 5)
            var l: Float = 0; for i in 0..<y.count { l += y[i] * w[i] }
            return (l, n.backward(w))
        }
        let img = GradProbe.random([2, 3, 3, 4], seed: 6)
        gc.check("spatial std", img) { t in
            let s = SpatialStd(); let y = s.forward(t)
            let w = GradProbe.random(y.shape, seed: 7)
            var l: Float = 0; for i in 0..<y.count { l += y[i] * w[i] }
            return (l, s.backward(w))
        }
    }

    func testBLLWithoutLocalTermsLeavesEarlyBlocksUntouchedAndTermsMoveOnlyTheirOwnWeights() throws {
        let (x, y) = synthetic(n: 32, features: 16, classes: 4, seed: 5)
        let off = try mlpSetup(.bll) { $0.lambda = 0; $0.decorrelation = 0 }
        let before = off.blocks.dropLast().flatMap(\.parameters).map { $0.value.array }
        let rule = try Methods.make(off)
        for _ in 0..<3 { _ = try rule.step(x, y, lr: 0.01) }
        XCTAssertTrue(off.blocks.dropLast().flatMap(\.parameters).map { $0.value.array } == before, "λ = 0: non-final blocks do not learn")

        // gradients of one step, not applied: the feedback maps' do not depend on forward-only terms
        func grads(decorrelation: Double) throws -> (forward: [[Float]], feedback: [[Float]]) {
            let s = try mlpSetup(.bll) { $0.decorrelation = decorrelation }
            let r = try Methods.make(s) as! BLL
            r.skipOptimizerStep = true
            _ = try r.step(x, y, lr: 0.01)
            return (s.blocks[0].parameters.map { $0.grad.array }, r.feedback.flatMap(\.parameters).map { $0.grad.array })
        }
        let a = try grads(decorrelation: 0), b = try grads(decorrelation: 1)
        XCTAssertTrue(a.feedback == b.feedback, "the decorrelation term (forward only) does not reach the feedback network")
        XCTAssertFalse(a.forward == b.forward, "it does reach the forward block")
        XCTAssert(a.feedback.allSatisfy { $0.contains { $0 != 0 } }, "every feedback map learns from its KL term")
    }

    /// bll-code's feedback maps: each has its own SGD, stepped once per iteration with its block (at K = 4
    /// three maps, one step each), and `skipOptimizerStep` leaves them untouched as it does the blocks.
    func testBLLCodeStepsEachFeedbackMapOncePerIteration() throws {
        let (x, y) = synthetic(n: 16, features: 16, classes: 4, seed: 7)
        let skip = try Methods.make(try mlpSetup(.bllCode, hidden: [32, 32, 32], blocks: 4)) as! BLLCode
        let before = skip.feedback.map { $0.weight.value.array }
        skip.skipOptimizerStep = true
        _ = try skip.step(x, y, lr: 0.01)
        XCTAssertTrue(skip.feedback.map { $0.weight.value.array } == before, "skipOptimizerStep leaves the feedback maps alone")
        XCTAssertEqual(skip.feedbackOptimizers.map(\.steps), [0, 0, 0])
        let rule = try Methods.make(try mlpSetup(.bllCode, hidden: [32, 32, 32], blocks: 4)) as! BLLCode
        _ = try rule.step(x, y, lr: 0.01)
        XCTAssertEqual(rule.feedbackOptimizers.map(\.steps), [1, 1, 1], "one step per map per iteration")
        XCTAssertTrue(zip(rule.feedback.map { $0.weight.value.array }, before).allSatisfy { $0 != $1 }, "every map learns")
        XCTAssertEqual(rule.optimizers.count, 4 + 3)
    }

    /// bll-code's denoising term: with every other term off, it alone moves the non-final blocks, by exactly
    /// −lr × the gradient of den·mean((block(x + σε) − sg(block(x)))²) (finite differences, SGD), and it
    /// never reaches the last block.
    func testBLLCodeDenoisingTermTrainsOnlyItsBlock() throws {
        let (x, y) = synthetic(n: 16, features: 16, classes: 4, seed: 6)
        func setup(_ den: Double?) throws -> MethodSetup {
            try mlpSetup(.bllCode, blocks: 2, configure: {
                $0.alpha = 0; $0.corrWeight = 0; $0.protoWeight = 0; $0.auxWeight = 0; $0.denoiseWeight = den; $0.denoiseStd = 0.5
            }, optimizer: { $0.kind = .sgd; $0.momentum = 0 })
        }
        let off = try setup(nil), on = try setup(2)
        let first = on.blocks[0].parameters.map { $0.value.array }, last = on.blocks[1].parameters.map { $0.value.array }
        let ruleOff = try Methods.make(off), ruleOn = try Methods.make(on)
        _ = try ruleOff.step(x, y, lr: 0.01)
        XCTAssertTrue(off.blocks[0].parameters.map { $0.value.array } == first, "without the term nothing trains block 1")
        // the loss the step minimises, evaluated with the same noise draw (stream of step 0)
        var eps = RandomStream(seed: on.seed, name: "denoise/b1/step-0")
        let noise = Tensor(x.shape); eps.fillNormal(noise, std: 0.5)
        let noisy = Tensor(x.shape, zip(x.array, noise.array).map { $0 + $1 })
        let target = Tensor([0])
        func loss() -> Double {
            // in training mode a block's BatchNorm uses batch statistics; the clean output is the detached target
            let a = on.blocks[0].forward(noisy, mode: .train).array
            return 2 * zip(a, target.array).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / Double(a.count)
        }
        let clean = on.blocks[0].forward(x, mode: .train); target.resize(clean.shape); target.copy(from: clean)
        let p = on.blocks[0].parameters[0], probe = [0, 5, 77, 300]
        let h: Float = 1e-2
        let numeric = probe.map { i -> Double in
            let old = p.value[i]
            p.value[i] = old + h; let lp = loss(); p.value[i] = old - h; let lm = loss(); p.value[i] = old
            return (lp - lm) / (2 * Double(h))
        }
        let terms = try ruleOn.step(x, y, lr: 0.01)
        XCTAssert(terms.contains { $0.0 == "b1.den" && $0.1 > 0 }, "\(terms)")
        for (k, i) in probe.enumerated() {
            let applied = Double((first[0][i] - p.value[i]) / 0.01)
            XCTAssertEqual(applied, numeric[k], accuracy: 1e-3 + 0.03 * abs(numeric[k]), "fc1.weight[\(i)]")
        }
        XCTAssertTrue(on.blocks[1].parameters.map { $0.value.array } == last, "the term never reaches the last block")
    }

    /// bll-code's auxiliary head as released: adaptive pooling to AvgPool2d(3, stride 2)'s size, so a
    /// 28×28 block output gives 13×13 cells; `aux_pooling=global` and configs without the key pool globally.
    func testBLLCodeAuxiliaryHeadPooling() throws {
        var spec = ModelSpec(arch: .resnet18); spec.width = 0.0625; spec.inChannels = 1; spec.imageSize = 28; spec.classes = 10
        func made(_ configure: (inout MethodConfig) -> Void) throws -> (rule: BLLCode, shapes: [[Int]]) {
            let m = try spec.build(seed: 1)
            var c = MethodConfig(method: .bllCode); configure(&c)
            let setup = MethodSetup(model: m, blocks: try BlockSplit.split(m, blocks: 3, rule: .even), config: c,
                                    optimizer: OptimizerConfig(), classes: 10, seed: 1)
            return (try Methods.make(setup) as! BLLCode, Array(setup.blockShapes().dropLast()))
        }
        func auxInputs(_ configure: (inout MethodConfig) -> Void) throws -> [Int] {
            try made(configure).rule.aux.map { $0.linear.weight.value.shape[1] }
        }
        let shapes = try made { _ in }.shapes
        let side = { (h: Int) in h >= 3 ? (h - 3) / 2 + 1 : 1 }
        XCTAssertEqual(shapes[0][2], 28)
        XCTAssertEqual(try auxInputs { _ in }, shapes.map { $0[1] * side($0[2]) * side($0[3]) })
        XCTAssertEqual(try auxInputs { _ in }[0], shapes[0][1] * 13 * 13)
        XCTAssertEqual(try auxInputs { try! $0.apply(["aux_pooling": "global"]) }, shapes.map { $0[1] })
        XCTAssertEqual(try auxInputs { $0.auxPooling = nil }, shapes.map { $0[1] })
        XCTAssertNil(MethodConfig(method: .bll).auxPooling, "other methods' configs (and run ids) do not change")
    }

    func testEveryMethodLearnsASyntheticTaskInSeconds() throws {
        let (x, y) = synthetic(n: 256, features: 16, classes: 4, seed: 6)
        let (tx, ty) = synthetic(n: 256, features: 16, classes: 4, seed: 7)
        for method in MethodName.allCases {
            let setup = try mlpSetup(method)
            let rule = try Methods.make(setup)
            for _ in 0..<60 { _ = try rule.step(x, y, lr: 3e-3) }
            let acc = Double(correctCount(rule.predict(tx), ty)) / 256
            XCTAssertGreaterThan(acc, 0.6, "\(method.rawValue): held-out accuracy \(acc) (chance 0.25)")
        }
    }

    func testDivergenceIsReportedWithEpochAndStep() throws {
        let (x, y) = synthetic(n: 64, features: 16, classes: 4, seed: 8)
        let setup = try mlpSetup(.bp) { $0.kind = .sgd; $0.momentum = 0 }
        let rule = try Methods.make(setup)
        final class Fixed: TrainingData {
            let x: Tensor, y: [Int32]
            init(_ x: Tensor, _ y: [Int32]) { self.x = x; self.y = y }
            var classes: Int { 4 }; var trainSamplesPerEpoch: Int { 64 }; var batchesPerEpoch: Int { 1 }; var isSequence: Bool { false }
            func forEachTrainBatch(epoch: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows { for _ in 0..<5 { try body(x, y) } }
            func forEachTestBatch(_ body: (Tensor, [Int32]) throws -> Void) rethrows { try body(x, y) }
        }
        let result = try Trainer(epochs: 3, baseLR: 1e6, schedule: .constant).run(rule, data: Fixed(x, y))
        guard case let .diverged(epoch, step, term) = result.status else { return XCTFail("expected divergence, got \(result.status)") }
        XCTAssertEqual(epoch, 1); XCTAssertGreaterThan(step, 1); XCTAssertEqual(term, "out.ce")
        XCTAssert("\(result.status)".contains("diverged at epoch 1, step \(step)"))
    }

    func testUnknownSettingsListTheAllowedOnes() {
        var c = MethodConfig(method: .bll)
        XCTAssertThrowsError(try c.apply(["lamda": "1"])) { XCTAssert("\($0)".contains("lambda, feedback, distribution"), "\($0)") }
        XCTAssertThrowsError(try c.apply(["feedback": "twin"])) { XCTAssert("\($0)".contains("chain, direct"), "\($0)") }
        var bp = MethodConfig(method: .bp)
        XCTAssertThrowsError(try bp.apply(["beta": "0.9"])) { XCTAssert("\($0)".contains("none"), "\($0)") }
        var o = OptimizerConfig()
        XCTAssertThrowsError(try o.apply(["optimizer": "rmsprop"])) { XCTAssert("\($0)".contains("sgd, adam, adamw"), "\($0)") }
        XCTAssertThrowsError(try o.apply(["lr": "-1"]))
    }
}

extension AvgPool2d { func outputShapeOrNil(_ s: [Int]) -> [Int]? { try? outputShape(s) } }
