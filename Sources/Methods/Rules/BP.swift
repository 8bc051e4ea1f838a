// `bp`: end-to-end backpropagation. L = CE(f(x), y); every parameter gets the exact gradient; nothing is
// cut, so every block waits for the whole backward pass. One optimizer per block (the same update as one
// optimizer over the model). `fa` (Rules/FA.swift) is this rule with the engine's feedback alignment on.

import Engine

extension MethodName { public static let bp = MethodName(declaring: "bp") }

enum BPRule: RuleDefinition {
    static let name = MethodName.bp
    static let summary = "end-to-end backpropagation (the baseline every claim is measured against)"
    static let isLocked = true
    static let storesLegacyLayout = true
    static func make(_ setup: MethodSetup) throws -> LearningRule { Backprop(setup, feedbackAlignment: false) }
}

/// The backward pass of the whole model and one step of every block's optimizer; `feedbackAlignment`
/// switches the engine's fixed random feedback weights on first (FA).
final class Backprop: LearningRule {
    let name: MethodName
    let setup: MethodSetup
    var model: Model { setup.model }
    var blocks: [Block] { setup.blocks }
    let optimizers: [Optimizer]
    let ce = SoftmaxCrossEntropy()

    init(_ setup: MethodSetup, feedbackAlignment: Bool) {
        self.setup = setup
        name = feedbackAlignment ? .fa : .bp
        if feedbackAlignment { setup.model.enableFeedbackAlignment(seed: setup.seed) }
        optimizers = setup.blocks.map { setup.optimizer.make($0.parameters) }
    }

    func step(_ x: Tensor, _ labels: [Int32], lr: Float) -> [(String, Float)] {
        let logits = model.forward(x, mode: .train)
        let l = ce(logits, labels)
        model.backward(ce.grad)
        for o in optimizers { o.step(lr: lr) }
        return [("out.ce", l)]
    }

    func diagnostics(_ x: Tensor, _ labels: [Int32]) -> [(String, Double)] {
        guard name == .fa else { return [] }
        let angles = model.feedbackAngles()
        return [("fa.angle.mean", angles.reduce(0, +) / Double(max(1, angles.count))),
                ("fa.angle.max", angles.max() ?? 0)]
    }
}
