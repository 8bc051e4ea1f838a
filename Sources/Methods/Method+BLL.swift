import Engine
import Foundation

/// `bll`: the variational block-local rule (Kappel et al.; DESIGN.md, methods.md §5.2). Block inputs are
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
final class BLL: BlockLocalRule, LearningRule {
    let name = MethodName.bll
    let config: MethodConfig
    let pools: [Layer?]
    let forwardNorms: [RowNormalize], feedbackNorms: [RowNormalize]
    let feedback: [Linear]
    let decorrelation = Decorrelation()
    let feedbackOptimizer: Optimizer
    var optimizers: [Optimizer] { blockOptimizers + [feedbackOptimizer] }
    private let onehot = Tensor([0]), dRep = Tensor([0]), dFb = Tensor([0]), dZ = Tensor([0]), pooledView = Tensor(viewPlaceholder: ())
    private var feedbackOutputs: [Tensor] = []

    init(_ setup: MethodSetup) throws {
        config = setup.config
        let shapes = setup.blockShapes().dropLast()
        pools = shapes.map { $0.count == 4 ? GlobalPool2d(setup.config.pooling == .max ? .max : .average) : nil }
        let dims = shapes.map { $0.count == 4 ? $0[1] : $0.last! }
        forwardNorms = dims.map { _ in RowNormalize() }
        feedbackNorms = dims.map { _ in RowNormalize() }
        var rng = RandomStream(seed: setup.seed, name: "feedback-network")
        var maps: [Linear] = []
        for k in 0..<dims.count {
            let input = (setup.config.feedback == .direct || k == dims.count - 1) ? setup.classes : dims[k + 1]
            maps.append(Linear(input, dims[k], bias: false, rng: &rng))
        }
        feedback = maps
        feedbackOptimizer = setup.optimizer.make(maps.flatMap(\.parameters))
        super.init(setup, heads: [])
    }

    /// Feedback outputs for one-hot rows `y` [R, classes]: top-down through the chain (or direct).
    func runFeedback(_ y: Tensor) -> [Tensor] {
        var out = [Tensor](repeating: y, count: feedback.count)
        for k in stride(from: feedback.count - 1, through: 0, by: -1) {
            let input = (config.feedback == .direct || k == feedback.count - 1) ? y : out[k + 1]
            let u = feedback[k].forward(input, mode: .train)
            out[k] = config.distribution == .bernoulli ? u : feedbackNorms[k].forward(u)
        }
        return out
    }

    func oneHot(_ labels: [Int32]) -> Tensor {
        onehot.resize([labels.count, setup.classes]); onehot.zero()
        for (i, l) in labels.enumerated() where l >= 0 { onehot[i * setup.classes + Int(l)] = 1 }
        return onehot
    }

    /// pool(a) as rows [R, d].
    func pooled(_ k: Int, _ a: Tensor, _ mode: Mode) -> Tensor {
        if let p = pools[k] { return p.forward(a, mode: mode) }
        let d = a.shape.last!
        pooledView.view(of: a, shape: [a.count / d, d])
        return pooledView
    }

    func step(_ x: Tensor, _ labels: [Int32], lr: Float) -> [(String, Float)] {
        let b = runFeedback(oneHot(labels))
        let valid = labels.map { $0 >= 0 }, count = Float(max(1, valid.filter { $0 }.count))
        let lambda = Float(config.lambda), w = Float(config.decorrelation)
        return localStep(x, labels, lr: lr) { k, a, grad in
            let z = pooled(k, a, .train)
            let r = forwardNorms[k].forward(z)
            let rows = r.shape[0], d = r.shape[1]
            dRep.resize([rows, d]); dFb.resize([rows, d])
            let rp = r.data, bp = b[k].data, zp = z.data, drp = dRep.data, dfp = dFb.data
            var kl: Float = 0
            var dz: Tensor
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
        }.also { _ in if !skipOptimizerStep { feedbackOptimizer.step(lr: lr) } }
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
            let rows = r.shape[0], d = r.shape[1]
            let valid = (0..<rows).filter { labels[$0] >= 0 }
            // mean pairwise cosine between samples (1 = collapsed)
            var cos = 0.0, pairs = 0
            let sample = Array(valid.prefix(256))
            for (ii, i) in sample.enumerated() { for j in sample[(ii + 1)...] {
                var dot: Float = 0; for t in 0..<d { dot += r[i * d + t] * r[j * d + t] }
                cos += Double(dot); pairs += 1
            } }
            // nearest-prototype read-out
            let p = protos[k]
            let pn = RowNormalize().forward(p)
            var correct = 0
            for i in valid {
                var best = 0, bestScore = -Float.infinity
                for c in 0..<classes {
                    var s: Float = 0; for t in 0..<d { s += r[i * d + t] * pn[c * d + t] }
                    if s > bestScore { bestScore = s; best = c }
                }
                if best == Int(labels[i]) { correct += 1 }
            }
            out.append(("b\(k + 1).cosine", pairs > 0 ? cos / Double(pairs) : 0))
            out.append(("b\(k + 1).proto_acc", Double(correct) / Double(max(1, valid.count))))
        }
        return out
    }
}

extension Array {
    /// Runs `body` on the value and returns it (for a side effect after a computed result).
    func also(_ body: (Self) -> Void) -> Self { body(self); return self }
}
