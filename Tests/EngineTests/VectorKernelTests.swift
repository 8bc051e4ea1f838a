import XCTest
@testable import Engine

final class VectorKernelTests: XCTestCase {
    func testFastExpAndErfAgainstLibm() {
        var worstExp: Float = 0, worstErf: Float = 0
        var x: Float = -87
        while x < 88 {
            let ref = expf(x)
            worstExp = max(worstExp, abs(fastExp(x) - ref) / ref)
            x += 0.0137
        }
        x = -6
        while x < 6 { worstErf = max(worstErf, abs(fastErf(x) - erff(x))); x += 0.001 }
        XCTAssertLessThan(worstExp, 3e-7, "relative error of fastExp")
        XCTAssertLessThan(worstErf, 6e-7, "absolute error of fastErf (formula 1.5e-7 plus float rounding)")
        XCTAssertEqual(fastExp(-200), 0, accuracy: 1e-37)
    }

    /// The 16-lane versions that GELU runs must give every lane the scalar functions' exact bits,
    /// from underflow to overflow, through zero and both signs.
    func testLaneExpAndErfEqualTheScalarOnesBitForBit() {
        var xs: [Float] = [0, -0, 1e-30, -1e-30, 87.3, 88.3, 88.4, -87.3, -87.4, -200, 200, .leastNormalMagnitude]
        var x: Float = -95
        while x < 95 { xs.append(x); x += 0.0371 }
        while xs.count % 16 != 0 { xs.append(Float(xs.count) * 0.01) }
        var mismatches = 0, first: String?
        for i in stride(from: 0, to: xs.count, by: 16) {
            let v = xs.withUnsafeBufferPointer { load16($0.baseAddress! + i) }
            let e = fastExp16(v), f = fastErf16(v)
            for l in 0..<16 {
                if e[l].bitPattern != fastExp(v[l]).bitPattern { mismatches += 1; first = first ?? "exp(\(v[l]))" }
                if f[l].bitPattern != fastErf(v[l]).bitPattern { mismatches += 1; first = first ?? "erf(\(v[l]))" }
            }
        }
        XCTAssertEqual(mismatches, 0, "lanes differing from the scalar exp/erf, first \(first ?? "")")
    }

    /// GELU runs 16 at a time with a scalar tail: forward and backward must equal the scalar formula.
    func testGELUVectorAndTailMatchTheScalarFormula() {
        let n = 16 * 5 + 7
        let x = Tensor([n]), dy = Tensor([n])
        var r = RandomStream(seed: 9); r.fillNormal(x, std: 3); r.fillNormal(dy, std: 1)
        let gelu = GELU()
        let y = gelu.forward(x, mode: .train), dx = gelu.backward(dy, inputGradient: true)!
        for i in 0..<n {
            let v = x[i]
            let cdf = 0.5 * (1 + fastErf(v * 0.70710678)), pdf = 0.39894228 * fastExp(-0.5 * v * v)
            XCTAssertEqual(y[i].bitPattern, (0.5 * v * (1 + fastErf(v * 0.70710678))).bitPattern, "y[\(i)]")
            XCTAssertEqual(dx[i].bitPattern, (dy[i] * (cdf + v * pdf)).bitPattern, "dx[\(i)]")
        }
    }

    func testShiftedSumsMatchDoubleReference() {
        var r = RandomStream(seed: 3)
        for n in [1, 7, 8, 9, 100, 1025] {
            let t = Tensor([n]); r.fillNormal(t, mean: 5, std: 2)
            let (s, q) = shiftedSums(t.data, n, shift: t[0])
            var rs = 0.0, rq = 0.0
            for i in 0..<n { let v = Double(t[i]) - Double(t[0]); rs += v; rq += v * v }
            XCTAssertEqual(Double(s), rs, accuracy: 1e-4 * max(1, abs(rs)))
            XCTAssertEqual(Double(q), rq, accuracy: 1e-4 * max(1, rq))
        }
    }
}
