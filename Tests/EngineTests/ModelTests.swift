import XCTest
@testable import Engine

final class ModelTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }

    private func spec(_ arch: Architecture, _ body: (inout ModelSpec) -> Void = { _ in }) -> ModelSpec {
        var s = ModelSpec(arch: arch); body(&s); return s
    }

    /// Parameter counts and MACs equal PyTorch's for the same models (perf/anchors.md §2).
    func testParameterAndMACCountsMatchPyTorch() throws {
        let r18 = try spec(.resnet18) { $0.inChannels = 3; $0.imageSize = 32 }.build(seed: 0)
        XCTAssertEqual(r18.parameterCount, 11_173_962)
        XCTAssertEqual(Double(r18.unitMACs().reduce(0, +)) / 1e6, 555.42, accuracy: 0.01)
        XCTAssertEqual(try spec(.resnet18) { $0.width = 0.25 }.build(seed: 0).parameterCount, 701_178)
        XCTAssertEqual(try spec(.resnet50) { $0.inChannels = 3; $0.imageSize = 32 }.build(seed: 0).parameterCount, 23_520_842)
        XCTAssertEqual(try spec(.resnet50) { $0.width = 0.25; $0.inChannels = 3; $0.imageSize = 32 }.build(seed: 0).parameterCount, 1_484_186)
        XCTAssertEqual(try spec(.mlp).build(seed: 0).parameterCount, 1_863_690)
    }

    func testUnitsAndShapesOfEveryFamily() throws {
        let r = try spec(.resnet50) { $0.width = 0.125; $0.stem = .imagenet; $0.inChannels = 3; $0.imageSize = 64; $0.classes = 200 }.build(seed: 0)
        XCTAssertEqual(r.units.map(\.name).first, "stem"); XCTAssertEqual(r.units.last?.name, "head")
        XCTAssertEqual(r.units.count, 1 + 16 + 1)
        let rs = try r.unitShapes(batch: 2)
        XCTAssertEqual(rs[0], [2, 8, 16, 16], "7×7/s2 stem + max-pool: 64 → 16")
        XCTAssertEqual(rs.last, [2, 200])
        for (arch, units) in [(Architecture.resnet18, 10), (.resnet34, 18), (.resnet101, 35), (.resnet152, 52)] {
            XCTAssertEqual(try spec(arch) { $0.width = 0.0625 }.build(seed: 0).units.count, units, arch.rawValue)
        }
        let v = try spec(.vgg8b) { $0.width = 0.125; $0.inChannels = 3; $0.imageSize = 32 }.build(seed: 0)
        XCTAssertEqual(v.units.map(\.name), ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "fc1", "head"])
        XCTAssertEqual(try v.unitShapes(batch: 1)[5], [1, 64, 2, 2])
        let v19 = try spec(.vgg19) { $0.width = 0.125; $0.inChannels = 3; $0.imageSize = 32; $0.batchNorm = false; $0.convBias = false }.build(seed: 0)
        XCTAssertEqual(v19.units.count, 17)
        XCTAssertFalse(v19.parameters.contains { $0.kind == .norm || $0.kind == .bias && $0.count == 8 })
        let t = try spec(.transformer) { $0.layers = 3; $0.dModel = 16; $0.heads = 2; $0.ffn = 32; $0.length = 10 }.build(seed: 0)
        XCTAssertEqual(t.units.map(\.name), ["embed", "layer1", "layer2", "layer3", "head"])
        XCTAssertEqual(try t.unitShapes(batch: 4).last, [4, 10, 12])
    }

    /// The cache key of a model spec is 0.5.0's text, so the balanced split's cached profiles (keyed by it)
    /// and the run ids resolved from them stay (the key of results/profiles/62f41258d084be9f.json).
    func testCacheKeyIsTheTextOf050() {
        var s = ModelSpec(arch: .resnet18); s.width = 0.25
        XCTAssertEqual(s.cacheKey, "ModelSpec(arch: \"resnet18\", width: 0.25, inChannels: 1, imageSize: 28, classes: 10, stem: Engine.ModelSpec.Stem.cifar, "
                       + "hidden: [1024, 1024], batchNorm: true, convBias: true, vggHidden: nil, dropout: 0.0, layers: 20, dModel: 64, heads: 1, "
                       + "ffn: 256, vocabulary: 12, length: 20, causal: true)")
        s.vggHidden = [64]
        XCTAssert(s.cacheKey.contains("vggHidden: Optional([64])"))
    }

    func testBadArgumentsNameTheArgumentAndTheAllowedValues() {
        XCTAssertThrowsError(try Architecture(parsing: "resnet19")) {
            XCTAssert("\($0)".contains("invalid model 'resnet19'") && "\($0)".contains("resnet18"), "\($0)")
        }
        XCTAssertThrowsError(try spec(.resnet18) { $0.width = -1 }.build(seed: 0)) { XCTAssert("\($0)".contains("width")) }
        XCTAssertThrowsError(try spec(.mlp) { $0.classes = 1 }.build(seed: 0)) { XCTAssert("\($0)".contains("classes")) }
        XCTAssertThrowsError(try spec(.transformer) { $0.dModel = 10; $0.heads = 3 }.build(seed: 0)) { XCTAssert("\($0)".contains("heads")) }
        XCTAssertThrowsError(try spec(.vgg19) { $0.imageSize = 16 }.build(seed: 0)) { XCTAssert("\($0)".contains("image size")) }
        var rng = RandomStream(seed: 0)
        XCTAssertThrowsError(try Linear(4, 2, rng: &rng).outputShape([3, 5])) {
            XCTAssertEqual("\($0)", "shape mismatch in Linear(4→2): expected [*, 4], got [3, 5]")
        }
    }

    func testEvaluationModeUsesRunningStatisticsAndIsDeterministic() throws {
        let m = try spec(.resnet18) { $0.width = 0.125; $0.imageSize = 8 }.build(seed: 3)
        let x = Tensor([4, 1, 8, 8]); var rng = RandomStream(seed: 1); rng.fillNormal(x, std: 1)
        let e1 = m.forward(x, mode: .eval).array
        let single = Tensor([1, 1, 8, 8]); single.data.update(from: x.data, count: 64)
        let e2 = m.forward(single, mode: .eval).array
        for j in 0..<10 { XCTAssertEqual(e1[j], e2[j], accuracy: 1e-5, "eval output of a sample does not depend on its batch") }
        let t1 = m.forward(x, mode: .train).array
        XCTAssertNotEqual(Array(t1[0..<10]), Array(e1[0..<10]), "training mode normalises with batch statistics")
    }
}
