// `bwbpf` as the paper describes it (Cheng et al. 2023): block inputs are detached; every non-final block k
// is trained only by its auxiliary classifier's CE (global average pooling + Linear: `ClassifierHead`); the
// global CE reaches only the last block. One optimizer per block (block and head), stepped right after the
// block's backward. What the released code does instead is `bwbpf-code` (Rules/BWBPFCode.swift).
//   forward  a_k = block_k(sg(a_{k−1}))                     [N, C_k, H_k, W_k]
//   loss     L_k = CE(Linear(avgpool(a_k)), y)   (k < K);  L_K = CE(a_K, y)
//   backward ∂L_k/∂θ_k only; nothing flows into block k−1

import Engine

extension MethodName { public static let bwbpf = MethodName(declaring: "bwbpf") }

enum BWBPFRule: RuleDefinition {
    static let name = MethodName.bwbpf
    static let summary = "BWBPF as the paper describes it: detached blocks, each trained by its own auxiliary classifier"
    static let storesLegacyLayout = true
    /// A pooled linear classifier per block.
    static func headMACs(_ config: MethodConfig, classes: Int, shape: [Int]) -> Int { classifierHeadMACs(shape, classes: classes) }
    static func make(_ setup: MethodSetup) throws -> LearningRule { BWBPF(setup) }
}

final class BWBPF: BlockLocalRule, DetachedBlockRule {
    let name = MethodName.bwbpf
    let heads: [ClassifierHead]
    var optimizers: [Optimizer] { blockOptimizers }

    init(_ setup: MethodSetup) {
        var rng = RandomStream(seed: setup.seed, name: "heads/bwbpf")
        heads = setup.blockShapes().dropLast().map { ClassifierHead(name: "aux.ce", inputShape: $0, classes: setup.classes, rng: &rng) }
        super.init(setup, heads: singletons(heads))
    }

    override func localLoss(_ k: Int, _ a: Tensor, _ labels: [Int32], feedback: Tensor?, into grad: Tensor) -> [(String, Float)] {
        heads[k].loss(a, labels, into: grad, mode: .train)
    }
    func headLogits(_ x: Tensor) -> [(String, Tensor)] { blockHeadLogits(x, heads) }
}
