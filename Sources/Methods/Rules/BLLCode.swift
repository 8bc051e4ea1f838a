import Engine

extension MethodName { public static let bllCode = MethodName(declaring: "bll-code") }

enum BLLCodeRule: RuleDefinition {
    static let name = MethodName.bllCode
    static let summary = "BLL as its released ImageNet code runs: decorrelation, prototype and auxiliary terms"
    static let storesLegacyLayout = true
    static let settings: [Setting] = {
        func weight(_ key: String, field: String? = nil, _ v: Double, _ doc: String) -> Setting {
            Setting(key, field: field, .number(0...1000, allowed: "a number in [0, 1000]"), default: .number(v), doc: doc)
        }
        return [
            weight("alpha", 0.43, "weight α of the last block's CE"),
            weight("corr_weight", 0.7, "weight of the decorrelation term"),
            weight("proto_weight", 0.25, "weight of the prototype term"),
            Setting("proto_sign", .numberIn([1, -1], allowed: "1 (as released), -1 (corrected)"), default: .number(1),
                    doc: "sign of the prototype term: 1 as released (rewards anti-alignment), -1 corrected"),
            weight("aux_weight", 0.5, "weight of the auxiliary head's CE"),
            Setting("train_aux_head", .flag, default: .flag(false), doc: "train the auxiliary head (false: it stays at its init, as with torch ≥ 2)"),
            Setting(optional: "aux_pooling", .choice(MethodConfig.AuxPooling.allCases.map(\.rawValue)), absent: .choice("global"),
                    stated: .choice("adaptive"), doc: "the auxiliary head's pooling: adaptive (as released) or global (configs before the option)"),
            Setting("label_smoothing", .number(0...0.999_999, allowed: "a number in [0, 1)"), default: .number(0.1), doc: "label smoothing of every CE"),
            weight("feedback_lr", field: "feedbackLR", 0.9, "learning rate of the feedback maps' own SGD"),
            weight("feedback_momentum", 0.01, "momentum of the feedback maps' SGD"),
            weight("feedback_weight_decay", 0.01, "weight decay of the feedback maps' SGD"),
            Setting(optional: "denoise", field: "denoiseWeight", .number(0...1000, allowed: "a weight ≥ 0"), absent: .number(0),
                    doc: "weight of the denoising term (train_imagenet_BLL.py's default 0: off)"),
            Setting(optional: "denoise_std", .number(1e-12...1000, allowed: "a standard deviation > 0"), absent: .number(0.01),
                    doc: "standard deviation σ of the denoising noise"),
        ]
    }()
    static func headMACs(_ config: MethodConfig, classes: Int, shape: [Int]) -> Int { classifierHeadMACs(shape, classes: classes) }
    static func make(_ setup: MethodSetup) throws -> LearningRule { BLLCode(setup) }
}

extension MethodConfig {
    /// bll-code's auxiliary head pooling: `adaptive` (as released: AdaptiveAvgPool2d to the size an
    /// AvgPool2d(3, stride 2) would give, then Linear on C·h'·w') or `global` (average). New bll-code configs
    /// say `adaptive`; configs written before the option lack it, which means `global`.
    public enum AuxPooling: String, Codable, CaseIterable, Sendable { case adaptive, global }
    public var alpha: Double { get { number("alpha") } set { state("alpha", .number(newValue)) } }
    public var corrWeight: Double { get { number("corr_weight") } set { state("corr_weight", .number(newValue)) } }
    public var protoWeight: Double { get { number("proto_weight") } set { state("proto_weight", .number(newValue)) } }
    public var protoSign: Double { get { number("proto_sign") } set { state("proto_sign", .number(newValue)) } }
    public var auxWeight: Double { get { number("aux_weight") } set { state("aux_weight", .number(newValue)) } }
    public var trainAuxHead: Bool { get { flag("train_aux_head") } set { state("train_aux_head", .flag(newValue)) } }
    /// nil: the field is absent (a config from before the option: global pooling).
    public var auxPooling: AuxPooling? {
        get { isStated("aux_pooling") ? choice("aux_pooling") : nil }
        set { state("aux_pooling", newValue.map { .choice($0.rawValue) }) }
    }
    public var labelSmoothing: Double { get { number("label_smoothing") } set { state("label_smoothing", .number(newValue)) } }
    public var feedbackLR: Double { get { number("feedback_lr") } set { state("feedback_lr", .number(newValue)) } }
    public var feedbackMomentum: Double { get { number("feedback_momentum") } set { state("feedback_momentum", .number(newValue)) } }
    public var feedbackWeightDecay: Double { get { number("feedback_weight_decay") } set { state("feedback_weight_decay", .number(newValue)) } }
    /// nil: unstated (0, off).
    public var denoiseWeight: Double? {
        get { isStated("denoise") ? number("denoise") : nil }
        set { state("denoise", newValue.map { .number($0) }) }
    }
    /// nil: unstated (0.01).
    public var denoiseStd: Double? {
        get { isStated("denoise_std") ? number("denoise_std") : nil }
        set { state("denoise_std", newValue.map { .number($0) }) }
    }
}

