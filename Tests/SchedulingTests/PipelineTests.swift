import XCTest
@testable import Engine
@testable import Methods
@testable import Scheduling
import MessagePassing

/// An in-memory image task: class-dependent means plus noise, C×S×S images, shuffled per epoch from a seed.
final class SyntheticImages: TrainingData {
    let x: Tensor, y: [Int32], testX: Tensor, testY: [Int32]
    let classes: Int, batch: Int, seed: UInt64
    var isSequence: Bool { false }
    var trainSamplesPerEpoch: Int { y.count }
    var batchesPerEpoch: Int { (y.count + batch - 1) / batch }

    init(n: Int, test: Int = 64, channels: Int = 1, size: Int = 4, classes: Int = 4, batch: Int = 16, seed: UInt64 = 5) {
        self.classes = classes; self.batch = batch; self.seed = seed
        let f = channels * size * size
        var centers = RandomStream(seed: 99, name: "centers")
        let mu = (0..<(classes * f)).map { _ in centers.normal() }
        func make(_ count: Int, _ name: String) -> (Tensor, [Int32]) {
            var r = RandomStream(seed: seed, name: name)
            let t = Tensor([count, channels, size, size]); var labels: [Int32] = []
            for i in 0..<count {
                let c = r.below(classes); labels.append(Int32(c))
                for j in 0..<f { t[i * f + j] = mu[c * f + j] + 1.5 * r.normal() }
            }
            return (t, labels)
        }
        (x, y) = make(n, "train"); (testX, testY) = make(test, "test")
    }

