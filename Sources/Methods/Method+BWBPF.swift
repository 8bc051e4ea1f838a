import Engine

/// `bwbpf` as the paper describes it (Cheng et al. 2023): block inputs are detached; every non-final
/// block k is trained only by its auxiliary classifier's CE (global average pooling + Linear); the global
/// CE reaches only the last block. One optimizer per block.
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

/// `bwbpf-code`: what the released BWBPF code does (Belis0811/BWBPF distributed/*): nothing is detached;
/// L = Σ_k CE(aux_k(a_k)) + CE(output), all weights 1, backpropagated through everything: block k receives
/// its own head's gradient plus everything from later blocks — backprop with deep supervision.
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
