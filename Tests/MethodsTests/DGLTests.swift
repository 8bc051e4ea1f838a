import XCTest
@testable import Engine
@testable import Methods

/// `dgl` (Rules/DGL.swift): its auxiliary networks are the published ones, its local gradient is the
/// derivative of its loss, and the auxiliary networks' BatchNorm statistics travel with the run's state.
final class DGLTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }

    func head(_ aux: DGLAux, _ shape: [Int], classes: Int = 10) -> DGLAuxHead {
        var rng = RandomStream(seed: 3, name: "test")
        return DGLAuxHead(aux: aux, inputShape: shape, classes: classes, rng: &rng)
    }

    /// The layer shapes of `auxillary_classifier2` (eugenium/DGL) for a [N, 16, 8, 8] block output, 10 classes.
    func testAuxiliaryNetworksAreThePublishedOnes() {
        func shapes(_ aux: DGLAux) -> [[Int]] { head(aux, [1, 16, 8, 8]).trainableParameters.map(\.value.shape) }
        let bn = [[16], [16]], conv1 = [[16, 16, 1, 1]] + bn, conv3 = [[16, 16, 3, 3]] + bn
        let mlp = [[64, 64], [64], [64], [64]]   // Linear(4C → 4C) with bias, BatchNorm1d
        // imagenet: pool to ⌈8/4⌉ = 2, 2 × (1×1 conv, BN, ReLU), pool to 2×2, BN, Linear(4C → 10)
        XCTAssertEqual(shapes(.imagenet), conv1 + conv1 + bn + [[10, 64], [10]])
        XCTAssertEqual(shapes(.cnn), conv3 + conv3 + bn + [[10, 64], [10]])
        XCTAssertEqual(shapes(.mlp), mlp + mlp + mlp + [[10, 64], [10]])
        XCTAssertEqual(shapes(.mlpSR), conv1 + conv1 + conv1 + mlp + mlp + mlp + [[10, 64], [10]])
        // the first pool: ⌈H/4⌉ (the cnn variant convolves at the block's own size)
        let net = head(.imagenet, [1, 16, 8, 8]).net.layers
        XCTAssertEqual((net[0] as? AdaptiveAvgPool2d).map { [$0.outH, $0.outW] }, [2, 2])
        XCTAssertEqual((head(.imagenet, [1, 16, 13, 13]).net.layers[0] as? AdaptiveAvgPool2d)?.outH, 4)
        XCTAssertFalse(head(.cnn, [1, 16, 8, 8]).net.layers[0] is AdaptiveAvgPool2d)
        // scores per sample, and per token for sequences (rows [N·T, F])
        let x = GradProbe.random([3, 16, 8, 8], seed: 1)
        XCTAssertEqual(head(.mlpSR, [1, 16, 8, 8]).logits(x).shape, [3, 10])
        XCTAssertEqual(head(.mlp, [1, 5, 12]).logits(GradProbe.random([2, 5, 12], seed: 2)).shape, [10, 10])
    }

    /// dL/da the head adds to the block's gradient is the derivative of its CE (training-mode BatchNorm).
    func testLocalGradientMatchesFiniteDifferences() {
        let labels: [Int32] = [0, 3, 1, 2, 3, 0]
        for aux in DGLAux.allCases {
            let h = head(aux, [1, 4, 4, 4], classes: 4)
            let a = GradProbe.random([labels.count, 4, 4, 4], seed: 7)
            LossGradCheck(eps: 2e-3, atol: 2e-3, rtol: 5e-2).check("dgl \(aux.rawValue)", a) { x in
                let g = Tensor(x.shape)
                let l = h.loss(x, labels, into: g, mode: .train)[0].1
                return (l, g)
            }
        }
    }

    /// The auxiliary networks' BatchNorm statistics are part of the checkpointed state, each block's with the
    /// block (an MPI rank that owns the block sends them), and they change as the run trains.
    func testAuxiliaryStatisticsAreStateOwnedByTheirBlock() throws {
        var s = ModelSpec(arch: .resnet18); s.width = 0.0625; s.inChannels = 1; s.imageSize = 8; s.classes = 4
        let m = try s.build(seed: 5)
        let setup = MethodSetup(model: m, blocks: try BlockSplit.split(m, blocks: 3, rule: .even), config: MethodConfig(method: .dgl),
                                optimizer: OptimizerConfig(), classes: 4, seed: 5)
        let rule = try XCTUnwrap(try Methods.make(setup) as? DGL)
        let buffers = rule.headBuffers
        XCTAssertEqual(buffers.count, 2 * 3 * 2, "2 heads × 3 BatchNorms × (mean, variance)")
        let state = Set(rule.stateTensors.map(ObjectIdentifier.init))
        XCTAssert(buffers.allSatisfy { state.contains(ObjectIdentifier($0)) })
        XCTAssertEqual((0..<3).flatMap { rule.headBuffers(ofBlock: $0) }.map(ObjectIdentifier.init), buffers.map(ObjectIdentifier.init))
        let before = buffers.map(\.array)
        _ = try rule.step(GradProbe.random([8, 1, 8, 8], seed: 4), [0, 1, 2, 3, 0, 1, 2, 3], lr: 1e-3)
        XCTAssertNotEqual(rule.headBuffers.map(\.array), before)
    }
}
