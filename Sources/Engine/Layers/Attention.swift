// Sequence layers: Embedding (token + learned positional) and multi-head self-attention.
// Shapes: tokens [N, T] (token ids stored as Float), embeddings [N, T, D];
// attention: x [N, T, D] → qkv = x·Wqkvᵀ [N, T, 3D] → per (n, head) softmax(Q·Kᵀ/√dh [+ causal mask])·V
// → concat heads [N, T, D] → y = ·Woᵀ + b. Heads read strided columns of qkv (lda = 3D), no copies;
// the per-(n, head) products are SmallGEMM (T×T and T×dh: too small for a BLAS call to pay).

import Foundation

public final class Embedding: Layer {
    public let vocabulary: Int, maxLength: Int, dim: Int
    public let token: Parameter, position: Parameter
    private var ids: [Int32] = []
    private var shape: [Int] = []
    private let y = Tensor([0])

    public init(vocabulary: Int, maxLength: Int, dim: Int, rng: inout RandomStream) {
        self.vocabulary = vocabulary; self.maxLength = maxLength; self.dim = dim
        token = Parameter("token", .embedding, shape: [vocabulary, dim])
        position = Parameter("position", .embedding, shape: [maxLength, dim])
        rng.fillNormal(token.value, std: 0.02); rng.fillNormal(position.value, std: 0.02)
    }
    public var parameters: [Parameter] { [token, position] }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        guard input.count == 2, input[1] <= maxLength else {
            throw EngineError.shapeMismatch(layer: "Embedding(vocab \(vocabulary), length ≤ \(maxLength))",
                                            expected: "[N, T ≤ \(maxLength)]", got: describe(input))
        }
        return input + [dim]
    }

    // forward: y[n, t, :] = token[x[n, t], :] + position[t, :]
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let n = x.shape[0], t = x.shape[1], d = dim
        shape = x.shape
        y.resize([n, t, d])
        if ids.count < n * t { ids = [Int32](repeating: 0, count: n * t) }
        let xp = x.data, yp = y.data, tp = token.value.data, pp = position.value.data
        for i in 0..<(n * t) {
            let id = Int(xp[i])
            precondition(id >= 0 && id < vocabulary, "token id \(id) outside the vocabulary 0..<\(vocabulary)")
            ids[i] = Int32(id)
            let pos = i % t
            for j in 0..<d { yp[i * d + j] = tp[id * d + j] + pp[pos * d + j] }
        }
        return y
    }

    // backward: token.grad[id] += dy; position.grad[t] += dy; no input gradient (ids are discrete)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let t = shape[1], d = dim, dyp = dy.data, tg = token.grad.data, pg = position.grad.data
        for i in 0..<(shape[0] * t) {
            let id = Int(ids[i]), pos = i % t
            for j in 0..<d { let g = dyp[i * d + j]; tg[id * d + j] += g; pg[pos * d + j] += g }
        }
        return nil
    }
}

public final class MultiHeadSelfAttention: Layer {
    public let dim: Int, heads: Int, causal: Bool
    public let qkv: Linear, proj: Linear
    private var n = 0, t = 0
    private let attn = Tensor([0])     // [N, T, D] concatenated head outputs
    private let probs = Tensor([0])    // [N, H, T, T] softmax weights
    private let dqkv = Tensor([0]), dattn = Tensor([0]), dprobs = Tensor([0])