/// `bll-code`: the losses of the released BLL ImageNet code (CeFKZP/congenial-octo-tribble; docs/methods.md).
/// Block inputs are detached. For non-final block k: x̂_k = N(globalmax(a_k)); a direct feedback map
/// β_k(c) = W_k e_c (bias-free Linear from the one-hot label) is trained by its own SGD (lr 0.9, momentum
/// 0.01, wd 0.01) on ½Σ_c‖β_k(c) − p_c‖², p_c the batch mean of x̂ over class c (0 when absent), using β from
/// before that step. Forward loss of block k: corr·mean_{ij}[(x̂x̂ᵀ)²_{i≠j}] + proto·sign·Σ_i⟨β_k(y_i), x̂_i⟩/B²
/// + aux·CE_ls(aux_k(a_k)) [+ den·MSE(block_k(sg(x_in) + σε), sg(a_k)), off by default, ε from the stream
/// (seed, "denoise/b<k>/step-<n>") so a resumed run draws the same noise]; the last block: α·CE_ls(logits),
/// label smoothing 0.1.
/// Flags for the code's quirks: `proto_sign` +1 (as released: it rewards anti-alignment with the prototype;
/// −1 is the corrected sign); `train_aux_head` false (as with torch ≥ 2 the auxiliary head stays at its random
/// init: it passes gradient to the block but is never updated); `aux_pooling` adaptive (as released: to the
/// size a 3×3/2 average pool gives) or global (configs from before the option).
final class BLLCode: BlockLocalRule, DetachedBlockRule {
    let name = MethodName.bllCode
    let config: MethodConfig
    let pools: [Layer?]
    let norms: [RowNormalize]
    let feedback: [Linear]
    let aux: [ClassifierHead]
    let decorrelations: [Decorrelation]
    /// One SGD per feedback map, stepped once per iteration with its block (its own lr, momentum, decay).
    let feedbackOptimizers: [Optimizer]
    var optimizers: [Optimizer] { blockOptimizers + feedbackOptimizers }
    /// Per block (no block shares scratch): dL/dx̂, the pooled view, a_k kept while the block runs again,
    /// the noisy input and the denoising loss.
    private let dxs: [Tensor], views: [Tensor], cleans: [Tensor], noisys: [Tensor], mses: [MeanSquaredError]

    init(_ setup: MethodSetup) {
        config = setup.config
        let shapes = Array(setup.blockShapes().dropLast())
        pools = shapes.map { $0.count == 4 ? GlobalPool2d(.max) : nil }
        let dims = shapes.map { $0.count == 4 ? $0[1] : $0.last! }
        norms = dims.map { _ in RowNormalize() }
        decorrelations = dims.map { _ in Decorrelation(overAllEntries: true) }
        dxs = dims.map { _ in Tensor([0]) }; cleans = dims.map { _ in Tensor([0]) }; noisys = dims.map { _ in Tensor([0]) }
        views = dims.map { _ in Tensor(viewPlaceholder: ()) }; mses = dims.map { _ in MeanSquaredError() }
        var rng = RandomStream(seed: setup.seed, name: "feedback-network")
        feedback = dims.map { Linear(setup.classes, $0, bias: false, rng: &rng) }
        var hr = RandomStream(seed: setup.seed, name: "heads/bll-code")
        let adaptive = setup.config.auxPooling == .adaptive
        aux = shapes.map { shape in
            // the released head: AdaptiveAvgPool2d(h') with h' the output size of AvgPool2d(3, stride 2)
            // (1 where the map is smaller than 3), Flatten, Linear(C·h'·w' → classes, no bias)
            let pooled = shape.count == 4 && adaptive
                ? (shape[2] >= 3 ? (shape[2] - 3) / 2 + 1 : 1, shape[3] >= 3 ? (shape[3] - 3) / 2 + 1 : 1) : nil
            return ClassifierHead(name: "aux.ce", inputShape: shape, classes: setup.classes, weight: Float(setup.config.auxWeight),
                                  smoothing: Float(setup.config.labelSmoothing), bias: false, frozen: !setup.config.trainAuxHead,
                                  adaptivePool: pooled, rng: &hr)
        }
        var fb = OptimizerConfig(); fb.kind = .sgd; fb.momentum = setup.config.feedbackMomentum; fb.weightDecay = setup.config.feedbackWeightDecay
        feedbackOptimizers = feedback.map { fb.make($0.parameters) }
        super.init(setup, heads: singletons(aux), outputScale: Float(setup.config.alpha), smoothing: Float(setup.config.labelSmoothing))
    }

    func rows(_ k: Int, _ a: Tensor, _ mode: Mode) -> Tensor {
        if let p = pools[k] { return p.forward(a, mode: mode) }
        let d = a.shape.last!; views[k].view(of: a, shape: [a.count / d, d]); return views[k]
    }

