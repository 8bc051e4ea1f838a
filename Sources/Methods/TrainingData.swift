// What the training loop reads: batches of inputs and labels for training and for the test set.
// ImageData wraps the HDF5-cached image datasets (via ImageLoader); SequenceData the generated S2S task.

import Datasets
import Engine

public protocol TrainingData: AnyObject {
    /// Output classes (the vocabulary for sequences).
    var classes: Int { get }
    var trainSamplesPerEpoch: Int { get }
    var batchesPerEpoch: Int { get }
    var isSequence: Bool { get }
    func forEachTrainBatch(epoch: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows
    func forEachTestBatch(_ body: (Tensor, [Int32]) throws -> Void) rethrows
}

public final class ImageData: TrainingData {
    public let train: ImageLoader, test: ImageLoader
    public let classes: Int
    public var isSequence: Bool { false }
    public var trainSamplesPerEpoch: Int { train.dropLast ? train.batchesPerEpoch * train.batchSize : train.split.count }
    public var batchesPerEpoch: Int { train.batchesPerEpoch }

    /// `dropLast`: training epochs leave out the last, smaller batch (evaluation never does).
    public init(dataset: ImageDataset, mean: [Float], std: [Float], augmentation: Augmentation, batchSize: Int,
                trainSubset: Int? = nil, testSubset: Int? = nil, seed: UInt64, evalBatch: Int = 500, dropLast: Bool = false) {
        classes = dataset.classNames.count
        let tr = trainSubset.map { dataset.train.subset($0, seed: seed) } ?? dataset.train
        let te = testSubset.map { dataset.test.subset($0, seed: seed) } ?? dataset.test
        train = ImageLoader(split: tr, channels: dataset.channels, height: dataset.height, width: dataset.width, mean: mean, std: std,
                            batchSize: batchSize, shuffle: true, augmentation: augmentation, seed: seed, dropLast: dropLast)
        test = ImageLoader(split: te, channels: dataset.channels, height: dataset.height, width: dataset.width, mean: mean, std: std,
                           batchSize: evalBatch, shuffle: false, augmentation: .none, seed: seed)
    }

    public func forEachTrainBatch(epoch: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows {
        try train.forEachBatch(epoch: epoch) { _, x, y in try body(x, y) }
    }
    public func forEachTestBatch(_ body: (Tensor, [Int32]) throws -> Void) rethrows {
        try test.forEachBatch(epoch: 0) { _, x, y in try body(x, y) }
    }
}

public final class SequenceData: TrainingData {
    public let task: S2STask
    public let batchSize: Int, stepsPerEpoch: Int
    let seed: UInt64
    let testInputs: [[Int]]
    let testKeys: Set<Int>
    /// Test sequences that have also appeared in training so far (by construction the sets are not disjoint).
    public private(set) var testSeenInTraining = Set<Int>()
    public var classes: Int { task.vocabulary }
    public var isSequence: Bool { true }
    public var trainSamplesPerEpoch: Int { batchSize * stepsPerEpoch }
    public var batchesPerEpoch: Int { stepsPerEpoch }

    public init(task: S2STask, batchSize: Int, stepsPerEpoch: Int, testCount: Int, seed: UInt64) {
        self.task = task; self.batchSize = batchSize; self.stepsPerEpoch = stepsPerEpoch; self.seed = seed
        testInputs = task.testSet(count: testCount, seed: seed ^ 0x5EED_7E57)
        testKeys = Set(testInputs.map(task.key))
    }

    /// Restores the overlap count from a checkpoint.
    public func restoreSeen(_ keys: [Int]) { testSeenInTraining = Set(keys) }

    public func forEachTrainBatch(epoch: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows {
        var rng = RandomStream(seed: seed, name: "s2s/train/epoch-\(epoch)")
        for _ in 0..<stepsPerEpoch {
            let b = task.trainBatch(size: batchSize, rng: &rng)
            for x in b.inputs { let k = task.key(x); if testKeys.contains(k) { testSeenInTraining.insert(k) } }
            try body(b.tokens, b.targets)
        }
    }
    public func forEachTestBatch(_ body: (Tensor, [Int32]) throws -> Void) rethrows {
        for start in stride(from: 0, to: testInputs.count, by: 500) {
            let (t, y) = task.batch(Array(testInputs[start..<min(testInputs.count, start + 500)]))
            try body(t, y)
        }
    }
}
