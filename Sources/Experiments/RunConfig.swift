// RunConfig: everything that decides a training run, as one typed, canonical value. Its run id is the
// sha256 of its canonical JSON (sorted keys, JSONEncoder's shortest round-trip number formatting) and the
// id version: the same config is the same id on every machine; any change is a new id.

import Crypto
import Datasets
import Engine
import Foundation
import Methods
import Scheduling

public struct RunConfig: Codable, Hashable, Sendable {
    public var method: MethodConfig
    public var model: ModelSpec
    public var dataset: String
    public var blocks: Int = 1
    public var split: String = "even"
    public var optimizer: OptimizerConfig = OptimizerConfig()
    public var epochs: Int = 1
    public var batch: Int = 128
    public var seed: UInt64 = 0
    public var trainSubset: Int? = nil
    public var testSubset: Int? = nil
    /// Training-set augmentation; nil keeps the dataset's default (Registry). Optional so that configs
    /// without it keep their canonical JSON and run id.
    public var augmentation: Augmentation? = nil
    /// S2S: digits to reverse and training steps per epoch.
    public var s2sLength: Int = 10
    public var s2sSteps: Int = 200
    /// The sweep profile this run belongs to ("" for a single run).
    public var profile: String = ""
    /// How the blocks run: nil is sequential (stored as no value, so existing run ids stay); `pipeline`
    /// runs them at once on block workers, with the same bits as sequential for the same per-block threads.
    public var parallel: ParallelMode? = nil {
        didSet { if parallel == .sequential { parallel = nil } }
    }

    public init(method: MethodConfig, model: ModelSpec, dataset: String) {
        self.method = method; self.model = model; self.dataset = dataset
    }

    public var canonicalJSON: String {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! enc.encode(self), as: UTF8.self)
    }

    /// The version the run id hashes with the canonical JSON: it changes only when the meaning of a
    /// config changes (so a stored run would no longer be what its config says), never with the run
    /// file's layout (RunFile.formatVersion). 1 since 0.1.0; the ids of 0.5.0's configs are pinned (tests).
    public static let idVersion = 1

    /// 16 hex digits of sha256(canonical JSON + "\nformat " + idVersion).
    public var runID: String {
        let digest = SHA256.hash(data: Data((canonicalJSON + "\nformat \(RunConfig.idVersion)").utf8))
        return digest.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a flattened config key ("model.dModel", "s2sSteps") is read by this run: the model
    /// fields of its architecture, its method's settings, its optimizer's and schedule's, the dataset's.
    public func applies(_ key: String) -> Bool {
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        switch parts[0] {
        case "model": return parts.count == 2 && model.fieldsInUse.contains(parts[1])
        case "method": return parts.count == 2 && method.fieldsInUse.contains(parts[1])
        case "optimizer": return parts.count == 2 && optimizer.fieldsInUse.contains(parts[1])
        case "s2sLength", "s2sSteps": return dataset == "s2s"
        case "trainSubset", "augmentation": return dataset != "s2s"
        default: return true
        }
    }

    /// A short human label: "bll resnet18 fashion-mnist K=4 seed 0".
    public var label: String { "\(method.method.rawValue) \(model.arch) \(dataset) K=\(blocks) seed \(seed)" }

    /// The model spec this run builds: the dataset's input shape and classes from the registry (S2S: the
    /// transformer's vocabulary and sequence length). The one place that says what a dataset implies.
    /// `classes`: the loaded dataset's count, for datasets whose class names come with the data
    /// (Tiny-ImageNet's wnids); without it such a dataset keeps the spec's own count.
    public func builtModelSpec(classes loaded: Int? = nil) throws -> ModelSpec {
        var spec = model
        if dataset == "s2s" {
            let task = try S2STask(length: s2sLength, digits: 10)
            spec.arch = "transformer"; spec.vocabulary = task.vocabulary; spec.length = task.sequenceLength; spec.classes = task.vocabulary
        } else {
            let def = try Registry.definition(dataset)
            spec.inChannels = def.shape.channels; spec.imageSize = def.shape.height
            spec.classes = loaded ?? (def.classNames.isEmpty ? spec.classes : def.classNames.count)
        }
        return spec
    }

    public func validate() throws {
        guard epochs >= 1 else { throw EngineError.invalidArgument(name: "epochs", value: "\(epochs)", allowed: "an integer ≥ 1") }
        guard batch >= 2 else { throw EngineError.invalidArgument(name: "batch", value: "\(batch)", allowed: "an integer ≥ 2") }
        _ = try SplitRule(parsing: split)
        try ParallelMode.check(parallel, method: method.method)
        guard dataset == "s2s" || Registry.all.contains(where: { $0.name == dataset }) else {
            throw DatasetError.unknownDataset(dataset, known: Registry.names)
        }
    }
}

/// A run made ready to train: the learning rule, its data and the loop.
public struct PreparedRun {
    public let config: RunConfig
    public let model: Model
    public let rule: LearningRule
    public let data: TrainingData
    public let trainer: Trainer
    /// Checksums of the dataset cache's sources (provenance).
    public let datasetChecksums: [String: String]

    public init(_ c: RunConfig, store: DatasetStore, fetch: FetchOptions = FetchOptions(),
                execution: ExecutionSettings = ExecutionSettings(threads: Parallel.workers)) throws {
        try c.validate()
        config = c
        var spec = try c.builtModelSpec()
        var checksums: [String: String] = [:]
        if c.dataset == "s2s" {
            data = SequenceData(task: try S2STask(length: c.s2sLength, digits: 10), batchSize: c.batch, stepsPerEpoch: c.s2sSteps,
                                testCount: c.testSubset ?? 2000, seed: c.seed)
            checksums["s2s"] = "generated"
        } else {
            let def = try Registry.definition(c.dataset)
            if try store.status(def) != .valid { try store.fetch(def, options: fetch) }
            let ds = try store.load(c.dataset)
            guard (ds.channels, ds.height) == (spec.inChannels, spec.imageSize) else {
                throw DatasetError.badFormat(file: c.dataset + ".h5", reason: "the cache holds \(ds.channels)×\(ds.height) images, the registry declares \(spec.inChannels)×\(spec.imageSize)")
            }
            spec = try c.builtModelSpec(classes: ds.classNames.count)
            data = ImageData(dataset: ds, mean: def.mean, std: def.std, augmentation: c.augmentation ?? def.augmentation, batchSize: c.batch,
                             trainSubset: c.trainSubset, testSubset: c.testSubset, seed: c.seed)
            for f in def.files { checksums[f.filename] = f.check.expected }
        }
        datasetChecksums = checksums
        model = try spec.build(seed: c.seed)
        let blocks = try BlockSplit.split(model, blocks: c.blocks, rule: try SplitRule(parsing: c.split),
                                          headMACs: Methods.headMACs(c.method, classes: spec.classes))
        rule = try Methods.make(MethodSetup(model: model, blocks: blocks, config: c.method, optimizer: c.optimizer,
                                            classes: data.classes, seed: c.seed))
        trainer = Trainer(epochs: c.epochs, baseLR: Float(c.optimizer.lr), schedule: c.optimizer.schedule(epochs: c.epochs),
                          scheduler: try execution.scheduler(for: rule, mode: c.parallel))
    }
}