    func batches(_ src: Tensor, _ labels: [Int32], order: [Int], size: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows {
        let f = src.count / labels.count
        let xb = Tensor([0])
        var start = 0
        while start < order.count {
            let idx = Array(order[start..<min(order.count, start + size)])
            xb.resize([idx.count] + Array(src.shape.dropFirst()))
            for (row, i) in idx.enumerated() { for j in 0..<f { xb[row * f + j] = src[i * f + j] } }
            try body(xb, idx.map { labels[$0] })
            start += size
        }
    }
    func forEachTrainBatch(epoch: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows {
        var r = RandomStream(seed: seed, name: "order/\(epoch)")
        try batches(x, y, order: r.permutation(y.count), size: batch, body)
    }
    func forEachTestBatch(_ body: (Tensor, [Int32]) throws -> Void) rethrows {
        try batches(testX, testY, order: Array(0..<testY.count), size: 32, body)
    }
}

/// A planted failure: block `block` throws (or returns a NaN loss) at the `step`-th update of the run.
final class FailingRule: DetachedBlockRule {
    struct Planted: Error, CustomStringConvertible { var description: String { "planted failure" } }
    let inner: DetachedBlockRule, block: Int, step: Int, nan: Bool
    private var updates = 0
    init(_ inner: DetachedBlockRule, block: Int, step: Int, nan: Bool) { self.inner = inner; self.block = block; self.step = step; self.nan = nan }
    var name: MethodName { inner.name }
    var model: Model { inner.model }
    var blocks: [Block] { inner.blocks }
    var optimizers: [Optimizer] { inner.optimizers }
    func predict(_ x: Tensor) -> Tensor { inner.predict(x) }
    func feedbackSource(_ k: Int) -> FeedbackSource { inner.feedbackSource(k) }
    func optimizers(ofBlock k: Int) -> [Optimizer] { inner.optimizers(ofBlock: k) }
    func blockFeedback(_ k: Int, labels: [Int32], next: Tensor?) -> Tensor? { inner.blockFeedback(k, labels: labels, next: next) }
    func blockForward(_ k: Int, _ input: Tensor) -> Tensor { inner.blockForward(k, input) }
    func blockUpdate(_ k: Int, input: Tensor, output: Tensor, labels: [Int32], feedback: Tensor?, lr: Float) throws -> BlockUpdate {
        var u = try inner.blockUpdate(k, input: input, output: output, labels: labels, feedback: feedback, lr: lr)
        guard k == block else { return u }
        updates += 1
        if updates == step {
            if !nan { throw Planted() }
            u.terms[0].1 = .nan
        }
        return u
    }
}

final class PipelineTests: XCTestCase {
    override func setUp() { Engine.configure(threads: 1) }

    /// A small ResNet-18 (width 1/16 on 8×8 images: convolutions, BatchNorm, residual units) or an MLP.
    func setup(_ method: MethodName, blocks: Int, resnet: Bool, seed: UInt64 = 3,
               configure: (inout MethodConfig) -> Void = { _ in }) throws -> MethodSetup {
        var s = ModelSpec(arch: resnet ? .resnet18 : .mlp)
        if resnet { s.width = 1.0 / 16; s.imageSize = 8 } else { s.hidden = [24, 24, 24]; s.imageSize = 4 }
        s.inChannels = 1; s.classes = 4
        let m = try s.build(seed: seed)
        var c = MethodConfig(method: method); configure(&c)
        var o = OptimizerConfig(); o.lr = 3e-3
        return MethodSetup(model: m, blocks: try BlockSplit.split(m, blocks: blocks, rule: .even), config: c, optimizer: o, classes: 4, seed: seed)
    }

    struct Outcome: Equatable {
        var status: String
        var records: [String]
        var state: [[Float]]
    }

    func train(_ rule: LearningRule, data: TrainingData, scheduler: StepScheduler, epochs: Int = 2) throws -> Outcome {
        let trainer = Trainer(epochs: epochs, baseLR: 3e-3, schedule: .cosine(period: Double(epochs), minFactor: 0), scheduler: scheduler)
        let result = try trainer.run(rule, data: data)
        // every per-epoch number but the timings, and every parameter and optimizer moment
        let records = result.epochs.map { r in
            "\(r.epoch) lr \(r.lr) acc \(r.testAccuracy) losses \(r.losses.sorted { $0.key < $1.key }) heads \(r.headAccuracy.sorted { $0.key < $1.key }) diag \(r.diagnostics.sorted { $0.key < $1.key })"
        }
        let state = rule.stateTensors.map(\.array)   // weights, statistics, heads, moments
        return Outcome(status: "\(result.status)", records: records, state: state)
    }

    /// The registry's rules whose blocks are detached (what a pipeline or MPI ranks run).
    static let detachedRules = MethodName.allCases.filter { !$0.isLocked }
    /// A rule's settings for these small models (Pred-Sim's decoder input fits a 4×4 map).
    static func small(_ m: MethodName) -> (inout MethodConfig) -> Void { m == .predsim ? { $0.dimInDecoder = 16 } : { _ in } }

    /// Pipelined (one worker per block, one thread each; and two blocks per worker) gives the sequential
    /// run's bits on one thread: per-epoch losses, accuracies, heads, diagnostics, weights and moments.
    func testPipelineIsBitIdenticalToSequential() throws {
        // every detached rule of the registry at its defaults, then the variants that change what flows
        let cases: [(MethodName, (inout MethodConfig) -> Void, String)] = PipelineTests.detachedRules.map { m in (m, PipelineTests.small(m), m.rawValue) } + [
            (.bll, { $0.feedback = .direct }, "bll direct"),
            (.bll, { $0.distribution = .bernoulli }, "bll bernoulli"),
            (.bllCode, { $0.denoiseWeight = 0.5 }, "bll-code denoise"),
        ]
        for resnet in [false, true] {
            let data = SyntheticImages(n: 96, size: resnet ? 8 : 4)
            for (method, configure, label) in cases {
                for k in [2, 4] {
                    let sequential = try train(try Methods.make(try setup(method, blocks: k, resnet: resnet, configure: configure)),
                                           data: data, scheduler: SequentialScheduler())
                    XCTAssertEqual(sequential.status, "done", label)
                    var workerCounts = [k]
                    if k == 4 { workerCounts.append(2) }
                    for w in workerCounts {
                        let rule = try Methods.make(try setup(method, blocks: k, resnet: resnet, configure: configure))
                        let pipelined = try train(rule, data: data, scheduler: try PipelineScheduler(rule: rule, workers: w, threadsPerWorker: 1))
                        XCTAssertEqual(pipelined.records, sequential.records, "\(label) K=\(k) W=\(w) resnet=\(resnet): per-epoch metrics differ")
                        XCTAssert(pipelined.state == sequential.state, "\(label) K=\(k) W=\(w) resnet=\(resnet): weights or moments differ")
                    }
                }
            }
        }
    }

    /// What an MPI rank sends rank 0 at an epoch's end covers everything training changes, once: over the
    /// blocks, `optimizers(ofBlock:)` partitions the rule's optimizers and the blocks' states partition the
    /// checkpoint's tensors; a state packed from one rule and read into a fresh one gives it the same bits
    /// (including step counts).
    func testBlockStatesPartitionTheTrainedState() throws {
        let cases = PipelineTests.detachedRules.map { ($0, PipelineTests.small($0)) }
        for (method, configure) in cases {
            for k in [2, 4] {
                let rule = try Methods.make(try setup(method, blocks: k, resnet: true, configure: configure)) as! DetachedBlockRule
                let ids = { (ts: [Tensor]) in ts.map { ObjectIdentifier($0) } }
                let perBlock = (0..<k).map { BlockState(rule: rule, blocks: $0..<($0 + 1)) }
                let owned = perBlock.flatMap { ids($0.tensors) }
                XCTAssertEqual(owned.count, Set(owned).count, "\(method) K=\(k): a tensor owned by two blocks")
                XCTAssertEqual(Set(owned), Set(ids(rule.stateTensors)), "\(method) K=\(k): blocks' states ≠ the checkpoint's")
                let opts = (0..<k).flatMap { rule.optimizers(ofBlock: $0) }.map { ObjectIdentifier($0) }
                XCTAssertEqual(opts.count, rule.optimizers.count, "\(method) K=\(k)")
                XCTAssertEqual(Set(opts), Set(rule.optimizers.map { ObjectIdentifier($0) }), "\(method) K=\(k)")

                _ = try train(rule, data: SyntheticImages(n: 32, size: 8), scheduler: SequentialScheduler(), epochs: 1)
                var w = WireWriter()
                BlockState(rule: rule, blocks: 0..<k).write(&w)
                let fresh = try Methods.make(try setup(method, blocks: k, resnet: true, seed: 9, configure: configure)) as! DetachedBlockRule
                var r = WireReader(w.bytes)
                try BlockState(rule: fresh, blocks: 0..<k).read(&r)
                XCTAssert(r.atEnd)
                XCTAssert(fresh.stateTensors.map(\.array) == rule.stateTensors.map(\.array), "\(method) K=\(k)")
                XCTAssertEqual(fresh.optimizers.map(\.steps), rule.optimizers.map(\.steps))
                var short = WireReader(Array(w.bytes.dropLast(3)))
                XCTAssertThrowsError(try BlockState(rule: fresh, blocks: 0..<k).read(&short), "a message that ends early is an error")
            }
        }
    }

    /// The instrumentation: every worker is busy some of the time, and each sends its output's bytes per step.
    func testPipelineRecordsPerBlockInstrumentation() throws {
        let data = SyntheticImages(n: 64)
        let rule = try Methods.make(try setup(.bll, blocks: 3, resnet: false))
        let trainer = Trainer(epochs: 1, baseLR: 3e-3, schedule: .constant, scheduler: try PipelineScheduler(rule: rule, threadsPerWorker: 1))
        let r = try trainer.run(rule, data: data).epochs[0].pipeline
        for b in ["b1", "b2", "b3"] {
            XCTAssertGreaterThan(r[b + ".busy_s"] ?? 0, 0, b)
            XCTAssertLessThanOrEqual(r[b + ".utilisation"] ?? 2, 1.0001, b)
            XCTAssertNotNil(r[b + ".wait_input_s"], b); XCTAssertNotNil(r[b + ".wait_output_s"], b)
        }
        // block 1 sends a [16, 24] activation; block 2 its [16, 24] activation and its 24-wide BLL target to block 1
        XCTAssertEqual(r["b1.bytes_per_step"], 16 * 24 * 4)
        XCTAssertEqual(r["b2.bytes_per_step"], 16 * 24 * 4 + 16 * 24 * 4)
        XCTAssertEqual(r["b3.bytes_per_step"], 0)
    }

    /// A block that throws, or whose loss is NaN, stops every worker: the run ends failed / diverged at the
    /// step and block the sequential loop names, and no worker thread is left waiting.
    func testAFailingBlockStopsThePipelinePromptly() throws {
        let data = SyntheticImages(n: 160)
        for nan in [false, true] {
            for (block, step) in [(1, 3), (0, 7), (3, 2)] {
                func run(_ scheduler: (LearningRule) throws -> StepScheduler) throws -> String {
                    let inner = try Methods.make(try setup(.bll, blocks: 4, resnet: false)) as! DetachedBlockRule
                    let rule = FailingRule(inner, block: block, step: step, nan: nan)
                    return "\(try Trainer(epochs: 2, baseLR: 3e-3, schedule: .constant, scheduler: try scheduler(rule)).run(rule, data: data).status)"
                }
                let sequential = try run { _ in SequentialScheduler() }
                let t0 = Date()
                let pipelined = try run { try PipelineScheduler(rule: $0, threadsPerWorker: 1) }
                XCTAssertLessThan(Date().timeIntervalSince(t0), 10, "the pipeline did not stop promptly")
                if nan {
                    XCTAssertEqual(pipelined, "diverged at epoch 1, step \(step) (b\(block + 1).\(block == 3 ? "out.ce" : "kl") is not finite or beyond 1e+12)".replacingOccurrences(of: "b4.out.ce", with: "out.ce"))
                } else {
                    XCTAssertEqual(pipelined, "failed at epoch 1, step \(step), block \(block + 1): planted failure")
                }
                if !nan { XCTAssert(sequential.hasPrefix("failed at epoch 1, step \(step)"), sequential) } else { XCTAssertEqual(pipelined, sequential) }
            }
        }
    }

    /// Ctrl-C (shouldStop) stops every worker before its next batch; the epoch is not recorded.
    func testInterruptStopsEveryWorker() throws {
        let data = SyntheticImages(n: 320)
        let rule = try Methods.make(try setup(.predsim, blocks: 4, resnet: false) { $0.dimInDecoder = 16 })
        var polls = 0
        let result = try Trainer(epochs: 3, baseLR: 3e-3, schedule: .constant, scheduler: try PipelineScheduler(rule: rule, threadsPerWorker: 1))
            .run(rule, data: data, shouldStop: { polls += 1; return polls > 25 })
        XCTAssertEqual(result.status, .interrupted)
        XCTAssertEqual(result.epochs.count, 1)
    }

    /// Locked rules, more workers than blocks, queue depth 0, threads beyond the machine: one-line errors.
    func testBadPipelineSettingsAreErrors() throws {
        for m in [MethodName.bp, .fa, .bwbpfCode] {
            let rule = try Methods.make(try setup(m, blocks: 2, resnet: false))
            XCTAssertThrowsError(try PipelineScheduler(rule: rule, threadsPerWorker: 1)) { e in
                XCTAssert("\(e)".contains("locked rule") && "\(e)".contains(m.rawValue), "\(e)")
            }
        }
        let rule = try Methods.make(try setup(.bll, blocks: 2, resnet: false))
        XCTAssertThrowsError(try PipelineScheduler(rule: rule, workers: 3, threadsPerWorker: 1)) { XCTAssert("\($0)".contains("1...2"), "\($0)") }
        XCTAssertThrowsError(try PipelineScheduler(rule: rule, threadsPerWorker: 1, queueDepth: 0)) { XCTAssert("\($0)".contains("--queue-depth"), "\($0)") }
        XCTAssertThrowsError(try PipelineScheduler(rule: rule, threadsPerWorker: 3, cores: 2)) { XCTAssert("\($0)".contains("1...2"), "\($0)") }
    }

    /// Per-thread engine worker counts: a thread's own count does not leak into another thread.
    func testPerThreadWorkerCounts() {
        Engine.configure(threads: 2)
        defer { Engine.configure(threads: 1) }
        Parallel.withWorkers(1) {
            XCTAssertEqual(Parallel.workers, 1)
            final class Seen: @unchecked Sendable { var workers = 0 }
            let seen = Seen(), done = DispatchSemaphore(value: 0)
            let other = Thread { seen.workers = Parallel.workers; done.signal() }
            other.start(); done.wait()
            XCTAssertEqual(seen.workers, 2)
        }
        XCTAssertEqual(Parallel.workers, 2)
    }
}
