// The training loop: epochs over the data with the method's step, the learning rate from the schedule
// at the fractional epoch, evaluation on the test set after every epoch (output accuracy; each local
// head's accuracy; method diagnostics; for sequences token and whole-sequence accuracy), loss terms
// averaged over the epoch, wall time and samples/s. A NaN or infinite loss stops the run as diverged.

import Datasets
import Engine
import Foundation

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
    /// Stopped on request (Ctrl-C) before the epoch ended; the last checkpoint stands.
    case interrupted
    public var description: String {
        switch self {
        case .done: return "done"
        case .interrupted: return "interrupted"
        case let .diverged(e, s, t): return "diverged at epoch \(e), step \(s) (\(t) is not finite)"
        }
    }
}

public struct TrainResult: Sendable {
    public var status: RunStatus
    public var epochs: [EpochRecord]
}

public struct Trainer {
    public var epochs: Int
    public var baseLR: Float
    public var schedule: Schedule
    public init(epochs: Int, baseLR: Float, schedule: Schedule) { self.epochs = epochs; self.baseLR = baseLR; self.schedule = schedule }

    public func run(_ rule: LearningRule, data: TrainingData, startEpoch: Int = 0,
                    shouldStop: () -> Bool = { false }, onEpoch: (EpochRecord) throws -> Void = { _ in }) rethrows -> TrainResult {
        var records: [EpochRecord] = []
        for epoch in startEpoch..<epochs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var sums: [String: Double] = [:], order: [String] = []
            var batches = 0, samples = 0
            var diverged: RunStatus? = nil
            var lr = baseLR
            let batchesPerEpoch = Double(max(1, data.batchesPerEpoch))
            var stopped = false
            data.forEachTrainBatch(epoch: epoch) { x, y in
                guard diverged == nil, !stopped else { return }
                if shouldStop() { stopped = true; return }
                lr = schedule.rate(base: baseLR, at: Double(epoch) + Double(batches) / batchesPerEpoch)
                let terms = rule.step(x, y, lr: lr)
                for (name, v) in terms {
                    if !v.isFinite { diverged = .diverged(epoch: epoch + 1, step: batches + 1, term: name); return }
                    if sums[name] == nil { order.append(name) }
                    sums[name, default: 0] += Double(v)
                }
                batches += 1; samples += x.shape[0]
            }
            let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if let diverged { return TrainResult(status: diverged, epochs: records) }
            if stopped { return TrainResult(status: .interrupted, epochs: records) }
            var record = evaluate(rule, data: data)
            record.epoch = epoch + 1
            record.lr = Double(lr)
            record.losses = Dictionary(uniqueKeysWithValues: order.map { ($0, sums[$0]! / Double(max(1, batches))) })
            record.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            record.samplesPerSecond = Double(samples) / trainSeconds
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