    public init(dim: Int, heads: Int, causal: Bool, rng: inout RandomStream) {
        precondition(heads > 0 && dim % heads == 0)
        self.dim = dim; self.heads = heads; self.causal = causal
        qkv = Linear(dim, 3 * dim, rng: &rng)
        proj = Linear(dim, dim, rng: &rng)
    }
    public var children: [Layer] { [qkv, proj] }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        try expectShape("MultiHeadSelfAttention(d \(dim), \(heads) heads)", input, [nil, nil, dim])
        return input
    }
    public func macs(_ input: [Int]) -> Int {
        let rows = input[0] * input[1]
        return rows * dim * 4 * dim + 2 * input[0] * input[1] * input[1] * dim
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        n = x.shape[0]; t = x.shape[1]
        let d = dim, h = heads, dh = d / h, T = t, ld = 3 * d
        let q = qkv.forward(x, mode: mode)
        attn.resize([n, T, d]); probs.resize([n, h, T, T])
        let qp = q.data, ap = attn.data, pp = probs.data, scale = 1 / Float(dh).squareRoot(), causal = self.causal
        Parallel.forRange(n * h) { range in
            for nh in range {
                let b = nh / h, hd = nh % h
                let base = qp + b * T * ld, Q = base + hd * dh, K = base + d + hd * dh, V = base + 2 * d + hd * dh
                let P = pp + nh * T * T
                // S = Q·Kᵀ·scale  [T, T]
                smallGEMM(transA: false, transB: true, m: T, n: T, k: dh, alpha: scale, a: Q, lda: ld, b: K, ldb: ld, c: P, ldc: T)
                for i in 0..<T {  // row softmax, with the causal mask j > i
                    let row = P + i * T, last = causal ? i : T - 1
                    var mx = -Float.infinity
                    for j in 0...last { mx = max(mx, row[j]) }
                    var s: Float = 0
                    for j in 0...last { let e = fastExp(row[j] - mx); row[j] = e; s += e }
                    let inv = 1 / s
                    for j in 0...last { row[j] *= inv }
                    if last + 1 < T { for j in (last + 1)..<T { row[j] = 0 } }
                }
                // O = P·V  [T, dh] into attn columns of this head
                smallGEMM(transA: false, transB: false, m: T, n: dh, k: T, a: P, lda: T, b: V, ldb: ld,
                          c: ap + b * T * d + hd * dh, ldc: d)
            }
        }
        return proj.forward(attn, mode: mode)
    }

    // backward: dO = proj'(dy); dP = dO·Vᵀ; dV = Pᵀ·dO; dS = P ⊙ (dP − rowsum(dP ⊙ P));
    //           dQ = dS·K·scale; dK = dSᵀ·Q·scale; then qkv'(dqkv)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        let dO = proj.backward(dy, inputGradient: true)!
        let d = dim, h = heads, dh = d / h, T = t, ld = 3 * d
        dqkv.resize([n, T, ld]); dprobs.resize([n, h, T, T])
        let qp = qkv.outputBuffer.data, pp = probs.data, dop = dO.data, dq = dqkv.data, dpp = dprobs.data
        let scale = 1 / Float(dh).squareRoot()
        Parallel.forRange(n * h) { range in
            for nh in range {
                let b = nh / h, hd = nh % h
                let base = qp + b * T * ld, Q = base + hd * dh, K = base + d + hd * dh, V = base + 2 * d + hd * dh
                let dbase = dq + b * T * ld, dQ = dbase + hd * dh, dK = dbase + d + hd * dh, dV = dbase + 2 * d + hd * dh
                let P = pp + nh * T * T, dP = dpp + nh * T * T, dOh = dop + b * T * d + hd * dh
                smallGEMM(transA: false, transB: true, m: T, n: T, k: dh, a: dOh, lda: d, b: V, ldb: ld, c: dP, ldc: T)
                smallGEMM(transA: true, transB: false, m: T, n: dh, k: T, a: P, lda: T, b: dOh, ldb: d, c: dV, ldc: ld)
                for i in 0..<T {
                    let pr = P + i * T, dr = dP + i * T
                    var s: Float = 0
                    for j in 0..<T { s += pr[j] * dr[j] }
                    for j in 0..<T { dr[j] = pr[j] * (dr[j] - s) }
                }
                smallGEMM(transA: false, transB: false, m: T, n: dh, k: T, alpha: scale, a: dP, lda: T, b: K, ldb: ld, c: dQ, ldc: ld)
                smallGEMM(transA: true, transB: false, m: T, n: dh, k: T, alpha: scale, a: dP, lda: T, b: Q, ldb: ld, c: dK, ldc: ld)
            }
        }
        return qkv.backward(dqkv, inputGradient: inputGradient)
    }
}
