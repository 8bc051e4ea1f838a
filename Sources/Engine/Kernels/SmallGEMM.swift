// SmallGEMM: C = α·op(A)·op(B) for the tiny per-sequence products of attention (T×T scores, T×dh
// outputs, with T ~ 20 and dh ~ 64), where a BLAS call costs more in set-up and packing than in
// arithmetic. No packing: rows are walked as they lie, 16 floats per vector.
//   NN  C[i, :] = α Σ_p A[i, p]·B[p, :]        (vectors along C's row; p in order)
//   TN  C[i, :] = α Σ_p A[p, i]·B[p, :]
//   NT  C[i, j] = α Σ_p A[i, p]·B[j, p]        (16-lane partial dots added in a fixed tree)
// Every sum runs in one fixed order whatever the vector width, so AVX2 and AVX-512 builds agree.
// Reference: `gemmNaive` (GEMM.swift, float64 sums); KernelTests hold all four forms against it.

/// C (m×n, row stride ldc) = α·op(A)·op(B), op(A) m×k and op(B) k×n, row-major, β = 0.
func smallGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
               c: UnsafeMutablePointer<Float>, ldc: Int) {
    switch (transA, transB) {
    case (false, true): smallGEMMRowDots(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
    case (_, false):
        // A[i, p] lies at a[i·lda + p] (NN) or a[p·lda + i] (TN)
        let rowStep = transA ? 1 : lda, pStep = transA ? lda : 1
        smallGEMMRowCombinations(m: m, n: n, k: k, alpha: alpha, a: a, rowStep: rowStep, pStep: pStep,
                                 b: b, ldb: ldb, c: c, ldc: ldc)
    case (true, true):
        gemmNaive(transA: true, transB: true, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
    }
}

/// C[i, j..j+16] = α Σ_p A(i, p)·B[p, j..j+16], p in order; the last columns one at a time.
private func smallGEMMRowCombinations(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, rowStep: Int,
                                      pStep: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let n16 = n - n % 16
    for i in 0..<m {
        let ai = a + i * rowStep, ci = c + i * ldc
        var j = 0
        while j + 32 <= n16 {   // two vectors at a time: two independent chains
            var s0 = Lane16(), s1 = Lane16()
            for p in 0..<k {
                let w = Lane16(repeating: ai[p * pStep]), bp = b + p * ldb + j
                madd16(&s0, w, load16(bp)); madd16(&s1, w, load16(bp + 16))
            }
            store16(alpha * s0, ci + j); store16(alpha * s1, ci + j + 16)
            j += 32
        }
        while j < n16 {
            var s0 = Lane16()
            for p in 0..<k { madd16(&s0, Lane16(repeating: ai[p * pStep]), load16(b + p * ldb + j)) }
            store16(alpha * s0, ci + j)
            j += 16
        }
        while j < n {
            var s: Float = 0
            for p in 0..<k { s = madd(s, ai[p * pStep], b[p * ldb + j]) }
            ci[j] = alpha * s
            j += 1
        }
    }
}

/// C[i, j] = α Σ_p A[i, p]·B[j, p]: 16-lane partial products along p (a zero-padded last vector), one
/// lane tree per output.
private func smallGEMMRowDots(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let k16 = k - k % 16
    for i in 0..<m {
        let ai = a + i * lda
        for j in 0..<n {
            let bj = b + j * ldb
            var s = Lane16(), p = 0
            while p < k16 { madd16(&s, load16(ai + p), load16(bj + p)); p += 16 }
            if p < k { madd16(&s, loadPartial16(ai + p, k - p), loadPartial16(bj + p, k - p)) }
            c[i * ldc + j] = alpha * laneSum16(s)
        }
    }
}

/// Scalar multiply-add with the same rounding as `madd16`'s lanes on this build.
@inline(__always) private func madd(_ s: Float, _ a: Float, _ b: Float) -> Float {
#if BLOCKLOCAL_TARGET_HASWELL || BLOCKLOCAL_TARGET_AVX512
    s.addingProduct(a, b)
#else
    s + a * b
#endif
}
