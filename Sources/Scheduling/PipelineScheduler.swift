// PipelineScheduler: the blocks of a detached rule on W workers (threads) at once. Worker w owns a
// contiguous run of blocks and its own engine thread count; nothing mutable is shared between workers.
// Per batch i, worker w:
//   1. takes (i, labels, lr) — worker 1 reads the loader and hands every other worker the labels;
//   2. takes a_{lo−1}(i) from worker w−1, runs its blocks' forward passes, sends a copy of its last
//      block's output to worker w+1 as soon as it exists, and runs each block's local update;
//   3. computes its blocks' feedback targets top-down and sends its first block's target to worker w−1:
//      before step 2 when they come from the labels, after its first forward pass when they wait for the
//      target of the block after its last (BLL chain: from worker w+1, through its own channel).
// Every block sees the inputs, labels, targets and learning rates the sequential schedule gives it, in
// the same batch order, so with the same per-block thread counts the bits are the same.
// A non-finite loss or a thrown error at (batch i, block k) stops the pipeline as the sequential loop
// would: blocks before k finish batch i, blocks after k stop before it, every channel closes, the
// earliest failure in sequential order is reported. Ctrl-C (shouldStop) stops every worker before its
// next batch. Instrumentation per worker: busy time, time waiting for input (labels, activations,
// targets), time waiting for room downstream, bytes sent per step.

import Engine
import Foundation
import Methods

public enum PipelineError: Error, CustomStringConvertible, Equatable {
    case lockedRule(String, mode: String = "pipeline")
    case invalid(name: String, value: String, allowed: String)
    case noLauncher(blocks: Int)
    case rankCount(ranks: Int, blocks: Int)

    public var description: String {
        switch self {
        case let .lockedRule(m, mode):
            return "--parallel \(mode): \(m) is a locked rule (its blocks wait for the whole backward pass, so they cannot run at once); "
                + "run predsim, bwbpf, bll or bll-code, or run \(m) sequentially on all the cores (--threads)"
        case let .invalid(name, value, allowed): return "invalid \(name) '\(value)': allowed \(allowed)"
        case let .noLauncher(k):
            return "--parallel mpi needs an MPI launcher that starts one rank per block (K = \(k)): "
                + "run `mpirun -np \(k) blocklocal ... --parallel mpi`, or under Slurm `srun --ntasks=\(k) --mpi=pmix blocklocal ... --parallel mpi`"
        case let .rankCount(ranks, k):
            return "--parallel mpi: started with \(ranks) rank\(ranks == 1 ? "" : "s") but the run has K = \(k) blocks (one rank per block); "
                + "run `mpirun -np \(k) blocklocal ... --parallel mpi` (srun: --ntasks=\(k))"
        }
    }
}

public final class PipelineScheduler: StepScheduler {
    public let workers: Int
    public let threadsPerWorker: Int
    public let queueDepth: Int
    /// Worker w's blocks.
    public let ranges: [Range<Int>]

    /// `workers` nil means one per block.
    public init(rule: LearningRule, workers: Int? = nil, threadsPerWorker: Int, queueDepth: Int = 1,
                cores: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        guard rule is DetachedBlockRule else { throw PipelineError.lockedRule(rule.name.rawValue) }
        let blocks = rule.blocks.count
        let w = workers ?? blocks
        guard (1...blocks).contains(w) else {
            throw PipelineError.invalid(name: "--workers", value: "\(w)", allowed: "1...\(blocks) (at most one worker per block; K = \(blocks))")
        }
        guard (1...max(1, cores)).contains(threadsPerWorker) else {
            throw PipelineError.invalid(name: "--threads-per-block", value: "\(threadsPerWorker)", allowed: "1...\(cores) (this machine's cores)")
        }
        guard (1...64).contains(queueDepth) else {
            throw PipelineError.invalid(name: "--queue-depth", value: "\(queueDepth)", allowed: "1...64 (batches a worker may run ahead of the next)")
        }
        self.workers = w; self.threadsPerWorker = threadsPerWorker; self.queueDepth = queueDepth
        ranges = (0..<w).map { i in Parallel.chunk(blocks, i, w) }
    }

    public var evaluationWorkers: Int? { threadsPerWorker }

    /// "b2" for a worker with one block, "b1-2" for several (the instrumentation's key prefix).
    public func label(_ w: Int) -> String {
        let r = ranges[w]
        return r.count == 1 ? "b\(r.lowerBound + 1)" : "b\(r.lowerBound + 1)-\(r.upperBound)"
    }

