// The fast paths against the naive references written beside them.
import XCTest
@testable import Engine

final class KernelTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 2) }

    func testGEMMMatchesNaiveForEveryTransposeAndSplit() {
        var rng = RandomStream(seed: 7, name: "gemm")
        // shapes that split by rows (m ≥ n), by columns, odd sizes, and k = 0
        for (m, n, k) in [(130, 70, 33), (9, 200, 17), (1, 1, 1), (65, 129, 64), (5, 4, 0)] {
            for ta in [false, true] { for tb in [false, true] {
                let a = Tensor(ta ? [k, m] : [m, k]), b = Tensor(tb ? [n, k] : [k, n])
                rng.fillUniform(a, -1, 1); rng.fillUniform(b, -1, 1)
                let c1 = Tensor([m, n]), c2 = Tensor([m, n])
                rng.fillUniform(c1, -1, 1); c2.copy(from: c1)
                gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: ta ? m : k,
                     b: b.data, ldb: tb ? k : n, beta: 0.25, c: c1.data, ldc: n)
                gemmNaive(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: ta ? m : k,
                          b: b.data, ldb: tb ? k : n, beta: 0.25, c: c2.data, ldc: n)
                for i in 0..<(m * n) { XCTAssertEqual(c1[i], c2[i], accuracy: 1e-4, "gemm \(m)x\(n)x\(k) ta=\(ta) tb=\(tb) at \(i)") }
            } }
        }
    }

    /// Attention's per-sequence products: every transpose form, odd sizes (vector tails), row strides
    /// wider than the rows, as the heads' strided columns of qkv are.
    func testSmallGEMMMatchesNaive() {
        var rng = RandomStream(seed: 11, name: "small-gemm")
        for (m, n, k) in [(20, 20, 64), (20, 64, 20), (7, 19, 37), (1, 33, 1), (3, 48, 16), (5, 1, 70)] {
            for ta in [false, true] { for tb in [false, true] {
                let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2
                let a = Tensor([(ta ? k : m) * lda]), b = Tensor([(tb ? n : k) * ldb])
                rng.fillUniform(a, -1, 1); rng.fillUniform(b, -1, 1)
                let c1 = Tensor([m * ldc]), c2 = Tensor([m * ldc])
                smallGEMM(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.7, a: a.data, lda: lda,
                          b: b.data, ldb: ldb, c: c1.data, ldc: ldc)
                gemmNaive(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.7, a: a.data, lda: lda,
                          b: b.data, ldb: ldb, c: c2.data, ldc: ldc)
                var worst: Float = 0
                for i in 0..<m { for j in 0..<n { worst = max(worst, abs(c1[i * ldc + j] - c2[i * ldc + j])) } }
                XCTAssertLessThan(worst, 1e-5, "smallGEMM \(m)x\(n)x\(k) ta=\(ta) tb=\(tb)")
                for i in 0..<m { for j in n..<ldc { XCTAssertEqual(c1[i * ldc + j], 0, "writes past row \(i)'s n columns") } }
            } }
        }
    }

    func testConvForwardMatchesNaiveDirectConvolution() {
        var rng = RandomStream(seed: 8, name: "conv")
        // padded 3×3, strided, pointwise, strided pointwise, 7×7 stem, 2×2 maps (several images per GEMM)
        for (ci, co, k, s, p, h, n) in [(3, 5, 3, 1, 1, 9, 3), (4, 6, 3, 2, 1, 11, 2), (8, 4, 1, 1, 0, 6, 5),
                                        (6, 3, 1, 2, 0, 7, 2), (1, 4, 7, 2, 3, 15, 2), (5, 7, 3, 1, 1, 2, 130)] {
            let conv = Conv2d(ci, co, kernel: k, stride: s, padding: p, bias: false, rng: &rng)
            let x = Tensor([n, ci, h, h]); rng.fillNormal(x, std: 1)
            let y = conv.forward(x, mode: .train)
            let g = ConvGeometry(c: ci, h: h, w: h, kh: k, kw: k, stride: s, pad: p)
            let ref = Tensor([co, g.outH, g.outW])
            for b in 0..<n {
                convNaive(g, outChannels: co, x: x.data + b * ci * h * h, w: conv.weight.value.data, y: ref.data)
                for i in 0..<ref.count {
                    XCTAssertEqual(y[b * ref.count + i], ref[i], accuracy: 1e-4, "conv k\(k) s\(s) p\(p) sample \(b) at \(i)")
                }
            }
        }
    }

    /// Backward with the im2col cache kept from forward equals backward that recomputes im2col, bit for
    /// bit, in every geometry (including several images per GEMM); eval mode keeps no cache.
    func testConvBackwardWithAndWithoutTheColumnCacheAgree() {
        var rng = RandomStream(seed: 12, name: "cache")
        var knobs = ConvKnobs.standard
        let saved = knobs.cacheLimitBytes
        knobs.directMinDensity = 2; knobs.winograd = false   // every geometry on the im2col path
        for (ci, co, k, s, p, h, n) in [(3, 5, 3, 1, 1, 9, 3), (4, 6, 3, 2, 1, 11, 2), (6, 3, 1, 2, 0, 7, 2), (5, 7, 3, 1, 1, 2, 130)] {
            let x = Tensor([n, ci, h, h]); rng.fillNormal(x, std: 1)
            var results: [[Float]] = []
            for limit in [saved, 0] {
                knobs.cacheLimitBytes = limit
                var init_ = RandomStream(seed: 13, name: "w")
                let conv = Conv2d(ci, co, kernel: k, stride: s, padding: p, bias: true, rng: &init_)
                conv.knobs = knobs
                _ = conv.forward(x, mode: .eval)   // no cache from an eval pass …
                let y = conv.forward(x, mode: .train)
                let dy = Tensor(y.shape); var g = RandomStream(seed: 14, name: "dy"); g.fillNormal(dy, std: 1)
                let dx = conv.backward(dy, inputGradient: true)!.array
                results.append(dx + conv.weight.grad.array + conv.bias!.grad.array)
            }
            XCTAssertEqual(results[0], results[1], "k\(k) s\(s) p\(p) n\(n)")
        }
    }

    /// The knobs are each layer's own (ConvKnobs): two layers with different knobs take different paths side
    /// by side, and the knobs choose the path the path tests below compare.
    func testKnobsChooseThePathPerLayer() {
        var rng = RandomStream(seed: 30, name: "knobs")
        let x = Tensor([2, 4, 6, 6]); rng.fillNormal(x, std: 1)
        let a = Conv2d(4, 4, kernel: 3, padding: 1, rng: &rng), b = Conv2d(4, 4, kernel: 3, padding: 1, rng: &rng)
        a.knobs.winogradMinChannels = 1
        b.knobs.winograd = false; b.knobs.laneMaxPixels = 0
        _ = a.forward(x, mode: .train); _ = b.forward(x, mode: .train)
        XCTAssertTrue(a.usesWinograd)
        XCTAssertFalse(b.usesWinograd); XCTAssertFalse(b.usesLanes)
        XCTAssertEqual(Conv2d(4, 4, kernel: 3, padding: 1, rng: &rng).knobs, ConvKnobs.standard, "a new layer starts from the defaults")
    }

    /// The two direct paths (shared-gap grid, DirectConv; images in lanes, LaneConv) against the naive
    /// convolution (forward) and the im2col path (forward, dx, dW, db; with and without FA): channel counts
    /// that are not multiples of 4, 5×5, maps of 1×1 to 28×28, one image per group and many, one worker and two.
    func testDirectAndLaneConvolutionsMatchNaiveAndTheIm2colPath() {
        var knobs = ConvKnobs.standard
        defer { Engine.configure(threads: 2) }
        knobs.directMaxInChannels = .max; knobs.winograd = false
        var rng = RandomStream(seed: 15, name: "direct")
        // (in, out channels, kernel, h, w, images, DirectConv group, LaneConv group, threads)
        for (ci, co, k, h, w, n, group, laneGroup, threads) in [
            (3, 5, 3, 9, 9, 3, 1 << 18, 1 << 22, 2), (16, 16, 3, 28, 28, 4, 1 << 18, 1 << 22, 2),
            (5, 7, 3, 4, 6, 21, 64, 1, 2), (2, 9, 5, 7, 7, 3, 1 << 18, 1 << 22, 1),
            (6, 4, 3, 1, 1, 7, 1, 1, 2), (1, 12, 3, 11, 5, 2, 100, 1 << 22, 1), (8, 6, 3, 4, 4, 37, 1 << 18, 20_000, 2)] {
            knobs.directGroupFloats = group; knobs.laneGroupFloats = laneGroup
            Engine.configure(threads: threads)
            let x = Tensor([n, ci, h, w]); rng.fillNormal(x, std: 1)
            let dyValues = Tensor([n, co, h, w]); rng.fillNormal(dyValues, std: 1)
            var results: [String: [Float]] = [:]
            for path in ["im2col", "direct", "lanes"] {
                knobs.directMinDensity = path == "direct" ? 0 : 2        // 0: always direct, 2: never
                knobs.laneMaxPixels = path == "lanes" ? .max : 0
                for fa in [false, true] {
                    results[path + (fa ? "+fa" : "")] = convPasses(x, dyValues, outChannels: co, kernel: k, stride: 1, padding: k / 2,
                                                                   seeds: (16, 17), fa: fa, knobs: knobs, "\(path) \(ci)→\(co) k\(k) \(h)×\(w)")
                }
            }
            for path in ["direct", "lanes", "direct+fa", "lanes+fa"] {
                assertClose(results[path]!, results[path.hasSuffix("+fa") ? "im2col+fa" : "im2col"]!, "\(path) \(ci)→\(co) k\(k) \(h)×\(w)")
            }
            XCTAssertNotEqual(results["lanes"], results["lanes+fa"], "FA changes the input gradient")
            XCTAssertNotEqual(results["direct"], results["direct+fa"], "FA changes the input gradient")
        }
    }

    /// The lane path on every stride and padding it takes (stride 2: the input gradient by parity
    /// classes), against the naive convolution and the im2col path, with and without FA.
    func testLanePathMatchesTheIm2colPathOnStridesAndPaddings() {
        var knobs = ConvKnobs.standard
        defer { Engine.configure(threads: 2) }
        knobs.directMinDensity = 2; knobs.winograd = false   // the reference is im2col
        knobs.laneWeightGradientPositions = 7   // weight-gradient chunks of one or a few rows, across blocks
        var rng = RandomStream(seed: 18, name: "lanes")
        // (in, out channels, kernel, stride, padding, h, w, images, LaneConv group, threads)
        for (ci, co, k, st, pd, h, w, n, group, threads) in [
            (3, 5, 3, 2, 1, 7, 7, 3, 1 << 22, 2), (4, 6, 3, 2, 1, 8, 6, 18, 1 << 22, 2), (5, 3, 1, 2, 0, 7, 5, 17, 1, 2),
            (2, 4, 5, 2, 2, 9, 9, 4, 1 << 22, 1), (3, 2, 3, 1, 0, 6, 5, 5, 1 << 22, 2), (2, 3, 2, 2, 0, 6, 6, 2, 1 << 22, 1),
            (6, 5, 3, 2, 1, 1, 1, 3, 1 << 22, 2), (4, 4, 3, 2, 1, 2, 3, 33, 1, 2), (3, 4, 5, 1, 1, 6, 6, 2, 1 << 22, 2)] {
            knobs.laneGroupFloats = group
            Engine.configure(threads: threads)
            let geometry = ConvGeometry(c: ci, h: h, w: w, kh: k, kw: k, stride: st, pad: pd)
            let x = Tensor([n, ci, h, w]); rng.fillNormal(x, std: 1)
            let dyValues = Tensor([n, co, geometry.outH, geometry.outW]); rng.fillNormal(dyValues, std: 1)
            let name = "\(ci)→\(co) k\(k) s\(st) p\(pd) \(h)×\(w) n\(n)"
            var results: [String: [Float]] = [:]
            for lanes in [false, true] {
                knobs.laneMaxPixels = lanes ? .max : 0
                for fa in [false, true] {
                    results["\(lanes) \(fa)"] = convPasses(x, dyValues, outChannels: co, kernel: k, stride: st, padding: pd,
                                                           seeds: (19, 20), fa: fa, knobs: knobs, "lanes=\(lanes) \(name)")
                }
            }
            for fa in [false, true] { assertClose(results["true \(fa)"]!, results["false \(fa)"]!, "\(name) fa=\(fa)") }
            XCTAssertNotEqual(results["true false"], results["true true"], "FA changes the input gradient")
        }
    }

    /// The Winograd path (3×3, stride 1, pad 1) against the naive convolution (forward) and the im2col path
    /// (forward, dx, dW, db; with and without FA): odd and even maps from 1×1 to 28×28, channel counts that
    /// are not multiples of 4, partial 16-image blocks, groups of one block, forward chunks of 4 tiles and
    /// weight-gradient chunks of a few tiles that cross blocks, one worker and two.
    func testWinogradPathMatchesNaiveAndTheIm2colPath() {
        var knobs = ConvKnobs.standard
        defer { Engine.configure(threads: 2) }
        knobs.directMinDensity = 2; knobs.laneMaxPixels = 0; knobs.winogradMinChannels = 1   // reference: im2col
        var rng = RandomStream(seed: 21, name: "winograd")
        // (in, out channels, h, w, images, LaneConv group, forward chunk floats, weight-gradient chunk, threads)
        for (ci, co, h, w, n, group, chunk, positions, threads) in [
            (3, 5, 9, 9, 3, 1 << 22, 1 << 17, 64, 2), (16, 16, 28, 28, 4, 1 << 22, 1 << 17, 64, 2),
            (5, 7, 4, 6, 21, 1, 1, 3, 2), (6, 4, 1, 1, 7, 1 << 22, 1 << 17, 64, 2), (1, 12, 11, 5, 2, 1 << 22, 1, 2, 1),
            (8, 6, 4, 4, 37, 20_000, 1, 7, 2), (9, 13, 7, 7, 18, 1 << 22, 1 << 15, 5, 1), (4, 4, 2, 3, 33, 1, 1 << 17, 64, 2)] {
            knobs.laneGroupFloats = group; knobs.winogradChunkFloats = chunk; knobs.winogradGradientPositions = positions
            Engine.configure(threads: threads)
            let x = Tensor([n, ci, h, w]); rng.fillNormal(x, std: 1)
            let dyValues = Tensor([n, co, h, w]); rng.fillNormal(dyValues, std: 1)
            let name = "\(ci)→\(co) \(h)×\(w) n\(n)"
            var results: [String: [Float]] = [:]
            for winograd in [false, true] {
                knobs.winograd = winograd
                for fa in [false, true] {
                    results["\(winograd) \(fa)"] = convPasses(x, dyValues, outChannels: co, kernel: 3, stride: 1, padding: 1,
                                                              seeds: (22, 23), fa: fa, knobs: knobs, "winograd=\(winograd) \(name)")
                }
            }
            for fa in [false, true] { assertClose(results["true \(fa)"]!, results["false \(fa)"]!, "\(name) fa=\(fa)") }
            XCTAssertNotEqual(results["true false"], results["true true"], "FA changes the input gradient")
        }
    }

    /// col2im is im2col's adjoint: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩.
    func testCol2imIsTheAdjointOfIm2col() {
        var rng = RandomStream(seed: 9, name: "adjoint")
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 2, 0), (5, 3, 2)] {
            let g = ConvGeometry(c: 3, h: 8, w: 7, kh: k, kw: k, stride: s, pad: p)
            let x = Tensor([3, 8, 7]), c = Tensor([g.rows, g.cols])
            rng.fillNormal(x, std: 1); rng.fillNormal(c, std: 1)
            let col = Tensor([g.rows, g.cols]); im2col(g, x.data, col.data, ld: g.cols)
            let back = Tensor([3, 8, 7]); col2im(g, c.data, ld: g.cols, back.data)
            var lhs = 0.0, rhs = 0.0
            for i in 0..<col.count { lhs += Double(col[i]) * Double(c[i]) }
            for i in 0..<x.count { rhs += Double(x[i]) * Double(back[i]) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-3 * max(1, abs(lhs)), "k\(k) s\(s) p\(p)")
        }
    }

    func testFeedbackAlignmentUsesBNotW() {
        var rng = RandomStream(seed: 10, name: "fa")
        let lin = Linear(6, 4, rng: &rng)
        var fb = RandomStream(seed: 11, name: "feedback")
        lin.enableFeedbackAlignment(rng: &fb)
        let b = lin.feedback!
        XCTAssertEqual(b.shape, lin.weight.value.shape)
        XCTAssertGreaterThan(angleDegrees(b, lin.weight.value), 45, "B is drawn independently of W")
        // B has W's init distribution: U(±1/√fan_in)
        XCTAssertLessThanOrEqual(b.array.map(abs).max()!, 1 / Float(6).squareRoot())
        let x = Tensor([3, 6]); rng.fillNormal(x, std: 1)
        let dy = Tensor([3, 4]); rng.fillNormal(dy, std: 1)
        _ = lin.forward(x, mode: .train)
        let dx = lin.backward(dy, inputGradient: true)!
        let ref = Tensor([3, 6])
        gemmNaive(transA: false, transB: false, m: 3, n: 6, k: 4, a: dy.data, lda: 4, b: b.data, ldb: 6, c: ref.data, ldc: 6)
        for i in 0..<ref.count { XCTAssertEqual(dx[i], ref[i], accuracy: 1e-5) }
        // the weight gradient is still dyᵀ·x (unchanged by FA)
        let gw = Tensor([4, 6])
        gemmNaive(transA: true, transB: false, m: 4, n: 6, k: 3, a: dy.data, lda: 4, b: x.data, ldb: 6, c: gw.data, ldc: 6)
        for i in 0..<gw.count { XCTAssertEqual(lin.weight.grad[i], gw[i], accuracy: 1e-5) }

        // Conv2d: dx equals the exact input gradient of a conv whose weights are B
        let conv = Conv2d(2, 3, kernel: 3, padding: 1, bias: false, rng: &rng)
        conv.enableFeedbackAlignment(rng: &fb)
        let twin = Conv2d(2, 3, kernel: 3, padding: 1, bias: false, rng: &rng)
        twin.weight.value.copy(from: conv.feedback!)
        let xi = Tensor([2, 2, 5, 5]); rng.fillNormal(xi, std: 1)
        let dyi = Tensor([2, 3, 5, 5]); rng.fillNormal(dyi, std: 1)
        _ = conv.forward(xi, mode: .train); let dfa = conv.backward(dyi, inputGradient: true)!.array
        _ = twin.forward(xi, mode: .train); let dtw = twin.backward(dyi, inputGradient: true)!.array
        XCTAssertEqual(dfa, dtw)
        _ = conv.forward(xi, mode: .train)
        XCTAssertNotEqual(conv.backward(dyi, inputGradient: true)!.array, {
            let exact = Conv2d(2, 3, kernel: 3, padding: 1, bias: false, rng: &rng)
            exact.weight.value.copy(from: conv.weight.value)
            _ = exact.forward(xi, mode: .train); return exact.backward(dyi, inputGradient: true)!.array }())
    }
}

