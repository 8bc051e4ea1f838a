import Engine
import Foundation

extension MethodName { public static let bll = MethodName(declaring: "bll") }

enum BLLRule: RuleDefinition {
    static let name = MethodName.bll
    static let summary = "BLL (Kappel et al.): detached blocks pulled toward a feedback network's targets by a KL term"
    static let storesLegacyLayout = true
    static let settings = [
        Setting("lambda", .number(0...1000, allowed: "a number in [0, 1000]"), default: .number(1), doc: "weight λ of the KL term"),
        Setting("feedback", .choice(MethodConfig.Feedback.allCases.map(\.rawValue)), default: .choice("chain"),
                doc: "chain: b_k from b_{k+1}; direct: every b_k from the labels (docs/methods.md: which learns S2S)"),
        Setting("distribution", .choice(MethodConfig.Distribution.allCases.map(\.rawValue)), default: .choice("gaussian"),
                doc: "the variational family: gaussian (squared distance) or bernoulli (sigmoid means)"),
        Setting("decorrelation", .number(0...1000, allowed: "a number in [0, 1000]"), default: .number(1),
                doc: "weight of the decorrelation term against collapse (0: off)"),
        Setting("pooling", .choice(MethodConfig.Pooling.allCases.map(\.rawValue)), default: .choice("avg"),
                doc: "how a block's output is pooled over space into r_k"),
    ]
    /// Counted as a pooled linear map per block (the feedback map is of that size).
    static func headMACs(_ config: MethodConfig, classes: Int, shape: [Int]) -> Int { classifierHeadMACs(shape, classes: classes) }
    static func make(_ setup: MethodSetup) throws -> LearningRule { try BLL(setup) }
}

extension MethodConfig {
    public enum Feedback: String, Codable, CaseIterable, Sendable { case chain, direct }
    public enum Distribution: String, Codable, CaseIterable, Sendable { case gaussian, bernoulli }
    public enum Pooling: String, Codable, CaseIterable, Sendable { case avg, max }
    public var lambda: Double { get { number("lambda") } set { state("lambda", .number(newValue)) } }
    public var feedback: Feedback { get { choice("feedback") } set { state("feedback", .choice(newValue.rawValue)) } }
    public var distribution: Distribution { get { choice("distribution") } set { state("distribution", .choice(newValue.rawValue)) } }
    public var decorrelation: Double { get { number("decorrelation") } set { state("decorrelation", .number(newValue)) } }
    public var pooling: Pooling { get { choice("pooling") } set { state("pooling", .choice(newValue.rawValue)) } }
}

/// `bll`: the variational block-local rule (Kappel et al.; docs/methods.md). Block inputs are
/// detached. A feedback network runs from the target: b_{K−1} = N(g_{K−1}(onehot y)) and, with `chain`,
/// b_k = N(g_k(sg(b_{k+1}))) (with `direct`, b_k = N(G_k onehot y)); g are bias-free Linear maps, N centres
/// and L2-normalises. Forward block k's representation is r_k = N(pool(a_k)) (global average or max pool
/// over space; per token for sequences). With a shared fixed variance the local term KL(q_k‖p_k) is a
/// squared distance: forward block k minimises λ·|r_k − sg(b_k)|², feedback map g_k minimises
/// λ·|b_k − sg(r_k)|², each through its own weights only. `bernoulli` uses sigmoid means of the unnormalised
/// pooled features and feedback outputs and the Bernoulli KL. A decorrelation term w·mean_{i≠j}(r_i·r_j)²
/// (on by default, w = 1) counters collapse of r_k. The last block minimises CE. Per block, evaluation
/// records the mean pairwise cosine of r_k (collapse shows as → 1) and the nearest-prototype read-out
/// accuracy argmax_c r_k·b_k(c).
final class BLL: BlockLocalRule, DetachedBlockRule {
    let name = MethodName.bll
    let config: MethodConfig
    let pools: [Layer?]
    let forwardNorms: [RowNormalize], feedbackNorms: [RowNormalize]
    let feedback: [Linear]
    let decorrelations: [Decorrelation]
    /// One optimizer per feedback map, stepped with its block (the maps share nothing, so a block's
    /// worker owns its map).
    let feedbackOptimizers: [Optimizer]
    var optimizers: [Optimizer] { blockOptimizers + feedbackOptimizers }
    /// Per block: one-hot rows, dL/dr, dL/db, dL/dz (Bernoulli) and the pooled view; no block shares scratch.
    private let onehots: [Tensor], dReps: [Tensor], dFbs: [Tensor], dZs: [Tensor], pooledViews: [Tensor]

