// `fa`: feedback alignment (Lillicrap et al. 2016; biotorch's `fa`). End-to-end like BP, but every Linear and
// Conv2d (shortcut projections and the classifier included) sends its input gradient through a fixed random
// B in place of Wᵀ: B is drawn from W's init distribution (stream "feedback/<unit>") and never updated.
// BatchNorm, activations, pooling and residual additions keep exact derivatives. The engine holds the
// mechanism (`Model.enableFeedbackAlignment`, the layers' `feedback` weights); this file is the rule.
// Diagnostics: the mean and largest angle between each layer's W and B.

import Engine

extension MethodName { public static let fa = MethodName(declaring: "fa") }

enum FARule: RuleDefinition {
    static let name = MethodName.fa
    static let summary = "feedback alignment: backprop with fixed random feedback weights in place of Wᵀ"
    static let isLocked = true
    static let storesLegacyLayout = true
    static func make(_ setup: MethodSetup) throws -> LearningRule { Backprop(setup, feedbackAlignment: true) }
}