    public func trainEpoch(_ learningRule: LearningRule, data: TrainingData, epoch: Int, rate: (Int) -> Float,
                           shouldStop: () -> Bool, progress: (Int) -> Void) -> EpochTraining {
        let rule = learningRule as! DetachedBlockRule   // checked in init
        let state = PipelineState(workers: workers)
        let activations = (0..<max(0, workers - 1)).map { _ in TensorChannel(depth: queueDepth) }
        let targets: [TensorChannel?] = (0..<max(0, workers - 1)).map { w in
            rule.feedbackSource(ranges[w].upperBound - 1) == .nextBlock ? TensorChannel(depth: queueDepth) : nil
        }
        // labels may run ahead of the slowest worker by the whole pipeline's depth
        let labels = (0..<workers).map { _ in BoundedQueue<BatchInfo>(capacity: workers * (queueDepth + 2) + 2) }
        let t0 = nanoseconds()

        let body: (Int) -> Void = { [self] w in
            let worker = BlockWorker(index: w, blocks: ranges[w], rule: rule, state: state,
                                     input: w > 0 ? activations[w - 1] : nil, output: w < workers - 1 ? activations[w] : nil,
                                     targetIn: w < workers - 1 ? targets[w] : nil, targetOut: w > 0 ? targets[w - 1] : nil)
            Parallel.withWorkers(threadsPerWorker) {
                while let info = labels[w].pop() { if !worker.run(info) { break } }
            }
            labels[w].close()
            worker.finish()
        }
        let group = DispatchGroup()
        for w in 1..<max(1, workers) {
            group.enter()
            let thread = Thread { body(w); group.leave() }
            thread.stackSize = 16 << 20
            thread.start()
        }
        // worker 1 on this thread: the loader, then its blocks
        let first = BlockWorker(index: 0, blocks: ranges[0], rule: rule, state: state,
                                input: nil, output: workers > 1 ? activations[0] : nil,
                                targetIn: workers > 1 ? targets[0] : nil, targetOut: nil)
        var batches = 0, samples = 0
        var lastLR: Float = 0
        Parallel.withWorkers(threadsPerWorker) {
            try? data.forEachTrainBatch(epoch: epoch) { x, y in
                if shouldStop() { state.interrupt(); throw StopIteration() }
                let info = BatchInfo(index: batches, labels: y, lr: rate(batches), input: x)
                for w in 1..<max(1, workers) where !labels[w].push(info.withoutInput) { throw StopIteration() }
                guard first.run(info) else { throw StopIteration() }
                lastLR = info.lr
                batches += 1; samples += x.shape[0]
                progress(batches)   // batches through the first worker: the rest are at most the pipeline's depth behind
            }
        }
        for w in 1..<max(1, workers) { labels[w].close() }
        first.finish()
        group.wait()
        let seconds = Double(nanoseconds() - t0) / 1e9

        var out = EpochTraining()
        out.batches = batches; out.samples = samples; out.lastLR = lastLR
        out.stop = state.stop
        var sums = TermSums()
        for w in 0..<workers { sums.merge(state.sums[w]) }
        out.sums = sums.ordered
        for w in 0..<workers { state.stats[w].report(into: &out.pipeline, key: label(w), seconds: seconds) }
        return out
    }
}

/// One batch's hand-out: its index in the epoch, labels, learning rate, and (worker 1 only) the input.
struct BatchInfo {
    let index: Int
    let labels: [Int32]
    let lr: Float
    let input: Tensor?
    var withoutInput: BatchInfo { BatchInfo(index: index, labels: labels, lr: lr, input: nil) }
}

struct WorkerStats {
    var busy: UInt64 = 0, waitInput: UInt64 = 0, waitOutput: UInt64 = 0, bytes = 0, steps = 0

    /// The run file's per-worker keys ("b2.busy_s", ...; `seconds`: the epoch's wall time).
    func report(into out: inout [String: Double], key: String, seconds: Double) {
        out[key + ".busy_s"] = Double(busy) / 1e9
        out[key + ".wait_input_s"] = Double(waitInput) / 1e9
        out[key + ".wait_output_s"] = Double(waitOutput) / 1e9
        out[key + ".bytes_per_step"] = Double(bytes) / Double(max(1, steps))
        out[key + ".utilisation"] = seconds > 0 ? Double(busy) / 1e9 / seconds : 0
    }
}

/// What the workers share, under one lock: the stop point, the reported stop, and each worker's results
/// (recorded by that worker when it finishes, read after every worker has).
final class PipelineState {
    private let lock = NSLock()
    /// Batches at or after this (batch, block) in sequential order are not started.
    private var limit: (batch: Int, block: Int) = (Int.max, Int.max)
    private(set) var stop: EpochTraining.Stop? = nil
    private var stopAt: (batch: Int, block: Int) = (Int.max, Int.max)
    private(set) var sums: [TermSums]
    private(set) var stats: [WorkerStats]

    init(workers: Int) {
        sums = Array(repeating: TermSums(), count: workers)
        stats = Array(repeating: WorkerStats(), count: workers)
    }

    func record(worker: Int, sums s: TermSums, stats st: WorkerStats) {
        lock.lock(); defer { lock.unlock() }
        sums[worker] = s; stats[worker] = st
    }

    func mayStart(batch: Int, block: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return (batch, block) < limit
    }

    /// A failure at (batch, block): the earliest in sequential order is the one reported.
    func fail(batch: Int, block: Int, _ reason: EpochTraining.Stop) {
        lock.lock(); defer { lock.unlock() }
        if (batch, block) < limit { limit = (batch, block) }
        if (batch, block) < stopAt { stopAt = (batch, block); stop = reason }
    }