    init(_ setup: MethodSetup) throws {
        config = setup.config
        let shapes = setup.blockShapes().dropLast()
        pools = shapes.map { $0.count == 4 ? GlobalPool2d(setup.config.pooling == .max ? .max : .average) : nil }
        let dims = shapes.map { $0.count == 4 ? $0[1] : $0.last! }
        forwardNorms = dims.map { _ in RowNormalize() }
        feedbackNorms = dims.map { _ in RowNormalize() }
        decorrelations = dims.map { _ in Decorrelation() }
        var rng = RandomStream(seed: setup.seed, name: "feedback-network")
        var maps: [Linear] = []
        for k in 0..<dims.count {
            let input = (setup.config.feedback == .direct || k == dims.count - 1) ? setup.classes : dims[k + 1]
            maps.append(Linear(input, dims[k], bias: false, rng: &rng))
        }
        feedback = maps
        feedbackOptimizers = maps.map { setup.optimizer.make($0.parameters) }
        func scratch() -> [Tensor] { dims.map { _ in Tensor([0]) } }
        onehots = scratch(); dReps = scratch(); dFbs = scratch(); dZs = scratch()
        pooledViews = dims.map { _ in Tensor(viewPlaceholder: ()) }
        super.init(setup, heads: [])
    }

    override func feedbackSource(_ k: Int) -> FeedbackSource {
        guard k < feedback.count else { return .none }
        return (config.feedback == .direct || k == feedback.count - 1) ? .labels : .nextBlock
    }

    /// b_k for one-hot rows `y` (or block k+1's target, in a chain).
    func feedbackTarget(_ k: Int, input: Tensor) -> Tensor {
        let u = feedback[k].forward(input, mode: .train)
        return config.distribution == .bernoulli ? u : feedbackNorms[k].forward(u)
    }

    override func blockFeedback(_ k: Int, labels: [Int32], next: Tensor?) -> Tensor? {
        switch feedbackSource(k) {
        case .none: return nil
        case .labels: return feedbackTarget(k, input: oneHot(k, labels))
        case .nextBlock:
            guard let next else { preconditionFailure("BLL chain: block \(k + 1)'s feedback target needs block \(k + 2)'s") }
            return feedbackTarget(k, input: next)
        }
    }

    /// Feedback outputs for one-hot rows `y` [R, classes]: top-down through the chain (or direct).
    func runFeedback(_ y: Tensor) -> [Tensor] {
        var out = [Tensor](repeating: y, count: feedback.count)
        for k in stride(from: feedback.count - 1, through: 0, by: -1) {
            out[k] = feedbackTarget(k, input: (config.feedback == .direct || k == feedback.count - 1) ? y : out[k + 1])
        }
        return out
    }

    func oneHot(_ k: Int, _ labels: [Int32]) -> Tensor {
        let onehot = onehots[k]
        onehot.resize([labels.count, setup.classes]); onehot.zero()
        for (i, l) in labels.enumerated() where l >= 0 { onehot[i * setup.classes + Int(l)] = 1 }
        return onehot
    }

    /// pool(a) as rows [R, d].
    func pooled(_ k: Int, _ a: Tensor, _ mode: Mode) -> Tensor {
        if let p = pools[k] { return p.forward(a, mode: mode) }
        let d = a.shape.last!
        pooledViews[k].view(of: a, shape: [a.count / d, d])
        return pooledViews[k]
    }

    override func localOptimizers(_ k: Int) -> [Optimizer] { k < feedbackOptimizers.count ? [feedbackOptimizers[k]] : [] }
    override func stepLocal(_ k: Int, lr: Float) {
        if k < feedbackOptimizers.count { feedbackOptimizers[k].step(lr: lr) }
    }

