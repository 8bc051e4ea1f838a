import XCTest
@testable import Engine
@testable import Methods

/// Issue 19: the initialisation of each rule's reference code, as a named scheme (InitScheme). Each test
/// pins one difference between the schemes, so a scheme that silently stops applying fails here.
final class InitSchemeTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }

    func resnet(_ scheme: InitScheme?, seed: UInt64 = 3) throws -> Model {
        var s = ModelSpec(arch: .resnet18); s.width = 0.125; s.inChannels = 1; s.imageSize = 28; s.classes = 10
        let m = try s.build(seed: seed)
        if let scheme { m.initialize(scheme, seed: seed) }
        return m
    }

    func setup(_ method: MethodName, _ scheme: InitScheme?, blocks: Int = 4) throws -> MethodSetup {
        let m = try resnet(scheme)
        return MethodSetup(model: m, blocks: try BlockSplit.split(m, blocks: blocks, rule: .even), config: MethodConfig(method: method),
                           optimizer: OptimizerConfig(), classes: 10, seed: 3, initScheme: scheme)
    }

    func convs(_ m: Model) -> [Conv2d] { var out: [Conv2d] = []; for u in m.units { u.layer.walk { if let c = $0 as? Conv2d { out.append(c) } } }; return out }
    func maxAbs(_ t: Tensor) -> Float { t.array.map(abs).max() ?? 0 }
    func std(_ t: Tensor) -> Double {
        let a = t.array.map(Double.init); let mean = a.reduce(0, +) / Double(a.count)
        return (a.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(a.count)).squareRoot()
    }

    /// local-loss train.py zeroes the output layer's weight whenever it trains locally, keeps its bias, and
    /// leaves it alone under --backprop.
    func testLocalLossZeroesTheOutputWeightOfLocalRulesOnly() throws {
        for method in [MethodName.predsim, .bll, .bwbpf] {
            let rule = try Methods.make(try setup(method, .localLoss))
            let out = try XCTUnwrap(rule.model.outputLinear)
            XCTAssertEqual(maxAbs(out.weight.value), 0, "\(method): local-loss zero-initialises the output weight")
            XCTAssertGreaterThan(maxAbs(out.bias!.value), 0, "\(method): the output bias keeps PyTorch's default")
        }
        for method in [MethodName.bp, .fa] {
            let rule = try Methods.make(try setup(method, .localLoss))
            XCTAssertGreaterThan(maxAbs(rule.model.outputLinear!.weight.value), 0, "\(method) keeps a random output weight")
        }
        // 0.5.0's unset scheme: a random output weight for every rule
        XCTAssertGreaterThan(maxAbs(try Methods.make(try setup(.predsim, nil)).model.outputLinear!.weight.value), 0)
    }

    /// Pred-Sim's decoder: zero weight under every scheme; the bias is local-loss's default U(±1/√fan_in) under a
    /// named scheme and zero under the unset one (0.5.0, pinned so stored runs stay reproducible).
    func testPredSimDecoderBias() throws {
        for scheme in [InitScheme.localLoss, .pytorchDefault, .torchvision] {
            let rule = try XCTUnwrap(try Methods.make(try setup(.predsim, scheme)) as? PredSim)
            for h in rule.heads {
                XCTAssertEqual(maxAbs(h.decoder.weight.value), 0)
                let b = h.decoder.bias!.value, bound = 1 / Float(h.decoder.inFeatures).squareRoot()
                XCTAssertGreaterThan(maxAbs(b), 0.3 * bound, "\(scheme): the decoder bias keeps nn.Linear's default")
                XCTAssertLessThanOrEqual(maxAbs(b), bound)
            }
        }
        let legacy = try XCTUnwrap(try Methods.make(try setup(.predsim, nil)) as? PredSim)
        for h in legacy.heads { XCTAssertEqual(maxAbs(h.decoder.bias!.value), 0) }
    }

    /// Conv weights: torchvision N(0, 2/fan_out) (the model as built), PyTorch's default U(±1/√fan_in),
    /// biotorch xavier U(±√(6/(fan_in+fan_out))); the std of each tells them apart at every layer.
    func testConvDistributionsPerScheme() throws {
        for scheme in [InitScheme.torchvision, .pytorchDefault, .localLoss, .biotorch] {
            for c in convs(try resnet(scheme)) where c.weight.value.count >= 256 {
                let fanIn = Double(c.inChannels * c.kernel * c.kernel), fanOut = Double(c.outChannels * c.kernel * c.kernel)
                let expected: Double
                switch scheme {
                case .torchvision: expected = (2 / fanOut).squareRoot()
                case .pytorchDefault, .localLoss: expected = 1 / (3 * fanIn).squareRoot()
                case .biotorch: expected = (2 / (fanIn + fanOut)).squareRoot()
                }
                XCTAssertEqual(std(c.weight.value), expected, accuracy: 0.15 * expected, "\(scheme) conv \(c.inChannels)→\(c.outChannels) k\(c.kernel)")
                if scheme != .torchvision {
                    let bound = scheme == .biotorch ? (6 / (fanIn + fanOut)).squareRoot() : 1 / fanIn.squareRoot()
                    XCTAssertLessThanOrEqual(Double(maxAbs(c.weight.value)), bound * 1.0001)
                }
            }
        }
        // biotorch's biases are zero; PyTorch's default draws them
        XCTAssertEqual(maxAbs(try resnet(.biotorch).outputLinear!.bias!.value), 0)
        XCTAssertGreaterThan(maxAbs(try resnet(.pytorchDefault).outputLinear!.bias!.value), 0)
        // torchvision is the model as built: the same bits as the unset scheme
        XCTAssertEqual(try resnet(.torchvision).parameters.map(\.value.array), try resnet(nil).parameters.map(\.value.array))
    }

    /// FA's B is drawn from the layer's own distribution, so from the scheme's: under biotorch xavier, under
    /// pytorch-default U(±1/√fan_in), under torchvision kaiming-normal fan-out; never equal to W.
    func testFeedbackMatrixFollowsTheScheme() throws {
        for scheme in [InitScheme.torchvision, .pytorchDefault, .biotorch] {
            let rule = try Methods.make(try setup(.fa, scheme, blocks: 1))
            for c in convs(rule.model) where c.weight.value.count >= 256 {
                let b = try XCTUnwrap(c.feedback)
                XCTAssertEqual(std(b), std(c.weight.value), accuracy: 0.15 * std(c.weight.value), "\(scheme): B has W's distribution")
                XCTAssertNotEqual(b.array, c.weight.value.array)
            }
        }
    }

    func testUnknownInitIsAOneLineErrorListingTheSchemes() {
        XCTAssertThrowsError(try InitScheme(parsing: "xavier")) { e in
            XCTAssertEqual("\(e)", "invalid init 'xavier': allowed torchvision, pytorch-default, local-loss, biotorch")
        }
        XCTAssertThrowsError(try InitScheme(parsing: "local_loss")) { e in XCTAssertTrue("\(e)".contains("did you mean 'local-loss'"), "\(e)") }
    }
}
