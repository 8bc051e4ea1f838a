// `dgl`: Decoupled Greedy Learning (Belilovsky, Eickenberg & Oyallon 2020, "Decoupled Greedy Learning of
// CNNs", ICML). Block inputs are detached; every non-final block k is trained only by the CE of its own
// auxiliary network; the last block by the output CE. One optimizer per block and its auxiliary network,
// stepped right after the block's backward (the parallel, decoupled form; the sequential greedy form trains
// block k only after block k−1 has finished, which the budget here does not run).
//   forward  a_k = block_k(sg(a_{k−1}))                                   [N, C, H, W]
//   aux      z_k = aux_k(a_k)                                               [N, classes]
//   loss     L_k = CE(z_k, y)  (k < K);   L_K = CE(a_K, y)
//   backward ∂L_k/∂(θ_k, aux_k) only; nothing flows into block k−1
// The auxiliary network as released (eugenium/DGL: `auxillary_classifier2` in imagenet_dgl/models and
// auxiliary_nets_study/models.py), the `aux` setting choosing among the published designs:
//   imagenet  (the ImageNet code, --nlin 2): adaptive avg-pool to ⌈H/4⌉×⌈W/4⌉; 2 × [1×1 conv C→C, no bias;
//             BatchNorm; ReLU]; adaptive avg-pool to 2×2; BatchNorm; Linear(4C → classes)
//   cnn       (the paper's CNN-aux): no first pool; 2 × [3×3 conv C→C, no bias; BatchNorm; ReLU]; then as imagenet
//   mlp       (MLP-aux): first pool; no conv; pool to 2×2; 3 × [Linear(4C → 4C); BatchNorm1d; ReLU]; Linear(4C → classes)
//   mlp-sr    (MLP-SR-aux): first pool; 3 × [1×1 conv; BatchNorm; ReLU]; pool to 2×2; the MLP as in mlp
// Sequences and features (not in the paper): rows per token; the MLP part only (mlp, mlp-sr: 3 layers of
// Linear(F → F), BatchNorm1d, ReLU; imagenet, cnn: none), then Linear(F → classes).
// Unknown: which auxiliary network and K the DGL numbers of the BWBPF table used (they are quoted from SEDONA,
// which does not restate them); the heads here start from PyTorch's default init (auxiliary_nets_study has no
// init code; the ImageNet VGG's normal(0, 0.01) for Linear is not applied).

import Engine

extension MethodName { public static let dgl = MethodName(declaring: "dgl") }

enum DGLRule: RuleDefinition {
    static let name = MethodName.dgl
    static let summary = "DGL (Belilovsky et al. 2020): detached blocks, each trained by the CE of its own auxiliary network"
    static let settings = [
        Setting("aux", .choice(DGLAux.allCases.map(\.rawValue)), default: .choice(DGLAux.imagenet.rawValue),
                doc: "the auxiliary network: imagenet (the released ImageNet code), cnn, mlp or mlp-sr (the paper's study)"),
    ]
    static func headMACs(_ config: MethodConfig, classes: Int, shape: [Int]) -> Int {
        let aux: DGLAux = config.choice("aux")
        guard shape.count == 4 else {
            let positions = shape.count == 3 ? shape[1] : 1, f = shape.last!
            return positions * (aux.mlpLayers * f * f + f * classes)
        }
        let c = shape[1], (h, w) = aux.convSize(shape[2], shape[3])
        return aux.convLayers * c * c * aux.kernel * aux.kernel * h * w + aux.mlpLayers * 16 * c * c + 4 * c * classes
    }
    static func make(_ setup: MethodSetup) throws -> LearningRule { DGL(setup) }
}