    override func localLoss(_ k: Int, _ a: Tensor, _ labels: [Int32], feedback b: Tensor?, into grad: Tensor) -> [(String, Float)] {
        guard let b else { preconditionFailure("BLL: block \(k + 1) has no feedback target") }
        let valid = labels.map { $0 >= 0 }, count = Float(max(1, valid.filter { $0 }.count))
        let lambda = Float(config.lambda), w = Float(config.decorrelation)
        let decorrelation = decorrelations[k], dRep = dReps[k], dFb = dFbs[k]
        let z = pooled(k, a, .train)
        let r = forwardNorms[k].forward(z)
        let rows = r.shape[0], d = r.shape[1]
        dRep.resize([rows, d]); dFb.resize([rows, d])
        let rp = r.data, bp = b.data, zp = z.data, drp = dRep.data, dfp = dFb.data
        var kl: Float = 0
        let dz: Tensor
        if config.distribution == .gaussian {
            for i in 0..<rows { for j in 0..<d {
                let o = i * d + j
                guard valid[i] else { drp[o] = 0; dfp[o] = 0; continue }
                let diff = rp[o] - bp[o]
                kl += diff * diff
                drp[o] = 2 * lambda * diff / count; dfp[o] = -drp[o]
            } }
            var dec: Float = 0
            if w != 0 {
                dec = decorrelation(r, mask: valid)
                let gp = decorrelation.grad.data; for o in 0..<(rows * d) { drp[o] += w * gp[o] }
            }
            dz = forwardNorms[k].backward(dRep)
            _ = feedback[k].backward(feedbackNorms[k].backward(dFb), inputGradient: false)
            let p = pools[k]?.backward(dz, inputGradient: true) ?? dz
            addInto(grad, p)
            return [("kl", lambda * kl / count)] + (w != 0 ? [("decorr", dec)] : [])
        } else {
            // Bernoulli: p = σ(z), q = σ(u); KL(q‖p) per row summed over units, mean over rows
            for i in 0..<rows { for j in 0..<d {
                let o = i * d + j
                guard valid[i] else { drp[o] = 0; dfp[o] = 0; continue }
                let pz = 1 / (1 + fastExp(-zp[o])), q = 1 / (1 + fastExp(-bp[o]))
                let e: Float = 1e-7
                kl += q * logf(max(q, e) / max(pz, e)) + (1 - q) * logf(max(1 - q, e) / max(1 - pz, e))
                drp[o] = lambda * (pz - q) / count
                dfp[o] = lambda * q * (1 - q) * (bp[o] - zp[o]) / count
            } }
            var dec: Float = 0
            let dZ = dZs[k]
            dZ.resize([rows, d]); dZ.copy(from: dRep); dz = dZ
            if w != 0 {
                dec = decorrelation(r, mask: valid)
                let back = forwardNorms[k].backward(decorrelation.grad).data, p = dz.data
                for o in 0..<(rows * d) { p[o] += w * back[o] }
            }
            _ = feedback[k].backward(dFb, inputGradient: false)
            let p = pools[k]?.backward(dz, inputGradient: true) ?? dz
            addInto(grad, p)
            return [("kl", lambda * kl / count)] + (w != 0 ? [("decorr", dec)] : [])
        }
    }

    func diagnostics(_ x: Tensor, _ labels: [Int32]) -> [(String, Double)] {
        let classes = setup.classes
        let eye = Tensor([classes, classes]); for c in 0..<classes { eye[c * classes + c] = 1 }
        let protos = runFeedback(eye).map { Tensor($0.shape, $0.array) }   // b_k(c) for every class c
        var out: [(String, Double)] = []
        var h = x
        for (k, block) in blocks.enumerated().dropLast() {
            h = block.forward(h, mode: .eval)
            let r = forwardNorms[k].forward(pooled(k, h, .eval))
            out += prototypeDiagnostics(r, prototypes: protos[k], labels: labels, block: k + 1)
        }
        return out
    }
}

