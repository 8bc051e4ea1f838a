// The training loop: epochs over the data, each trained by a scheduler (sequential here; block workers
// in the Scheduling module) with the learning rate from the schedule at the fractional epoch, evaluation
// on the test set after every epoch (output accuracy; each local head's accuracy; method diagnostics;
// for sequences token and whole-sequence accuracy), loss terms averaged over the epoch, wall time,
// samples/s and the scheduler's per-block instrumentation. A NaN, infinite or runaway loss (above
// Divergence.limit) stops the run as diverged; a block that fails stops it as failed, naming the epoch,
// step and block.

import Datasets
import Engine
import Foundation

/// When a loss term means the run has diverged: not finite, or beyond any loss a converging run has
/// (cross-entropy starts near ln(classes), the local terms of every rule near their own scale); Adam at
/// lr 1e6 reached 2e24 and was stored as done before this.
public enum Divergence {
    public static let limit: Float = 1e12
    /// The first loss term that diverged, if any.
    public static func first(_ terms: [(String, Float)]) -> (String, Float)? {
        terms.first { !$0.1.isFinite || abs($0.1) > limit }
    }
}

public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var lr: Double
    public var losses: [String: Double]
    public var testAccuracy: Double
    public var testSequenceAccuracy: Double?
    public var headAccuracy: [String: Double]
    public var diagnostics: [String: Double]
    public var seconds: Double
    public var samplesPerSecond: Double
    /// Per-block instrumentation of a pipelined epoch ("b1.busy_s", "b1.wait_input_s", "b1.wait_output_s",
    /// "b1.bytes_per_step", "b1.utilisation"); empty for sequential runs.
    public var pipeline: [String: Double] = [:]

    public init(epoch: Int, lr: Double, losses: [String: Double], testAccuracy: Double, testSequenceAccuracy: Double?,
                headAccuracy: [String: Double], diagnostics: [String: Double], seconds: Double, samplesPerSecond: Double) {
        self.epoch = epoch; self.lr = lr; self.losses = losses; self.testAccuracy = testAccuracy
        self.testSequenceAccuracy = testSequenceAccuracy; self.headAccuracy = headAccuracy; self.diagnostics = diagnostics
        self.seconds = seconds; self.samplesPerSecond = samplesPerSecond
    }
}

public enum RunStatus: Equatable, Sendable, CustomStringConvertible {
    case done
    case diverged(epoch: Int, step: Int, term: String)
    /// A block's work threw: the run stops and is stored as failed.
    case failed(epoch: Int, step: Int, block: Int, message: String)
    /// Stopped on request (Ctrl-C) before the epoch ended; the last checkpoint stands.
    case interrupted
    public var description: String {
        switch self {
        case .done: return "done"
        case .interrupted: return "interrupted"
        case let .diverged(e, s, t): return "diverged at epoch \(e), step \(s) (\(t) is not finite or beyond \(Divergence.limit))"
        case let .failed(e, s, b, m): return "failed at epoch \(e), step \(s), block \(b): \(m)"
        }
    }
}

public struct TrainResult: Sendable {
    public var status: RunStatus
    public var epochs: [EpochRecord]
}

/// How one epoch's steps went: the loss terms summed over its batches (in first-appearance order), the
/// batch and sample counts, the last learning rate, why it stopped early (nil: it did not) and the
/// scheduler's per-block instrumentation.
public struct EpochTraining {
    public enum Stop: Equatable { case diverged(step: Int, term: String), failed(step: Int, block: Int, message: String), interrupted }
    public var sums: [(String, Double)] = []
    public var batches = 0, samples = 0
    public var lastLR: Float = 0
    public var stop: Stop? = nil
    public var pipeline: [String: Double] = [:]
    public init() {}
}

/// Decides where and when a rule's work runs within an epoch. Every scheduler visits the batches in the
/// loader's order and gives a rule's blocks the same inputs, so the bits do not depend on the scheduler.
public protocol StepScheduler {
    /// Trains one epoch; `rate(i)` is the learning rate of the epoch's i-th batch (from 0); `shouldStop`
    /// is polled before each batch; `progress(n)` is told, on the calling thread, that n batches have
    /// entered training.
    func trainEpoch(_ rule: LearningRule, data: TrainingData, epoch: Int, rate: (Int) -> Float,
                    shouldStop: () -> Bool, progress: (Int) -> Void) -> EpochTraining
    /// The engine worker count evaluation runs with (nil: the process default).
    var evaluationWorkers: Int? { get }
}

/// Breaks out of a loader's batch loop (its body rethrows).
struct StopIteration: Error {}

/// One step after the other on the calling thread, every block on `workers` engine threads (nil: the
/// calling thread's count). A run's stored thread count is the one it computed with: OpenBLAS's Haswell
/// kernels (the AVX2 ones) round a product differently when `gemm` cuts its rows into another number of
/// chunks, so a run that claims 1 thread must not compute on the process default of 2.
public struct SequentialScheduler: StepScheduler {
    public var workers: Int?
    public init(workers: Int? = nil) { self.workers = workers }
    public var evaluationWorkers: Int? { workers }

