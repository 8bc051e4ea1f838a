// LearningRule: what every method provides to the training loop. All methods share the model, its
// K blocks, one optimizer per block (block parameters plus that block's heads; feedback networks get
// their own), and the data order. They differ only in where the gradient is cut and which losses feed
// each block's backward pass.

import Engine

public protocol LearningRule: AnyObject {
    var name: MethodName { get }
    var model: Model { get }
    var blocks: [Block] { get }
    /// One training step at learning-rate multiplier `lrScale`; returns the loss terms, in order.
    func step(_ x: Tensor, _ labels: [Int32], lr: Float) -> [(String, Float)]
    /// The network output in evaluation mode.
    func predict(_ x: Tensor) -> Tensor
    /// Each local head's scores in evaluation mode, named by block (methods without heads: none).
    func headLogits(_ x: Tensor) -> [(String, Tensor)]
    /// Extra per-block diagnostics in evaluation mode (BLL: representation collapse, prototype read-out).
    func diagnostics(_ x: Tensor, _ labels: [Int32]) -> [(String, Double)]
    /// Every optimizer, in a fixed order (checkpoints).
    var optimizers: [Optimizer] { get }
}

public extension LearningRule {
    func predict(_ x: Tensor) -> Tensor { model.forward(x, mode: .eval) }
    func headLogits(_ x: Tensor) -> [(String, Tensor)] { [] }
    func diagnostics(_ x: Tensor, _ labels: [Int32]) -> [(String, Double)] { [] }
}

/// Everything a method is built from.
public struct MethodSetup {
    public var model: Model
    public var blocks: [Block]
    public var config: MethodConfig
    public var optimizer: OptimizerConfig
    public var classes: Int
    public var seed: UInt64
    public init(model: Model, blocks: [Block], config: MethodConfig, optimizer: OptimizerConfig, classes: Int, seed: UInt64) {
        self.model = model; self.blocks = blocks; self.config = config; self.optimizer = optimizer; self.classes = classes; self.seed = seed
    }

    /// Output shape of each block for a batch of one.
    func blockShapes() -> [[Int]] {
        let shapes = (try? model.unitShapes(batch: 1)) ?? []
        return blocks.map { shapes[$0.range.upperBound - 1] }
    }
}

public enum Methods {
    /// Builds the learning rule named in `setup.config`.
    public static func make(_ setup: MethodSetup) throws -> LearningRule {
        switch setup.config.method {
        case .bp: return Backprop(setup, feedbackAlignment: false)
        case .fa: return Backprop(setup, feedbackAlignment: true)
        case .predsim: return PredSim(setup)
        case .bwbpf: return BWBPF(setup)
        case .bwbpfCode: return BWBPFCode(setup)
        case .bll: return try BLL(setup)
        case .bllCode: return BLLCode(setup)
        }
    }
}

/// Shared plumbing of the block-local rules: blocks run on detached inputs; after block k's forward,
/// its heads' losses give dL/da_k, block k's backward stops at its input, its optimizer steps.
class BlockLocalRule {
    let setup: MethodSetup
    var model: Model { setup.model }
    var blocks: [Block] { setup.blocks }
    let blockOptimizers: [Optimizer]
    let ce: SoftmaxCrossEntropy
    let outputScale: Float
    var grads: [Tensor]
    /// Tests only: leave the gradients accumulated instead of stepping the optimizers.
    var skipOptimizerStep = false

    init(_ setup: MethodSetup, heads: [[LocalHead]], outputScale: Float = 1, smoothing: Float = 0) {
        self.setup = setup
        self.outputScale = outputScale
        ce = SoftmaxCrossEntropy(smoothing: smoothing)
        blockOptimizers = setup.blocks.enumerated().map { k, b in
            setup.optimizer.make(b.parameters + (k < heads.count ? heads[k].flatMap(\.trainableParameters) : []))
        }
        grads = setup.blocks.map { _ in Tensor([0]) }
    }

    /// Runs every block on a detached input; `local(k, a, grad)` fills grad for non-final blocks.
    /// `extra(k, input, a)`, when given, runs after block k's backward and before its optimizer step (its
    /// gradients add to the block's); it returns the tensor passed on to block k + 1 (a, or a copy of it
    /// when the extra pass reuses the block) and its loss terms.
    func localStep(_ x: Tensor, _ labels: [Int32], lr: Float,
                   extra: ((Int, Tensor, Tensor) -> (Tensor, [(String, Float)]))? = nil,
                   local: (Int, Tensor, Tensor) -> [(String, Float)]) -> [(String, Float)] {
        var terms: [(String, Float)] = []
        var h = x
        for (k, block) in blocks.enumerated() {
            let a = block.forward(h, mode: .train)
            let g = grads[k]
            g.resize(a.shape)
            if k < blocks.count - 1 {
                g.zero()
                for (n, v) in local(k, a, g) { terms.append(("b\(k + 1).\(n)", v)) }
            } else {
                let l = ce(a, labels)
                terms.append(("out.ce", l))
                g.copy(from: ce.grad)
                if outputScale != 1 { let p = g.data; for i in 0..<g.count { p[i] *= outputScale } }
            }
            _ = block.backward(g, inputGradient: false)   // the cut: nothing flows into block k−1
            var next = a
            if let extra, k < blocks.count - 1 {
                let (passed, more) = extra(k, h, a)
                next = passed
                for (n, v) in more { terms.append(("b\(k + 1).\(n)", v)) }
            }
            if !skipOptimizerStep { blockOptimizers[k].step(lr: lr) }
            h = next
        }
        return terms
    }
}

/// Each head as its block's only head (written as a loop: a `map` here crashed the Swift 6.3 optimizer).
func singletons<H: LocalHead>(_ heads: [H]) -> [[LocalHead]] {
    var out: [[LocalHead]] = []
    for h in heads { out.append([h]) }
    return out
}