    /// λ_den·MSE(block_k(sg(x_in) + σ·ε), sg(a_k)): block k runs again on its noisy input and learns to map
    /// it to its clean output; a_k is copied first, since the second pass overwrites the block's output.
    override func afterBackward(_ k: Int, input: Tensor, output a: Tensor) -> (Tensor?, [(String, Float)]) {
        let weight = Float(config.denoiseWeight ?? 0), std = Float(config.denoiseStd ?? 0.01)
        guard weight > 0 else { return (nil, []) }
        let noisy = noisys[k], mse = mses[k]
        let target = cleans[k]; target.resize(a.shape); target.copy(from: a)
        noisy.resize(input.shape)
        var eps = RandomStream(seed: setup.seed, name: "denoise/b\(k + 1)/step-\(blockOptimizers[k].steps)")
        eps.fillNormal(noisy, std: std)
        let np = noisy.data, ip = input.data
        for i in 0..<noisy.count { np[i] += ip[i] }
        let loss = mse(blocks[k].forward(noisy, mode: .train), target)
        let gp = mse.grad.data
        for i in 0..<mse.grad.count { gp[i] *= weight }
        _ = blocks[k].backward(mse.grad, inputGradient: false)
        return (target, [("den", weight * loss)])
    }

    override func localOptimizers(_ k: Int) -> [Optimizer] { k < feedbackOptimizers.count ? [feedbackOptimizers[k]] : [] }
    override func stepLocal(_ k: Int, lr: Float) {
        if k < feedbackOptimizers.count { feedbackOptimizers[k].step(lr: Float(config.feedbackLR)) }
    }

    override func localLoss(_ k: Int, _ a: Tensor, _ labels: [Int32], feedback _: Tensor?, into grad: Tensor) -> [(String, Float)] {
        let classes = setup.classes
        let valid = labels.map { $0 >= 0 }
        let b2 = Float(valid.filter { $0 }.count * valid.filter { $0 }.count)
        let dx = dxs[k], decorrelation = decorrelations[k]
        let xh = norms[k].forward(rows(k, a, .train))
        let r = xh.shape[0], d = xh.shape[1]
        let w = feedback[k].weight.value.data              // [d, classes]; β(c) = column c
        // prototype term: sign·Σ_i ⟨β(y_i), x̂_i⟩ / B²
        dx.resize([r, d]); dx.zero()
        let dxp = dx.data, xp = xh.data
        let sign = Float(config.protoSign), pw = Float(config.protoWeight), cw = Float(config.corrWeight)
        var proto: Float = 0
        for i in 0..<r where valid[i] {
            let c = Int(labels[i])
            for t in 0..<d { proto += w[t * classes + c] * xp[i * d + t]; dxp[i * d + t] = pw * sign * w[t * classes + c] / b2 }
        }
        proto *= sign / b2
        // decorrelation
        let corr = decorrelation(xh, mask: valid)
        let gp = decorrelation.grad.data; for o in 0..<(r * d) { dxp[o] += cw * gp[o] }
        let dz = norms[k].backward(dx)
        addInto(grad, pools[k]?.backward(dz, inputGradient: true) ?? dz)
        // feedback map: grad W[:, c] = β(c) − p_c; its SGD steps with the block (stepLocal), β above is pre-update
        let fg = feedback[k].weight.grad.data
        var counts = [Int](repeating: 0, count: classes)
        var means = [Float](repeating: 0, count: classes * d)
        for i in 0..<r where valid[i] { let c = Int(labels[i]); counts[c] += 1; for t in 0..<d { means[c * d + t] += xp[i * d + t] } }
        for c in 0..<classes { for t in 0..<d {
            let pc = counts[c] > 0 ? means[c * d + t] / Float(counts[c]) : 0
            fg[t * classes + c] += w[t * classes + c] - pc
        } }
        return [("corr", corr), ("proto", proto)] + aux[k].loss(a, labels, into: grad, mode: .train)
    }

    func headLogits(_ x: Tensor) -> [(String, Tensor)] { blockHeadLogits(x, aux) }

    /// Per non-final block: the collapse of x̂_k and the read-out against the feedback map's prototypes β_k(c)
    /// (the vectors the prototype term pulls x̂ toward or, with the released sign, away from).
    func diagnostics(_ x: Tensor, _ labels: [Int32]) -> [(String, Double)] {
        var out: [(String, Double)] = []
        var h = x
        for (k, block) in blocks.enumerated().dropLast() {
            h = block.forward(h, mode: .eval)
            let xh = norms[k].forward(rows(k, h, .eval))
            let w = feedback[k].weight.value, d = w.shape[0], classes = w.shape[1]   // W [d, classes]: β(c) = column c
            let protos = Tensor([classes, d])
            for c in 0..<classes { for t in 0..<d { protos[c * d + t] = w[t * classes + c] } }
            out += prototypeDiagnostics(xh, prototypes: protos, labels: labels, block: k + 1)
        }
        return out
    }
}