    public func trainEpoch(_ rule: LearningRule, data: TrainingData, epoch: Int, rate: (Int) -> Float,
                           shouldStop: () -> Bool, progress: (Int) -> Void) -> EpochTraining {
        Parallel.withWorkers(workers ?? Parallel.workers) {
            var out = EpochTraining()
            var sums = TermSums()
            try? data.forEachTrainBatch(epoch: epoch) { x, y in
                if shouldStop() { out.stop = .interrupted; throw StopIteration() }
                out.lastLR = rate(out.batches)
                let terms: [(String, Float)]
                do { terms = try rule.step(x, y, lr: out.lastLR) }
                catch { out.stop = .failed(step: out.batches + 1, block: 0, message: "\(error)"); throw StopIteration() }
                if let bad = Divergence.first(terms) { out.stop = .diverged(step: out.batches + 1, term: bad.0); throw StopIteration() }
                sums.add(terms)
                out.batches += 1; out.samples += x.shape[0]
                progress(out.batches)
            }
            out.sums = sums.ordered
            return out
        }
    }
}

/// Loss terms summed in Double over batches, kept in first-appearance order.
public struct TermSums {
    var sums: [String: Double] = [:]
    var order: [String] = []
    public init() {}
    public mutating func accumulate(_ name: String, _ v: Double) {
        if sums[name] == nil { order.append(name) }
        sums[name, default: 0] += v
    }
    public mutating func add(_ terms: [(String, Float)]) { for (name, v) in terms { accumulate(name, Double(v)) } }
    /// Adds another set of sums (another block's terms), keeping this one's names first.
    public mutating func merge(_ other: TermSums) { for (name, v) in other.ordered { accumulate(name, v) } }
    public var ordered: [(String, Double)] { order.map { ($0, sums[$0]!) } }
}

public struct Trainer {
    public var epochs: Int
    public var baseLR: Float
    public var schedule: Schedule
    public var scheduler: StepScheduler
    /// The schedule's factor moves once per epoch (PyTorch's per-epoch `scheduler.step()`), not every iteration.
    public var stepPerEpoch: Bool
    public init(epochs: Int, baseLR: Float, schedule: Schedule, scheduler: StepScheduler = SequentialScheduler(), stepPerEpoch: Bool = false) {
        self.epochs = epochs; self.baseLR = baseLR; self.schedule = schedule; self.scheduler = scheduler; self.stepPerEpoch = stepPerEpoch
    }

    /// `onBatch(epoch, batches done, batches per epoch)` follows progress within an epoch (epochs from 1).
    public func run(_ rule: LearningRule, data: TrainingData, startEpoch: Int = 0,
                    shouldStop: () -> Bool = { false }, onBatch: (Int, Int, Int) -> Void = { _, _, _ in },
                    onEpoch: (EpochRecord) throws -> Void = { _ in }) rethrows -> TrainResult {
        var records: [EpochRecord] = []
        for epoch in startEpoch..<epochs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let batchesPerEpoch = Double(max(1, data.batchesPerEpoch))
            let trained = scheduler.trainEpoch(rule, data: data, epoch: epoch, rate: { i in
                schedule.rate(base: baseLR, at: Double(epoch) + (stepPerEpoch ? 0 : Double(i) / batchesPerEpoch))
            }, shouldStop: shouldStop, progress: { onBatch(epoch + 1, $0, data.batchesPerEpoch) })
            let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            switch trained.stop {
            case .diverged(let step, let term)?: return TrainResult(status: .diverged(epoch: epoch + 1, step: step, term: term), epochs: records)
            case .failed(let step, let block, let message)?:
                return TrainResult(status: .failed(epoch: epoch + 1, step: step, block: block, message: message), epochs: records)
            case .interrupted?: return TrainResult(status: .interrupted, epochs: records)
            case nil: break
            }
            var record = scheduler.evaluationWorkers.map { n in Parallel.withWorkers(n) { evaluate(rule, data: data) } }
                ?? evaluate(rule, data: data)
            record.epoch = epoch + 1
            record.lr = Double(trained.lastLR)
            record.losses = Dictionary(uniqueKeysWithValues: trained.sums.map { ($0.0, $0.1 / Double(max(1, trained.batches))) })
            record.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            record.samplesPerSecond = Double(trained.samples) / trainSeconds
            record.pipeline = trained.pipeline
            records.append(record)
            try onEpoch(record)
        }
        return TrainResult(status: .done, epochs: records)
    }

    /// Test accuracy of the output and of every head, and the method's diagnostics (first test batch).
    public func evaluate(_ rule: LearningRule, data: TrainingData) -> EpochRecord {
        var correct = 0, total = 0, seqCorrect = 0.0, sequences = 0
        var headCorrect: [String: Int] = [:], headOrder: [String] = []
        var diagnostics: [String: Double] = [:]
        var first = true
        data.forEachTestBatch { x, y in
            let logits = rule.predict(x)
            let counted = y.filter { $0 >= 0 }.count
            correct += correctCount(logits, y); total += counted
            if let s = data as? SequenceData {
                let acc = s.task.accuracy(logits: logits, targets: y)
                seqCorrect += acc.sequence * Double(x.shape[0]); sequences += x.shape[0]
            }
            for (name, z) in rule.headLogits(x) {
                if headCorrect[name] == nil { headOrder.append(name) }
                headCorrect[name, default: 0] += correctCount(z, y)
            }
            if first { for (k, v) in rule.diagnostics(x, y) { diagnostics[k] = v }; first = false }
        }
        return EpochRecord(epoch: 0, lr: 0, losses: [:], testAccuracy: Double(correct) / Double(max(1, total)),
                           testSequenceAccuracy: sequences > 0 ? seqCorrect / Double(sequences) : nil,
                           headAccuracy: Dictionary(uniqueKeysWithValues: headOrder.map { ($0, Double(headCorrect[$0]!) / Double(max(1, total))) }),
                           diagnostics: diagnostics, seconds: 0, samplesPerSecond: 0)
    }
}
