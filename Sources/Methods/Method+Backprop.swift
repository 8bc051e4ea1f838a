import Engine

/// `bp`: end-to-end backpropagation. L = CE(f(x), y); every parameter gets the exact gradient;
/// nothing is cut. `fa`: the same with feedback alignment switched on for every Linear and Conv2d
/// (shortcut projections and the classifier included): their input gradients use fixed random B in
/// place of W (drawn from W's init distribution, stream "feedback/<unit>"); BatchNorm, activations,
/// pooling and residual additions keep exact derivatives; B is never updated.
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
