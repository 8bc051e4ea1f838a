// `predsim` (Nøkland & Eidnes 2019; local-loss train.py): block inputs are detached. At the end of each
// non-final block a similarity head and a prediction head (`PredSimHead`, below) give
// L_k = (1−β)·CE(pred_k) + β·MSE(S(sim_k), S(Y)); only block k and its heads receive ∂L_k. The last block
// is trained by the output CE scaled by (1−β), as the code does. Each block (with its heads) has its own
// optimizer, stepped right after its backward, so block k+1 sees block k's output computed with the
// weights before that step.
//   forward  a_k = block_k(sg(a_{k−1}))                                  [N, C, H, W]
//   sim      S(std_hw(conv3x3(a_k))) vs S(onehot y)                      [N, N]
//   pred     Linear(flatten(avgpool(a_k)))  (pooled to ≤ dim_in_decoder)  [N, classes]
//   backward ∂L_k/∂(θ_k, heads_k) only; nothing flows into block k−1

import Engine

extension MethodName { public static let predsim = MethodName(declaring: "predsim") }

enum PredSimRule: RuleDefinition {
    static let name = MethodName.predsim
    static let summary = "Pred-Sim (Nøkland & Eidnes 2019): detached blocks trained by a similarity and a prediction loss"
    static let storesLegacyLayout = true
    static let settings = [
        Setting("beta", .number(0...1, allowed: "a number in [0, 1]"), default: .number(0.99),
                doc: "weight of the similarity loss; the prediction loss gets 1 − beta (local-loss's --beta)"),
        Setting("dim_in_decoder", .integer(1...65_536), default: .integer(2048),
                doc: "features the prediction head's average pooling leaves at most (local-loss's --dim-in-decoder)"),
    ]
    /// The 3×3 similarity conv and the decoder (sequences: per token, a Linear each).
    static func headMACs(_ config: MethodConfig, classes: Int, shape: [Int]) -> Int {
        if shape.count == 4 {
            let c = shape[1], h = shape[2], w = shape[3]
            let p = predSimPooling(channels: c, height: h, width: w, dimIn: config.dimInDecoder)
            return 9 * c * c * h * w + c * p.outH * p.outW * classes
        }
        let positions = shape.count == 3 ? shape[1] : 1, features = shape.last!
        return positions * (features * features + features * classes)
    }
    static func make(_ setup: MethodSetup) throws -> LearningRule { PredSim(setup) }
}

extension MethodConfig {
    public var beta: Double { get { number("beta") } set { state("beta", .number(newValue)) } }
    public var dimInDecoder: Int { get { integer("dim_in_decoder") } set { state("dim_in_decoder", .integer(newValue)) } }
}

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

/// Pred-Sim's heads (local-loss train.py; docs/methods.md): similarity — a 3×3 conv without bias
/// (Linear without bias for features), channel-wise spatial std, S(·) vs S(Y), MSE; prediction —
/// average pooling sized to `dimIn`, then a zero-initialised Linear, CE. Loss (1−β)·pred + β·sim.
public final class PredSimHead: LocalHead {
    let beta: Float, classes: Int
    let simConv: Conv2d?, simLinear: Linear?
    let std = SpatialStd()
    let useStd: Bool
    let pool: AvgPool2d?
    let flatten = Flatten()
    public let decoder: Linear
    let ce = SoftmaxCrossEntropy()
    let sim = SimilarityMatching()
    private let dsim = Tensor([0])
    private var rows = Tensor(viewPlaceholder: ())

