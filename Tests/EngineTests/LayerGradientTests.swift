import XCTest
@testable import Engine

final class LayerGradientTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }
    let gc = GradCheck()

    func testLinear() {
        var rng = RandomStream(seed: 1, name: "t")
        gc.check(Linear(7, 5, rng: &rng), GradCheck.random([6, 7], seed: 2))
        gc.check(Linear(4, 3, bias: false, rng: &rng), GradCheck.random([2, 5, 4], seed: 3))  // [N, T, D]
    }

    func testConv2dShapes() {
        var rng = RandomStream(seed: 1, name: "t")
        // (cin, cout, k, stride, pad, h, Winograd): 3×3 padded (lane path; 15×15: shared-gap direct path;
        // Winograd on odd and even maps), strided, 1×1 pointwise, 1×1 strided, 7×7 stem, tiny maps
        for (ci, co, k, s, p, h, winograd) in [
            (2, 3, 3, 1, 1, 6, false), (2, 3, 3, 1, 1, 15, false), (3, 4, 3, 2, 1, 7, false), (4, 3, 1, 1, 0, 5, false),
            (3, 5, 1, 2, 0, 6, false), (2, 3, 7, 2, 3, 9, false), (3, 2, 3, 1, 1, 2, false), (4, 3, 3, 1, 1, 5, true),
            (5, 6, 3, 1, 1, 4, true), (2, 3, 3, 1, 1, 1, true)] {
            let conv = Conv2d(ci, co, kernel: k, stride: s, padding: p, bias: true, rng: &rng)
            conv.knobs.winogradMinChannels = winograd ? 1 : .max
            gc.check(conv, GradCheck.random([3, ci, h, h], seed: UInt64(h)))
        }
    }

    func testBatchNormTrainAndEval() {
        gc.check(BatchNorm(3), GradCheck.random([4, 3, 3, 3], seed: 5))
        gc.check(BatchNorm(5), GradCheck.random([6, 5], seed: 6))           // BatchNorm1d
        GradCheck(eps: 1e-3, atol: 3e-3, rtol: 2e-2).check(BatchNorm(3, relu: true), GradCheck.random([4, 3, 3, 3], seed: 5))
        let bn = BatchNorm(2)
        _ = bn.forward(GradCheck.random([8, 2, 2, 2], seed: 7, std: 3), mode: .train)
        gc.check(bn, GradCheck.random([3, 2, 2, 2], seed: 8), mode: .eval)
    }

    func testLayerNorm() { gc.check(LayerNorm(6), GradCheck.random([2, 3, 6], seed: 9)) }

    func testActivations() {
        let x = GradCheck.distinct([3, 4, 5], seed: 10)
        let fine = GradCheck(eps: 1e-3, atol: 1e-3, rtol: 1e-2)
        fine.check(ReLU(), x); fine.check(LeakyReLU(slope: 0.01), x); fine.check(GELU(), x)
    }

    func testPooling() {
        let fine = GradCheck(eps: 1e-3, atol: 1e-3, rtol: 1e-2)
        let x = GradCheck.distinct([2, 3, 6, 6], seed: 11)
        fine.check(MaxPool2d(kernel: 2), x)
        fine.check(MaxPool2d(kernel: 3, stride: 2, padding: 1), x)
        fine.check(AvgPool2d(kernel: 2), x)
        fine.check(AvgPool2d(kernel: 3, stride: 2, padding: 1), x)
        fine.check(AvgPool2d(kernelH: 2, kernelW: 3, padH: 0, padW: 1), x)
        fine.check(GlobalPool2d(.average), x)
        fine.check(GlobalPool2d(.max), x)
        fine.check(Flatten(), x)
        fine.check(AdaptiveAvgPool2d(4, 4), x)   // overlapping windows: 6 → 4
        fine.check(AdaptiveAvgPool2d(2, 3), x)
    }

    /// PyTorch's windows: 5 → 3 reads rows [0, 2), [1, 4), [3, 5); 4 → 2 is a 2×2 average pool.
    func testAdaptiveAveragePoolingWindows() {
        let x = Tensor([1, 1, 5, 5], (0..<25).map(Float.init))
        let y = AdaptiveAvgPool2d(3, 3).forward(x, mode: .train)
        func mean(_ rows: Range<Int>, _ cols: Range<Int>) -> Float {
            let v = rows.flatMap { r in cols.map { Float(r * 5 + $0) } }; return v.reduce(0, +) / Float(v.count)
        }
        let windows = [0..<2, 1..<4, 3..<5]
        XCTAssertEqual(y.array, windows.flatMap { r in windows.map { mean(r, $0) } })
        let z = Tensor([2, 3, 4, 4], (0..<96).map { Float($0 % 7) })
        XCTAssertEqual(AdaptiveAvgPool2d(2, 2).forward(z, mode: .train).array, AvgPool2d(kernel: 2).forward(z, mode: .train).array)
    }

    func testResidualUnits() {
        var rng = RandomStream(seed: 3, name: "t")
        // ReLU after the add: a central difference of 1e-2 can step over a kink; 1e-3 does not here
        let identity = Residual(Sequential([Conv2d(3, 3, kernel: 3, padding: 1, rng: &rng), BatchNorm(3)]), relu: true)
        GradCheck(eps: 1e-3, atol: 3e-3, rtol: 2e-2).check(identity, GradCheck.random([2, 3, 4, 4], seed: 12))
        let linearPost = Residual(Sequential([Conv2d(3, 3, kernel: 3, padding: 1, rng: &rng), BatchNorm(3)]))
        gc.check(linearPost, GradCheck.random([2, 3, 4, 4], seed: 12))
        let projected = Residual(Sequential([Conv2d(2, 4, kernel: 3, stride: 2, padding: 1, rng: &rng)]),
                                 shortcut: Conv2d(2, 4, kernel: 1, stride: 2, rng: &rng))
        gc.check(projected, GradCheck.random([2, 2, 5, 5], seed: 13))
    }

    func testAttention() {
        var rng = RandomStream(seed: 4, name: "t")
        for (heads, causal) in [(1, true), (2, false), (2, true)] {
            let a = MultiHeadSelfAttention(dim: 4, heads: heads, causal: causal, rng: &rng)
            gc.check(a, GradCheck.random([2, 5, 4], seed: 14))
        }
    }

    func testEmbeddingParameters() {
        var rng = RandomStream(seed: 5, name: "t")
        let e = Embedding(vocabulary: 6, maxLength: 4, dim: 3, rng: &rng)
        let ids = Tensor([2, 4], [0, 5, 2, 2, 1, 1, 3, 4])
        gc.check(e, ids, inputGradient: false)
    }

    func testLossGradients() {
        let logits = GradCheck.random([5, 4], seed: 15)
        let labels: [Int32] = [0, 3, -1, 2, 1]
        for smoothing: Float in [0, 0.1] {
            let ce = SoftmaxCrossEntropy(smoothing: smoothing)
            ce(logits, labels)
            let g = ce.grad.array
            for i in 0..<logits.count {
                let old = logits[i]
                logits[i] = old + 1e-2; let lp = ce(logits, labels)
                logits[i] = old - 1e-2; let lm = ce(logits, labels)
                logits[i] = old
                XCTAssertEqual(g[i], (lp - lm) / 2e-2, accuracy: 2e-3, "CE(smoothing \(smoothing)) d logits[\(i)]")
            }
        }
        // the ignored row gets no gradient, and the loss of a confident correct row is ~0
        let ce = SoftmaxCrossEntropy()
        ce(logits, labels)
        XCTAssertEqual(ce.grad.array[8..<12].map(abs).max(), 0)
        XCTAssertLessThan(ce(Tensor([1, 3], [30, 0, 0]), [0]), 1e-6)

        let target = GradCheck.random([5, 4], seed: 16)
        for (name, f): (String, (Tensor, Tensor) -> (Float, Tensor)) in [
            ("mse", { let l = MeanSquaredError(); return (l($0, $1), l.grad) }),
            ("bce", { let l = BinaryCrossEntropy(); let t = Tensor($1.shape, $1.array.map { 1 / (1 + exp(-$0)) }); return (l($0, t), l.grad) }),
        ] {
            let x = GradCheck.random([5, 4], seed: 17)
            let g = f(x, target).1.array
            for i in 0..<x.count {
                let old = x[i]
                x[i] = old + 1e-2; let lp = f(x, target).0
                x[i] = old - 1e-2; let lm = f(x, target).0
                x[i] = old
                XCTAssertEqual(g[i], (lp - lm) / 2e-2, accuracy: 1e-3, "\(name) d x[\(i)]")
            }
        }
    }

    func testDropoutMasksAndScales() {
        let d = Dropout(0.5, rng: RandomStream(seed: 1, name: "d"))
        let x = GradCheck.distinct([4, 50], seed: 18)
        XCTAssertTrue(d.forward(x, mode: .eval) === x, "evaluation mode is the identity")
        let y = d.forward(x, mode: .train).array
        let kept = zip(y, x.array).filter { $0.0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0.0 - 2 * $0.1) < 1e-6 }, "kept elements are scaled by 1/(1-p)")
        XCTAssert((70...130).contains(kept.count), "about half kept: \(kept.count) of 200")
        let dy = Tensor(x.shape); dy.fill(1)
        let dx = d.backward(dy, inputGradient: true)!.array
        XCTAssertEqual(dx.map { $0 != 0 }, y.map { $0 != 0 }, "backward uses the forward mask")
    }
}
