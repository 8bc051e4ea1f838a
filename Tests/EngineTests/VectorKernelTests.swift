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