    /// `decoderBias`: nil zeroes it with the weight (0.5.0); local-loss keeps PyTorch's default (`.uniformFanIn`).
    public init(inputShape: [Int], classes: Int, beta: Float, dimIn: Int, decoderBias: BiasInit? = nil, rng: inout RandomStream) {
        self.beta = beta; self.classes = classes
        if inputShape.count == 4 {
            let c = inputShape[1], h = inputShape[2], w = inputShape[3]
            simConv = Conv2d(c, c, kernel: 3, padding: 1, bias: false, rng: &rng); simLinear = nil
            useStd = c > 3 && h > 1
            let p = predSimPooling(channels: c, height: h, width: w, dimIn: dimIn)
            pool = (p.kh > 1 || p.kw > 1) ? AvgPool2d(kernelH: p.kh, kernelW: p.kw, padH: p.padH, padW: p.padW) : nil
            decoder = Linear(c * p.outH * p.outW, classes, init: .zeros, biasInit: decoderBias, rng: &rng)
        } else {
            let f = inputShape.last!
            simConv = nil; simLinear = Linear(f, f, bias: false, rng: &rng); useStd = false; pool = nil
            decoder = Linear(f, classes, init: .zeros, biasInit: decoderBias, rng: &rng)
        }
    }

    public var trainableParameters: [Parameter] { (simConv?.parameters ?? []) + (simLinear?.parameters ?? []) + decoder.parameters }

    func decoderInput(_ a: Tensor, _ mode: Mode) -> Tensor {
        if a.dims == 4 { return flatten.forward(pool?.forward(a, mode: mode) ?? a, mode: mode) }
        return a
    }

    public func logits(_ a: Tensor) -> Tensor { decoder.forward(decoderInput(a, .eval), mode: .eval) }

    public func loss(_ a: Tensor, _ labels: [Int32], into grad: Tensor, mode: Mode) -> [(String, Float)] {
        // prediction
        let z = decoder.forward(decoderInput(a, mode), mode: mode)
        let lp = ce(z, labels)
        let gp = ce.grad.data; for i in 0..<ce.grad.count { gp[i] *= 1 - beta }
        var d = decoder.backward(ce.grad, inputGradient: true)!
        if a.dims == 4 { d = flatten.backward(d, inputGradient: true)!; if let pool { d = pool.backward(d, inputGradient: true)! } }
        addInto(grad, d)
        // similarity
        let ls: Float
        if let simConv {
            let h = simConv.forward(a, mode: mode)
            let feats: Tensor
            if useStd { feats = std.forward(h) } else { rows.view(of: h, shape: [h.shape[0], h.count / h.shape[0]]); feats = rows }
            ls = sim(feats, labels, classes: classes)
            let gs = sim.grad.data; for i in 0..<sim.grad.count { gs[i] *= beta }
            let dh: Tensor
            if useStd { dh = std.backward(sim.grad) } else { dsim.resize(h.shape); dsim.copy(from: sim.grad); dh = dsim }
            addInto(grad, simConv.backward(dh, inputGradient: true)!)
        } else {
            let f = a.shape.last!
            rows.view(of: a, shape: [a.count / f, f])
            let h = simLinear!.forward(rows, mode: mode)
            ls = sim(h, labels, classes: classes)
            let gs = sim.grad.data; for i in 0..<sim.grad.count { gs[i] *= beta }
            addInto(grad, simLinear!.backward(sim.grad, inputGradient: true)!)
        }
        return [("pred", lp), ("sim", ls)]
    }
}

// MARK: the pieces of Pred-Sim's losses

/// [N, C, H, W] → [N, C]: the unbiased standard deviation of each channel over space (PyTorch's std).
public final class SpatialStd {
    public let y = Tensor([0]), dx = Tensor([0])
    private var x: Tensor!
    private let means = Tensor([0])
    public init() {}
    public func forward(_ x: Tensor) -> Tensor {
        self.x = x
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        y.resize([x.shape[0], x.shape[1]]); means.resize([planes])
        let xp = x.data, yp = y.data, mp = means.data
        for p in 0..<planes {
            let row = xp + p * hw
            var s: Float = 0; for t in 0..<hw { s += row[t] }
            let m = s / Float(hw); mp[p] = m
            var ss: Float = 0; for t in 0..<hw { let c = row[t] - m; ss += c * c }
            yp[p] = (ss / Float(max(1, hw - 1))).squareRoot()
        }
        return y
    }
    // backward: dx = dy·(x − mean)/((HW − 1)·std)
    public func backward(_ dy: Tensor) -> Tensor {
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        dx.resize(x.shape)
        let xp = x.data, yp = y.data, mp = means.data, dyp = dy.data, dxp = dx.data
        for p in 0..<planes {
            let s = yp[p], k = s > 0 ? dyp[p] / (Float(max(1, hw - 1)) * s) : 0
            for t in 0..<hw { dxp[p * hw + t] = k * (xp[p * hw + t] - mp[p]) }
        }
        return dx
    }
}

