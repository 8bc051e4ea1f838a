// Structural layers: Sequential (a chain), Residual (y = post(branch(x) + shortcut(x)), the
// residual add), Flatten (a view, no copy) and Dropout (inverted, its own random stream).

public final class Sequential: Layer {
    public private(set) var layers: [Layer]
    /// Times each layer call when set (`bench --profile`; Model.setProfiler).
    public var profiler: LayerProfiler?
    public init(_ layers: [Layer]) { self.layers = layers }
    public var children: [Layer] { layers }
    public func append(_ l: Layer) { layers.append(l) }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        try layers.reduce(input) { try $1.outputShape($0) }
    }
    public func macs(_ input: [Int]) -> Int {
        var shape = input, total = 0
        for l in layers { total += l.macs(shape); shape = (try? l.outputShape(shape)) ?? shape }
        return total
    }
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        var h = x
        for l in layers {
            if let profiler, !(l is Sequential || l is Residual) {
                let t0 = LayerProfiler.now(); h = l.forward(h, mode: mode); profiler.record(l, forward: true, since: t0)
            } else { h = l.forward(h, mode: mode) }
        }
        return h
    }
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        var g: Tensor? = dy
        for (i, l) in layers.enumerated().reversed() {
            if let profiler, !(l is Sequential || l is Residual) {
                let t0 = LayerProfiler.now(); g = l.backward(g!, inputGradient: i > 0 || inputGradient); profiler.record(l, forward: false, since: t0)
            } else { g = l.backward(g!, inputGradient: i > 0 || inputGradient) }
        }
        return g
    }
}

/// y = branch(x) + shortcut(x), then ReLU when `relu` (fused into the add's memory pass);
/// shortcut nil is the identity. ResNet units use relu = true; pre-LayerNorm transformer sublayers false.
public final class Residual: Layer {
    public let branch: Layer, shortcut: Layer?, relu: Bool
    private let sum = Tensor([0]), dsum = Tensor([0]), dx = Tensor([0])
    public init(_ branch: Layer, shortcut: Layer? = nil, relu: Bool = false) {
        self.branch = branch; self.shortcut = shortcut; self.relu = relu
    }
    public var children: [Layer] { [branch] + (shortcut.map { [$0] } ?? []) }

    public func outputShape(_ input: [Int]) throws -> [Int] {
        let b = try branch.outputShape(input)
        let s = try shortcut?.outputShape(input) ?? input
        guard b == s else { throw EngineError.shapeMismatch(layer: "Residual add", expected: describe(s), got: describe(b)) }
        return b
    }
    public func macs(_ input: [Int]) -> Int { branch.macs(input) + (shortcut?.macs(input) ?? 0) }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let b = branch.forward(x, mode: mode)
        let s = shortcut?.forward(x, mode: mode) ?? x
        sum.resize(b.shape)
        let bp = b.data, sp = s.data, op = sum.data
        if relu { Parallel.forRange(sum.count, minPerChunk: 1 << 14) { r in for i in r { op[i] = max(0, bp[i] + sp[i]) } } }
        else { Parallel.forRange(sum.count, minPerChunk: 1 << 14) { r in for i in r { op[i] = bp[i] + sp[i] } } }
        return sum
    }

    // backward: g = dy·[y > 0] (relu) or dy; dx = branch'(g) + shortcut'(g)  (identity passes g unchanged)
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        var g = dy
        if relu {
            dsum.resize(dy.shape)
            let yp = sum.data, dyp = dy.data, gp = dsum.data
            Parallel.forRange(dy.count, minPerChunk: 1 << 14) { r in for i in r { gp[i] = yp[i] > 0 ? dyp[i] : 0 } }
            g = dsum
        }
        let db = branch.backward(g, inputGradient: inputGradient)
        let ds: Tensor? = shortcut != nil ? shortcut!.backward(g, inputGradient: inputGradient) : g
        guard inputGradient, let db, let ds else { return nil }
        dx.resize(db.shape)
        let ap = db.data, bp = ds.data, op = dx.data
        Parallel.forRange(dx.count, minPerChunk: 1 << 14) { r in for i in r { op[i] = ap[i] + bp[i] } }
        return dx
    }
}

/// [N, d1, d2, ...] → [N, d1·d2·...], sharing memory with the input.
public final class Flatten: Layer {
    private let y = Tensor(viewPlaceholder: ()), dx = Tensor(viewPlaceholder: ())
    private var inShape: [Int] = []
    public init() {}
    public func outputShape(_ input: [Int]) throws -> [Int] { [input[0], input.dropFirst().reduce(1, *)] }
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        inShape = x.shape
        y.view(of: x, shape: [x.shape[0], x.count / x.shape[0]])
        return y
    }
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        dx.view(of: dy, shape: inShape)
        return dx
    }
}

/// Inverted dropout: in training each element is kept with probability 1 − p and scaled by
/// 1/(1 − p); in evaluation it is the identity. The mask comes from the layer's own stream.
public final class Dropout: Layer {
    public let p: Float
    /// The mask stream; checkpoints save and restore it.
    public var rng: RandomStream
    private var mode: Mode = .eval
    private let y = Tensor([0]), mask = Tensor([0]), dx = Tensor([0])
    public init(_ p: Float, rng: RandomStream) { self.p = p; self.rng = rng }
    public func outputShape(_ input: [Int]) throws -> [Int] { input }
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        self.mode = mode
        guard mode == .train, p > 0 else { return x }
        y.resize(x.shape); mask.resize(x.shape)
        let xp = x.data, yp = y.data, mp = mask.data, keep = 1 - p, scale = 1 / (1 - p)
        for i in 0..<x.count { let m: Float = rng.uniform() < keep ? scale : 0; mp[i] = m; yp[i] = xp[i] * m }
        return y
    }
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard inputGradient else { return nil }
        guard mode == .train, p > 0 else { return dy }
        dx.resize(dy.shape)
        let dyp = dy.data, mp = mask.data, dxp = dx.data
        for i in 0..<dy.count { dxp[i] = dyp[i] * mp[i] }
        return dx
    }
}
