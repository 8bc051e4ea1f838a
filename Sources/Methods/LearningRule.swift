// LearningRule: what every method provides to the training loop. All methods share the model, its
// K blocks, one optimizer per block (block parameters plus that block's heads; feedback networks get
// their own), and the data order. They differ only in where the gradient is cut and which losses feed
// each block's backward pass.

import Engine

public protocol LearningRule: AnyObject {
    var name: MethodName { get }
    var model: Model { get }
    var blocks: [Block] { get }
    /// One training step at learning rate `lr` (the schedule's rate for this step); returns the loss terms, in order. Throws only when a
    /// block's work fails (a planted failure in the tests; nothing in the rules throws today).
    func step(_ x: Tensor, _ labels: [Int32], lr: Float) throws -> [(String, Float)]
    /// The network output in evaluation mode.
    func predict(_ x: Tensor) -> Tensor
    /// Each local head's scores in evaluation mode, named by block (methods without heads: none).
    func headLogits(_ x: Tensor) -> [(String, Tensor)]
    /// Extra per-block diagnostics in evaluation mode (BLL: representation collapse, prototype read-out).
    func diagnostics(_ x: Tensor, _ labels: [Int32]) -> [(String, Double)]
    /// Every optimizer, in a fixed order (checkpoints).
    var optimizers: [Optimizer] { get }
    /// State of the rule's heads that no optimizer holds (BatchNorm statistics of an auxiliary network),
    /// in a fixed order (checkpoints); most rules have none.
    var headBuffers: [Tensor] { get }
}

public extension LearningRule {
    /// Every tensor training changes, in a fixed order without repeats: model parameters and buffers, then
    /// each optimizer's parameters (heads and feedback maps included) and state (checkpoints).
    var stateTensors: [Tensor] {
        var seen = Set<ObjectIdentifier>()
        var out: [Tensor] = []
        func add(_ t: Tensor) { if seen.insert(ObjectIdentifier(t)).inserted { out.append(t) } }
        model.parameters.forEach { add($0.value) }
        model.buffers.forEach(add)
        for o in optimizers { o.parameters.forEach { add($0.value) }; o.state.forEach(add) }
        headBuffers.forEach(add)
        return out
    }

    var headBuffers: [Tensor] { [] }

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
    /// The recipe's initialisation (nil: 0.5.0's). The model arrives drawn under it (Model.initialize);
    /// the rule applies what the scheme says of its own layers (zero output weight, heads).
    public var initScheme: InitScheme?
    public init(model: Model, blocks: [Block], config: MethodConfig, optimizer: OptimizerConfig, classes: Int, seed: UInt64,
                initScheme: InitScheme? = nil) {
        self.model = model; self.blocks = blocks; self.config = config; self.optimizer = optimizer; self.classes = classes; self.seed = seed
        self.initScheme = initScheme
    }

    /// Output shape of each block for a batch of one.
    func blockShapes() -> [[Int]] {
        let shapes = (try? model.unitShapes(batch: 1)) ?? []
        return blocks.map { shapes[$0.range.upperBound - 1] }
    }
}

public enum Methods {
    /// Forward MACs of the local head `config`'s rule attaches to a block with output `shape` (batch 1), for
    /// the `balanced` split (each rule's `headMACs`).
    public static func headMACs(_ config: MethodConfig, classes: Int) -> ([Int]) -> Int {
        { shape in config.method.rule.headMACs(config, classes: classes, shape: shape) }
    }

    /// Builds the learning rule named in `setup.config`.
    public static func make(_ setup: MethodSetup) throws -> LearningRule {
        // local-loss train.py: `if not args.backprop: self.linear.weight.data.zero_()` — every rule that
        // trains its blocks locally starts from a zero output weight (its bias keeps the default)
        if setup.initScheme == .localLoss, setup.config.method.isBlockLocal { setup.model.outputLinear?.weight.value.zero() }
        return try setup.config.method.rule.make(setup)
    }
}

/// Where a block's feedback target comes from (BLL's feedback network; other rules have none).
public enum FeedbackSource: Equatable, Sendable {
    case none
    /// computed from the labels alone (the last map of a chain, every map of `direct`)
    case labels
    /// computed from block k+1's target, which therefore flows from block k+1 to block k
    case nextBlock
}

/// A rule whose blocks are detached: block k learns from its own input, the labels and its feedback
/// target only, so its work can run on a worker of its own. These are the pieces a scheduler runs; the
/// sequential `step` below is the same pieces in order, so a pipelined run computes the same bits.
public protocol DetachedBlockRule: LearningRule {
    /// Where block k's feedback target comes from.
    func feedbackSource(_ k: Int) -> FeedbackSource
    /// Block k's feedback target for this batch (nil when `feedbackSource(k)` is `.none`); `next` is block
    /// k+1's target when the source is `.nextBlock`. Runs block k's feedback map in training mode.
    func blockFeedback(_ k: Int, labels: [Int32], next: Tensor?) -> Tensor?
    /// Block k's forward pass in training mode on its (detached) input: a_k = block_k(input).
    func blockForward(_ k: Int, _ input: Tensor) -> Tensor
    /// Block k's local loss on `output` (= blockForward(k, input)), its backward inside the block and its
    /// optimizer steps (block, heads, feedback map). Terms are named "b<k+1>.<term>" and "out.ce".
    func blockUpdate(_ k: Int, input: Tensor, output: Tensor, labels: [Int32], feedback: Tensor?, lr: Float) throws -> BlockUpdate
    /// The optimizers block k's update steps (its block and heads, its feedback map). Over all k, every
    /// optimizer of the rule exactly once: a worker that owns block k owns these (MPI ranks send their
    /// state to rank 0; a test checks the partition).
    func optimizers(ofBlock k: Int) -> [Optimizer]
    /// Block k's part of `headBuffers` (a worker that owns block k owns these too).
    func headBuffers(ofBlock k: Int) -> [Tensor]
}