/// S(Y) for labels: centred, normalised one-hot rows' cosine similarities; 1 for the same class,
/// −1/(C−1) otherwise. Rows with label −1 are excluded (mask false).
public func labelSimilarity(_ labels: [Int32], classes: Int) -> [Float] {
    let r = labels.count
    let same: Float = 1, other: Float = -1 / Float(classes - 1)
    var s = [Float](repeating: 0, count: r * r)
    for i in 0..<r { for j in 0..<r where labels[i] >= 0 && labels[j] >= 0 { s[i * r + j] = labels[i] == labels[j] ? same : other } }
    return s
}

/// Pred-Sim's similarity loss: L = mean_{valid i,j} (clamp(Xn·Xnᵀ, −1, 1) − S(Y))², Xn = RowNormalize(x).
public final class SimilarityMatching {
    let normalize = RowNormalize()
    public let grad = Tensor([0])
    private let s = Tensor([0]), ds = Tensor([0]), dxn = Tensor([0])
    public init() {}

    /// Loss for features x [R, F] (rows with label −1 ignored); `grad` holds dL/dx afterwards.
    public func callAsFunction(_ x: Tensor, _ labels: [Int32], classes: Int) -> Float {
        let xn = normalize.forward(x)
        let r = xn.shape[0], f = xn.shape[1]
        s.resize([r, r]); ds.resize([r, r])
        gemm(transA: false, transB: true, m: r, n: r, k: f, a: xn.data, lda: f, b: xn.data, ldb: f, c: s.data, ldc: r)
        let target = labelSimilarity(labels, classes: classes)
        let valid = labels.filter { $0 >= 0 }.count
        let pairs = Float(max(1, valid * valid))
        var loss: Float = 0
        let sp = s.data, dsp = ds.data
        for i in 0..<r { for j in 0..<r {
            let k = i * r + j
            guard labels[i] >= 0, labels[j] >= 0 else { dsp[k] = 0; continue }
            let v = min(1, max(-1, sp[k])), d = v - target[k]
            loss += d * d
            dsp[k] = (sp[k] >= -1 && sp[k] <= 1) ? 2 * d / pairs : 0
        } }
        // dXn = (dS + dSᵀ)·Xn
        for i in 0..<r { for j in (i + 1)..<max(i + 1, r) { let a = dsp[i * r + j] + dsp[j * r + i]; dsp[i * r + j] = a; dsp[j * r + i] = a } }
        for i in 0..<r { dsp[i * r + i] *= 2 }
        dxn.resize([r, f])
        gemm(transA: false, transB: false, m: r, n: f, k: r, a: ds.data, lda: r, b: xn.data, ldb: f, c: dxn.data, ldc: f)
        grad.resize([r, f]); grad.copy(from: normalize.backward(dxn))
        return loss / pairs
    }
}

/// Pred-Sim's decoder pooling (local-loss train.py): start at 1×1 and double the kernel height, then
/// the width, alternately, until C·⌈H/kh⌉·⌈W/kw⌉ ≤ dimIn; padding makes the output ⌈H/kh⌉×⌈W/kw⌉.
public func predSimPooling(channels c: Int, height h: Int, width w: Int, dimIn: Int)
    -> (kh: Int, kw: Int, padH: Int, padW: Int, outH: Int, outW: Int) {
    var kh = 1, kw = 1, oh = h, ow = w
    var dim = c * oh * ow
    while dim > dimIn && kh < h {
        kh *= 2; oh = (h + kh - 1) / kh; dim = c * oh * ow
        if dim > dimIn { kw *= 2; ow = (w + kw - 1) / kw; dim = c * oh * ow }
    }
    let ph = kh > 1 ? (kh * (oh - h / kh)) / 2 : 0, pw = kw > 1 ? (kw * (ow - w / kw)) / 2 : 0
    return (kh, kw, ph, pw, oh, ow)
}
