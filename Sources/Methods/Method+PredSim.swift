import Engine

/// `predsim` (Nøkland & Eidnes 2019; local-loss train.py): block inputs are detached. At the end of each
/// non-final block a similarity head and a prediction head give L_k = (1−β)·CE(pred_k) + β·MSE(S(sim_k), S(Y));
/// only block k and its heads receive ∂L_k. The last block is trained by the output CE scaled by (1−β),
/// as the code does. Each block (with its heads) has its own optimizer, stepped right after its backward,
/// so block k+1 sees block k's output computed with the weights before that step.
final class PredSim: BlockLocalRule, DetachedBlockRule {
    let name = MethodName.predsim
    let heads: [PredSimHead]
    var optimizers: [Optimizer] { blockOptimizers }

    init(_ setup: MethodSetup) {
        var rng = RandomStream(seed: setup.seed, name: "heads/predsim")
        let shapes = setup.blockShapes()
        heads = shapes.dropLast().map {
            // local-loss: `decoder_y.weight.data.zero_()`, the bias keeps nn.Linear's default; any named
            // scheme follows it (0.5.0's unset scheme zeroed the bias too)
            PredSimHead(inputShape: $0, classes: setup.classes, beta: Float(setup.config.beta), dimIn: setup.config.dimInDecoder,
                        decoderBias: setup.initScheme == nil ? nil : .uniformFanIn, rng: &rng)
        }
        super.init(setup, heads: singletons(heads), outputScale: Float(1 - setup.config.beta))
    }

    override func localLoss(_ k: Int, _ a: Tensor, _ labels: [Int32], feedback: Tensor?, into grad: Tensor) -> [(String, Float)] {
        heads[k].loss(a, labels, into: grad, mode: .train)
    }

    func headLogits(_ x: Tensor) -> [(String, Tensor)] { blockHeadLogits(x, heads) }
}

extension BlockLocalRule {
    /// Runs the blocks in evaluation mode and reads each non-final block's head.
    func blockHeadLogits(_ x: Tensor, _ heads: [LocalHead]) -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        var h = x
        for (k, block) in blocks.enumerated().dropLast() {
            h = block.forward(h, mode: .eval)
            let z = heads[k].logits(h)
            out.append(("b\(k + 1)", Tensor(z.shape, z.array)))
        }
        return out
    }
}
