// `bwbpf-code`: what the released BWBPF code does (Belis0811/BWBPF distributed/*): nothing is detached;
// L = Σ_k CE(aux_k(a_k)) + CE(output), all weights 1, backpropagated through everything: block k receives its
// own head's gradient plus everything from later blocks — backprop with deep supervision, so its blocks are
// locked like BP's. The heads are `bwbpf`'s (pooled linear classifiers, stream "heads/bwbpf").

import Engine

extension MethodName { public static let bwbpfCode = MethodName(declaring: "bwbpf-code") }

enum BWBPFCodeRule: RuleDefinition {
    static let name = MethodName.bwbpfCode
    static let summary = "BWBPF as its released code runs: auxiliary classifiers, nothing detached (deep supervision)"
    static let isLocked = true
    static let storesLegacyLayout = true
    static func make(_ setup: MethodSetup) throws -> LearningRule { BWBPFCode(setup) }
}

final class BWBPFCode: BlockLocalRule, LearningRule {
    let name = MethodName.bwbpfCode
    let heads: [ClassifierHead]
    var optimizers: [Optimizer] { blockOptimizers }
    private var outputs: [Tensor] = []

    init(_ setup: MethodSetup) {
        var rng = RandomStream(seed: setup.seed, name: "heads/bwbpf")
        heads = setup.blockShapes().dropLast().map { ClassifierHead(name: "aux.ce", inputShape: $0, classes: setup.classes, rng: &rng) }
        super.init(setup, heads: singletons(heads))
    }

    func step(_ x: Tensor, _ labels: [Int32], lr: Float) -> [(String, Float)] {
        var outs: [Tensor] = []
        var h = x
        for b in blocks { h = b.forward(h, mode: .train); outs.append(h) }
        var terms: [(String, Float)] = []
        let last = blocks.count - 1
        let l = ce(outs[last], labels)
        var upstream: Tensor = ce.grad
        var local: [(String, Float)] = []
        for k in stride(from: last, through: 0, by: -1) {
            let g = grads[k]
            g.resize(outs[k].shape)
            g.copy(from: upstream)
            if k < last { local += heads[k].loss(outs[k], labels, into: g, mode: .train).map { ("b\(k + 1).\($0.0)", $0.1) } }
            if let d = blocks[k].backward(g, inputGradient: k > 0) { upstream = d }
        }
        for o in blockOptimizers { o.step(lr: lr) }
        terms = local.reversed() + [("out.ce", l)]
        return terms
    }
    func headLogits(_ x: Tensor) -> [(String, Tensor)] { blockHeadLogits(x, heads) }
}
