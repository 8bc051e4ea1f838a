// GEMM: the engine's only door to OpenBLAS (the one file that imports CBLAS).
// Contract: row-major C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C, float32.
// `gemm` splits the rows (or columns) of C into `Parallel.workers` fixed chunks and calls a
// single-threaded cblas_sgemm on each; `gemmSerial` is one call, for code already inside a chunk.
// OpenBLAS is pinned to one thread (`Engine.configure`), so results depend only on the worker count.
// `gemmNaive` is the triple-loop reference the tests hold both against.

import CBLAS

public enum Engine {
    /// Sets the engine's thread count: `threads` workers, each calling single-threaded BLAS.
    public static func configure(threads: Int) {
        Parallel.workers = max(1, threads)
        openblas_set_num_threads(1)
    }

    /// OpenBLAS build string, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var blasConfig: String { String(cString: openblas_get_config()) }
    /// The CPU kernel OpenBLAS picked at run time ("Zen", "Haswell", ...): record it, results depend on it.
    public static var blasCore: String { String(cString: openblas_get_corename()) }
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }
}

/// One single-threaded cblas_sgemm call (row-major).
@inline(__always)
public func gemmSerial(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                       a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {  // BLAS leaves C untouched for k = 0 only when beta = 1; make the meaning explicit
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Parallel GEMM over `Parallel.workers` fixed chunks of C's rows (or columns when N > M).
public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let minWork = 64  // rows or columns per chunk below which splitting costs more than it gains
    if m >= n {
        Parallel.forRange(m, minPerChunk: minWork) { r in
            let ap = transA ? a + r.lowerBound : a + r.lowerBound * lda
            gemmSerial(transA: transA, transB: transB, m: r.count, n: n, k: k, alpha: alpha, a: ap, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c + r.lowerBound * ldc, ldc: ldc)
        }
    } else {
        Parallel.forRange(n, minPerChunk: minWork) { r in
            let bp = transB ? b + r.lowerBound * ldb : b + r.lowerBound
            gemmSerial(transA: transA, transB: transB, m: m, n: r.count, k: k, alpha: alpha, a: a, lda: lda,
                       b: bp, ldb: ldb, beta: beta, c: c + r.lowerBound, ldc: ldc)
        }
    }
}

/// The reference: a triple loop in Double. Slow; for tests only.
public func gemmNaive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * s + old)
        }
    }
}