/// The published auxiliary networks.
public enum DGLAux: String, CaseIterable, Sendable {
    case imagenet, cnn, mlp, mlpSR = "mlp-sr"
    var convLayers: Int { switch self { case .imagenet, .cnn: return 2; case .mlp: return 0; case .mlpSR: return 3 } }
    var mlpLayers: Int { switch self { case .imagenet, .cnn: return 0; case .mlp, .mlpSR: return 3 } }
    var kernel: Int { self == .cnn ? 3 : 1 }
    /// The map the convolutions run on: ⌈H/4⌉×⌈W/4⌉ after the first pool (cnn: the block's own size).
    func convSize(_ h: Int, _ w: Int) -> (Int, Int) { self == .cnn ? (h, w) : ((h + 3) / 4, (w + 3) / 4) }
}

/// DGL's auxiliary network on a block output of `inputShape`, trained with the block.
final class DGLAuxHead: LocalHead {
    let net: Sequential
    let rows: Bool
    private var view = Tensor(viewPlaceholder: ())
    private let ce = SoftmaxCrossEntropy()

    init(aux: DGLAux, inputShape: [Int], classes: Int, rng: inout RandomStream) {
        var layers: [Layer] = []
        let features: Int
        if inputShape.count == 4 {
            let c = inputShape[1], (h, w) = aux.convSize(inputShape[2], inputShape[3])
            if aux != .cnn { layers.append(AdaptiveAvgPool2d(h, w)) }
            for _ in 0..<aux.convLayers {
                layers += [Conv2d(c, c, kernel: aux.kernel, padding: aux.kernel / 2, bias: false, rng: &rng), BatchNorm(c), ReLU()]
            }
            layers.append(AdaptiveAvgPool2d(2, 2))
            if aux.mlpLayers == 0 { layers.append(BatchNorm(c)) }
            layers.append(Flatten())
            features = 4 * c
            rows = false
        } else {
            features = inputShape.last!
            rows = true
        }
        for _ in 0..<aux.mlpLayers { layers += [Linear(features, features, rng: &rng), BatchNorm(features), ReLU()] }
        layers.append(Linear(features, classes, rng: &rng))
        net = Sequential(layers)
    }

    var trainableParameters: [Parameter] { net.parameters }
    var buffers: [Tensor] { net.buffers }

    /// Images as they are; features and sequences as rows [N·T, F] (labels per token).
    private func input(_ a: Tensor) -> Tensor {
        guard rows else { return a }
        let f = a.shape.last!
        view.view(of: a, shape: [a.count / f, f])
        return view
    }

    func logits(_ a: Tensor) -> Tensor { net.forward(input(a), mode: .eval) }

    func loss(_ a: Tensor, _ labels: [Int32], into grad: Tensor, mode: Mode) -> [(String, Float)] {
        let l = ce(net.forward(input(a), mode: mode), labels)
        addInto(grad, net.backward(ce.grad, inputGradient: true)!)
        return [("aux.ce", l)]
    }
}

final class DGL: BlockLocalRule, DetachedBlockRule {
    let name = MethodName.dgl
    let heads: [DGLAuxHead]
    var optimizers: [Optimizer] { blockOptimizers }

    init(_ setup: MethodSetup) {
        var rng = RandomStream(seed: setup.seed, name: "heads/dgl")
        let aux: DGLAux = setup.config.choice("aux")
        heads = setup.blockShapes().dropLast().map { DGLAuxHead(aux: aux, inputShape: $0, classes: setup.classes, rng: &rng) }
        super.init(setup, heads: singletons(heads))
    }

    override func localLoss(_ k: Int, _ a: Tensor, _ labels: [Int32], feedback: Tensor?, into grad: Tensor) -> [(String, Float)] {
        heads[k].loss(a, labels, into: grad, mode: .train)
    }
    func headLogits(_ x: Tensor) -> [(String, Tensor)] { blockHeadLogits(x, heads) }
    var headBuffers: [Tensor] { heads.flatMap(\.buffers) }
    func headBuffers(ofBlock k: Int) -> [Tensor] { k < heads.count ? heads[k].buffers : [] }
}
