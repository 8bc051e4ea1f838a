// Parallel: the engine's own two-core parallelism, deterministic by construction.
// Work is cut into `workers` fixed, contiguous chunks (never dynamic stealing), and any
// reduction across chunks is summed in chunk order, so the same worker count gives
// bit-identical results. BLAS itself runs single-threaded inside each chunk (see GEMM.swift).
// The worker count is the process default (`Engine.configure`, set once in main) unless the calling
// thread has its own (`withWorkers`): a block worker of a pipelined run computes its block with its own
// count, and no thread's count changes another's.

import Foundation

public enum Parallel {
    /// The process default (the engine's "threads" knob; set once in main, before any training thread).
    nonisolated(unsafe) static var defaultWorkers: Int = 1

    /// This thread's own count, when it has one (key value = count; 0 = none).
    private static let threadKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// Number of worker threads the engine uses on the calling thread.
    public static var workers: Int {
        get {
            let own = Int(bitPattern: pthread_getspecific(threadKey))
            return own > 0 ? own : defaultWorkers
        }
        set { defaultWorkers = max(1, newValue) }
    }

    /// Runs `body` with the calling thread's worker count set to `count`, then restores the previous one.
    public static func withWorkers<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(threadKey)
        pthread_setspecific(threadKey, UnsafeRawPointer(bitPattern: max(1, count)))
        defer { pthread_setspecific(threadKey, previous) }
        return try body()
    }

    /// The chunk of `0..<n` that worker `w` of `parts` owns.
    @inline(__always) public static func chunk(_ n: Int, _ w: Int, _ parts: Int) -> Range<Int> {
        let base = n / parts, extra = n % parts
        let lo = w * base + min(w, extra)
        return lo..<(lo + base + (w < extra ? 1 : 0))
    }

    /// How many chunks `n` items are cut into: at most `workers`, at least `minPerChunk` items each.
    @inline(__always) public static func parts(_ n: Int, minPerChunk: Int = 1) -> Int {
        max(1, min(workers, n / max(1, minPerChunk)))
    }

    /// Runs `body(chunkIndex, range)` for each of `parts` chunks of `0..<n`, in parallel.
    @inline(__always) public static func forChunks(_ n: Int, parts: Int, _ body: (Int, Range<Int>) -> Void) {
        if parts <= 1 { body(0, 0..<n); return }
        DispatchQueue.concurrentPerform(iterations: parts) { w in body(w, chunk(n, w, parts)) }
    }

    /// Runs `body(range)` over `0..<n` split across the workers.
    @inline(__always) public static func forRange(_ n: Int, minPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        forChunks(n, parts: parts(n, minPerChunk: minPerChunk)) { _, r in body(r) }
    }
}