/// What one block's update returns: its loss terms, and the tensor block k+1 reads when that is not the
/// block's output tensor itself (bll-code's denoising pass reruns the block and overwrites it).
public struct BlockUpdate {
    public var terms: [(String, Float)]
    public var passOn: Tensor?
    public init(terms: [(String, Float)], passOn: Tensor? = nil) { self.terms = terms; self.passOn = passOn }
}

public extension DetachedBlockRule {
    func headBuffers(ofBlock k: Int) -> [Tensor] { [] }

    /// The sequential schedule: every feedback target top-down, then block by block forward and update.
    func step(_ x: Tensor, _ labels: [Int32], lr: Float) throws -> [(String, Float)] {
        let count = blocks.count
        var targets = [Tensor?](repeating: nil, count: count)
        for k in stride(from: count - 1, through: 0, by: -1) {
            targets[k] = blockFeedback(k, labels: labels, next: k + 1 < count ? targets[k + 1] : nil)
        }
        var terms: [(String, Float)] = []
        var h = x
        for k in 0..<count {
            let a = blockForward(k, h)
            let u = try blockUpdate(k, input: h, output: a, labels: labels, feedback: targets[k], lr: lr)
            terms += u.terms
            h = u.passOn ?? a
        }
        return terms
    }
}

/// Shared plumbing of the block-local rules: blocks run on detached inputs; after block k's forward,
/// its local losses give dL/da_k, block k's backward stops at its input, its optimizer steps.
/// Subclasses give `localLoss` (and optionally `afterBackward`, `stepLocal`, the feedback pieces).
class BlockLocalRule {
    let setup: MethodSetup
    var model: Model { setup.model }
    var blocks: [Block] { setup.blocks }
    let blockOptimizers: [Optimizer]
    let ce: SoftmaxCrossEntropy
    let outputScale: Float
    let grads: [Tensor]
    /// Tests only: leave the gradients accumulated instead of stepping the optimizers.
    var skipOptimizerStep = false
    /// Tests only: blocks whose own weights stay at their init (their gradients are zeroed before each
    /// step); their heads and feedback maps still learn from the local loss.
    var frozenBlocks: Set<Int> = []

    init(_ setup: MethodSetup, heads: [[LocalHead]], outputScale: Float = 1, smoothing: Float = 0) {
        self.setup = setup
        self.outputScale = outputScale
        ce = SoftmaxCrossEntropy(smoothing: smoothing)
        blockOptimizers = setup.blocks.enumerated().map { k, b in
            setup.optimizer.make(b.parameters + (k < heads.count ? heads[k].flatMap(\.trainableParameters) : []))
        }
        grads = setup.blocks.map { _ in Tensor([0]) }
    }

    /// Non-final block k's local losses on its output `a`; adds dL/da into `grad` (zeroed, shaped like a).
    func localLoss(_ k: Int, _ a: Tensor, _ labels: [Int32], feedback: Tensor?, into grad: Tensor) -> [(String, Float)] { [] }
    /// Runs after non-final block k's backward and before its optimizer step (its gradients add to the
    /// block's); returns the tensor passed on to block k+1 when it is not `a`, and its loss terms.
    func afterBackward(_ k: Int, input: Tensor, output a: Tensor) -> (Tensor?, [(String, Float)]) { (nil, []) }
    /// Steps block k's own extra optimizers (feedback maps) after its block optimizer.
    func stepLocal(_ k: Int, lr: Float) {}
    /// The extra optimizers `stepLocal(k)` steps.
    func localOptimizers(_ k: Int) -> [Optimizer] { [] }
    func optimizers(ofBlock k: Int) -> [Optimizer] { [blockOptimizers[k]] + localOptimizers(k) }

    func feedbackSource(_ k: Int) -> FeedbackSource { .none }
    func blockFeedback(_ k: Int, labels: [Int32], next: Tensor?) -> Tensor? { nil }

    func blockForward(_ k: Int, _ input: Tensor) -> Tensor { blocks[k].forward(input, mode: .train) }

    func blockUpdate(_ k: Int, input: Tensor, output a: Tensor, labels: [Int32], feedback: Tensor?, lr: Float) throws -> BlockUpdate {
        var terms: [(String, Float)] = []
        let g = grads[k]
        g.resize(a.shape)
        let last = k == blocks.count - 1
        if !last {
            g.zero()
            for (n, v) in localLoss(k, a, labels, feedback: feedback, into: g) { terms.append(("b\(k + 1).\(n)", v)) }
        } else {
            let l = ce(a, labels)
            terms.append(("out.ce", l))
            g.copy(from: ce.grad)
            if outputScale != 1 { let p = g.data; for i in 0..<g.count { p[i] *= outputScale } }
        }
        _ = blocks[k].backward(g, inputGradient: false)   // the cut: nothing flows into block k−1
        var passOn: Tensor? = nil
        if !last {
            let (passed, more) = afterBackward(k, input: input, output: a)
            passOn = passed
            for (n, v) in more { terms.append(("b\(k + 1).\(n)", v)) }
        }
        if frozenBlocks.contains(k) { for p in blocks[k].parameters { p.grad.zero() } }
        if !skipOptimizerStep { blockOptimizers[k].step(lr: lr); stepLocal(k, lr: lr) }
        return BlockUpdate(terms: terms, passOn: passOn)
    }
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

/// Each head as its block's only head (written as a loop: a `map` here crashed the Swift 6.3 optimizer).
func singletons<H: LocalHead>(_ heads: [H]) -> [[LocalHead]] {
    var out: [[LocalHead]] = []
    for h in heads { out.append([h]) }
    return out
}