/// One training pass of a fresh Conv2d(x's channels → `outChannels`; weights from seed `seeds.weights`, B
/// from `seeds.feedback` when `fa`) on whatever path the knobs select: asserts y against convNaive at 1e-4,
/// then returns y + dx + dW + db for dy.
private func convPasses(_ x: Tensor, _ dy: Tensor, outChannels co: Int, kernel k: Int, stride: Int, padding: Int,
                        seeds: (weights: UInt64, feedback: UInt64), fa: Bool, knobs: ConvKnobs, _ label: String,
                        file: StaticString = #filePath, line: UInt = #line) -> [Float] {
    let n = x.shape[0], ci = x.shape[1], h = x.shape[2], w = x.shape[3]
    var init_ = RandomStream(seed: seeds.weights, name: "w")
    let conv = Conv2d(ci, co, kernel: k, stride: stride, padding: padding, bias: true, rng: &init_)
    conv.knobs = knobs
    if fa { var fb = RandomStream(seed: seeds.feedback, name: "B"); conv.enableFeedbackAlignment(rng: &fb) }
    let y = conv.forward(x, mode: .train)
    let g = ConvGeometry(c: ci, h: h, w: w, kh: k, kw: k, stride: stride, pad: padding)
    let pixels = g.outH * g.outW, ref = Tensor([co, g.outH, g.outW])
    for s in 0..<n {
        convNaive(g, outChannels: co, x: x.data + s * ci * h * w, w: conv.weight.value.data, y: ref.data)
        for i in 0..<ref.count {
            XCTAssertEqual(y[s * ref.count + i], ref[i] + conv.bias!.value[i / pixels], accuracy: 1e-4,
                           "\(label) fa=\(fa) image \(s) at \(i)", file: file, line: line)
        }
    }
    let dx = conv.backward(dy, inputGradient: true)!.array
    return y.array + dx + conv.weight.grad.array + conv.bias!.grad.array
}

/// a ≈ b element by element, at 2e-4 relative (absolute below magnitude 1).
private func assertClose(_ a: [Float], _ b: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, label, file: file, line: line)
    for i in 0..<min(a.count, b.count) {
        XCTAssertEqual(a[i], b[i], accuracy: 2e-4 * max(1, abs(b[i])), "\(label) at \(i)", file: file, line: line)
    }
}