    /// Where the reported stop happened, (batch, block) in sequential order.
    var stopPosition: (batch: Int, block: Int) {
        lock.lock(); defer { lock.unlock() }
        return stopAt
    }

    func interrupt() {
        lock.lock(); defer { lock.unlock() }
        limit = (-1, -1)
        if stop == nil { stop = .interrupted }
    }
}

/// Where a block worker's tensors come from and go: a channel between threads (TensorChannel) or
/// messages between MPI ranks (MPITensorLink).
protocol BlockLink: AnyObject {
    /// Queues a copy of `t` for the peer; adds time spent waiting for room to `waited`. False once closed.
    func send(_ t: Tensor, waited: inout UInt64) -> Bool
    /// The next tensor (time spent waiting added to `waited`); nil once the peer closed the link.
    func receive(waited: inout UInt64) -> Tensor?
    /// Hands a received tensor back once nothing reads it.
    func release(_ t: Tensor)
    func close()
}

extension TensorChannel: BlockLink {}

/// One worker's blocks and channels.
final class BlockWorker {
    let index: Int
    let blocks: Range<Int>
    let rule: DetachedBlockRule
    let state: PipelineState
    let input: BlockLink?, output: BlockLink?
    let targetIn: BlockLink?, targetOut: BlockLink?
    private var stats = WorkerStats()
    private var sums = TermSums()
    private var targets: [Tensor?]

    init(index: Int, blocks: Range<Int>, rule: DetachedBlockRule, state: PipelineState,
         input: BlockLink?, output: BlockLink?, targetIn: BlockLink?, targetOut: BlockLink?) {
        self.index = index; self.blocks = blocks; self.rule = rule; self.state = state
        self.input = input; self.output = output; self.targetIn = targetIn; self.targetOut = targetOut
        targets = Array(repeating: nil, count: blocks.count)
    }

    /// Runs this worker's blocks on one batch; false when the worker must stop. A worker whose targets
    /// come from the labels computes them first (the previous worker may be waiting for them); one whose
    /// targets come from the next worker runs its first forward pass before it waits for them, so the
    /// chain's wait overlaps the forward (docs/parallel.md).
    func run(_ info: BatchInfo) -> Bool {
        let i = info.index, lo = blocks.lowerBound
        guard state.mayStart(batch: i, block: lo) else { return false }
        var t0 = nanoseconds()
        var next: Tensor? = nil, received: Tensor? = nil
        defer {
            if let received { input?.release(received) }
            if let next { targetIn?.release(next) }
        }
        var targetsReady = false
        /// Every block's target top-down (the one after our last block from the next worker); our first
        /// block's goes to the previous worker.
        func computeTargets() -> Bool {
            if let targetIn {
                stats.busy += nanoseconds() - t0
                guard let t = targetIn.receive(waited: &stats.waitInput) else { return false }
                t0 = nanoseconds()
                next = t
            }
            for k in blocks.reversed() {
                targets[k - lo] = rule.blockFeedback(k, labels: info.labels, next: k + 1 < blocks.upperBound ? targets[k + 1 - lo] : next)
            }
            if let targetOut, let t = targets[0] {
                stats.busy += nanoseconds() - t0
                guard targetOut.send(t, waited: &stats.waitOutput) else { return false }
                stats.bytes += t.count * MemoryLayout<Float>.size
                t0 = nanoseconds()
            }
            targetsReady = true
            return true
        }
        if targetIn == nil { guard computeTargets() else { return false } }
        // the input: the loader's batch, or the previous worker's output
        var h: Tensor
        if let x = info.input { h = x } else {
            stats.busy += nanoseconds() - t0
            guard let input, let a = input.receive(waited: &stats.waitInput) else { return false }
            t0 = nanoseconds()
            h = a; received = a
        }
        for k in blocks {
            if k > lo && !state.mayStart(batch: i, block: k) { return false }
            let a = rule.blockForward(k, h)
            if k == blocks.upperBound - 1, let output {
                stats.busy += nanoseconds() - t0
                guard output.send(a, waited: &stats.waitOutput) else { return false }
                stats.bytes += a.count * MemoryLayout<Float>.size
                t0 = nanoseconds()
            }
            if !targetsReady { guard computeTargets() else { return false } }
            let update: BlockUpdate
            do { update = try rule.blockUpdate(k, input: h, output: a, labels: info.labels, feedback: targets[k - lo], lr: info.lr) }
            catch {
                state.fail(batch: i, block: k, .failed(step: i + 1, block: k + 1, message: "\(error)"))
                return false
            }
            if let bad = Divergence.first(update.terms) {
                state.fail(batch: i, block: k, .diverged(step: i + 1, term: bad.0))
                return false
            }
            sums.add(update.terms)
            h = update.passOn ?? a
        }
        stats.busy += nanoseconds() - t0
        stats.steps += 1
        return true
    }

    /// Closes this worker's channels (waking any neighbour that waits on them) and hands its results over.
    func finish() {
        input?.close(); output?.close(); targetIn?.close(); targetOut?.close()
        state.record(worker: index, sums: sums, stats: stats)
    }
}

/// Breaks out of the loader's batch loop (its body rethrows).
struct StopIteration: Error {}
