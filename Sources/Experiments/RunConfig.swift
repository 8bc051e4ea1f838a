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
    public var dataset: DatasetName
    public var blocks: Int = 1
    public var split: SplitRule = .even
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
    /// S2S: the causal decoder (nil, 0.5.0's) or the bidirectional encoder reading (S2STask.Layout); the
    /// decoder is stored as no value, so existing run ids stay.
    public var s2sLayout: S2STask.Layout? = nil {
        didSet { if s2sLayout == .decoder { s2sLayout = nil } }
    }
    /// The sweep profile this run belongs to ("" for a single run).
    public var profile: String = ""
    /// How the blocks run: nil is sequential (stored as no value, so existing run ids stay); `pipeline`
    /// runs them at once on block workers, with the same bits as sequential for the same per-block threads.
    public var parallel: ParallelMode? = nil {
        didSet { if parallel == .sequential { parallel = nil } }
    }

    /// The initialisation of the recipe's reference code (`init` in specs and run files); nil keeps
    /// 0.5.0's (InitScheme), stored as no value so existing run ids stay.
    public var initScheme: InitScheme? = nil
    /// Whether training epochs leave out the last, smaller batch (a recipe element: the BLL code's loader
    /// drops it, local-loss's keeps it); nil or false keeps it and is stored as no value, so ids stay.
    public var dropLast: Bool? = nil {
        didSet { if dropLast == false { dropLast = nil } }
    }

    enum CodingKeys: String, CodingKey {
        case method, model, dataset, blocks, split, optimizer, epochs, batch, seed, trainSubset, testSubset, augmentation
        case s2sLength, s2sSteps, s2sLayout, profile, parallel
        case initScheme = "init", dropLast
    }

    public init(method: MethodConfig, model: ModelSpec, dataset: DatasetName) {
        self.method = method; self.model = model; self.dataset = dataset
    }

    public var canonicalJSON: String {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // a NaN or infinity (a bad flag) must reach validate() as an error, not trap here; finite configs
        // encode exactly as before, so their ids stay
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: (try? enc.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
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
        case "s2sLength", "s2sSteps", "s2sLayout": return isSequenceTask
        case "trainSubset", "augmentation", "dropLast": return !isSequenceTask
        default: return true
        }
    }

    /// Stores an explicit value that changes nothing as no value, so a spec or command line that states
    /// a recipe element in full names the same run as one that leaves it at its default: an augmentation
    /// equal to the dataset's default, a per-epoch learning-rate step that gives the per-iteration rates.
    public mutating func canonicalize() {
        if let a = augmentation, let def = try? Registry.definition(dataset), a == def.augmentation { augmentation = nil }
        if optimizer.lrStep == .epoch, optimizer.epochSteppingIsExact(epochs: epochs) { optimizer.lrStep = nil }
    }

    /// Whether the run trains on the generated S2S token task (Registry.s2s) rather than images.
    public var isSequenceTask: Bool { dataset.isSequenceTask }

    /// The S2S task this config trains on.
    public func s2sTask() throws -> S2STask { try S2STask(length: s2sLength, digits: 10, layout: s2sLayout ?? .decoder) }

    /// A short human label: "bll resnet18 fashion-mnist K=4 seed 0".
    public var label: String { "\(method.method.rawValue) \(model.arch) \(dataset) K=\(blocks) seed \(seed)" }

    /// The model spec this run builds: the dataset's input shape and classes from the registry (S2S: the
    /// transformer's vocabulary and sequence length). The one place that says what a dataset implies.
    /// `classes`: the loaded dataset's count, for datasets whose class names come with the data
    /// (Tiny-ImageNet's wnids); without it such a dataset keeps the spec's own count.
    public func builtModelSpec(classes loaded: Int? = nil) throws -> ModelSpec {
        var spec = model
        switch Registry.entry(dataset) {
        case .generated:
            let task = try s2sTask()
            spec.arch = .transformer; spec.vocabulary = task.vocabulary; spec.length = task.sequenceLength; spec.classes = task.vocabulary
            spec.causal = task.layout.causal
        case .images(let def):
            spec.inChannels = def.shape.channels; spec.imageSize = def.shape.height
            spec.classes = loaded ?? (def.classNames.isEmpty ? spec.classes : def.classNames.count)
        }
        return spec
    }

    /// Every numeric field's allowed range, checked before anything is built: nothing reaches the engine
    /// that it would trap on or that would not fit in memory. Names are the spec keys (so a spec error can
    /// name its line); an error names the field, the value and the range.
    public func validate() throws {
        func check(_ ok: Bool, _ name: String, _ value: Any, _ allowed: String) throws {
            guard ok else { throw EngineError.invalidArgument(name: name, value: "\(value)", allowed: allowed) }
        }
        func finite(_ x: Double) -> Bool { x.isFinite }
        try check((1...100_000).contains(epochs), "epochs", epochs, "an integer in 1...100000")
        try check((2...65_536).contains(batch), "batch", batch, "an integer in 2...65536")
        try check((1...4096).contains(blocks), "blocks", blocks, "an integer in 1...4096")
        if let n = trainSubset { try check((1...100_000_000).contains(n), "train_subset", n, "an integer ≥ 1 (leave it out for the whole set)") }
        if let n = testSubset { try check((1...100_000_000).contains(n), "test_subset", n, "an integer ≥ 1 (leave it out for the whole set)") }
        try check((1...10).contains(s2sLength), "s2s_length", s2sLength, "an integer in 1...10 (a permutation of the 10 digits)")
        try check((1...10_000_000).contains(s2sSteps), "s2s_steps", s2sSteps, "an integer in 1...10000000")
        let o = optimizer
        try check(finite(o.lr) && o.lr > 0 && o.lr <= 100, "lr", o.lr, "a number in (0, 100]")
        try check(finite(o.momentum) && o.momentum >= 0 && o.momentum < 1, "momentum", o.momentum, "a number in [0, 1)")
        try check(finite(o.weightDecay) && o.weightDecay >= 0 && o.weightDecay < 1, "weight_decay", o.weightDecay, "a number in [0, 1)")
        try check(finite(o.gamma) && o.gamma > 0 && o.gamma <= 1, "gamma", o.gamma, "a factor in (0, 1]")
        try check(o.milestones.allSatisfy { finite($0) && $0 > 0 }, "milestones", o.milestones, "positive epochs (fractions of the run when ≤ 1)")
        try check(finite(o.warmupEpochs) && o.warmupEpochs >= 0 && o.warmupEpochs <= Double(epochs), "warmup", o.warmupEpochs, "epochs in [0, epochs]")
        try check(finite(o.period) && o.period >= 0, "period", o.period, "epochs ≥ 0 (0: the run's length)")
        try check(finite(o.cyclePeak) && o.cyclePeak > 0, "cycle_peak", o.cyclePeak, "an epoch > 0")
        try model.validate()
        try method.validate()
        let bytes = parameterBytes()
        if bytes > RunConfig.parameterBudget {
            let size = RunConfig.memoryText
            throw EngineError.invalidArgument(name: "model size", value: size(bytes), allowed: "at most \(size(RunConfig.parameterBudget)) of parameters with "
                                              + "their gradients and optimizer state (width, hidden, d_model, ffn, vgg_hidden set it)")
        }
        if initScheme == .torchvision, model.arch.family != .resnet {
            throw EngineError.invalidArgument(name: "init", value: "torchvision", allowed: "pytorch-default, local-loss or biotorch for \(model.arch) "
                                              + "(torchvision's init is defined for the ResNets here)")
        }
        try ParallelMode.check(parallel, method: method.method)
    }

    /// A byte count as the memory errors print it ("1.39 TB").
    static func memoryText(_ bytes: Double) -> String {
        ByteCountFormatter.string(fromByteCount: Int64(min(bytes, Double(Int64.max))), countStyle: .memory)
    }

    /// What one training step's activations may take: 16 GiB (two thirds of this machine).
    public static let activationBudget = 16.0 * 1024 * 1024 * 1024
    /// Bytes of working memory per float of a unit's output in one training step: the output kept for
    /// backward, the intermediates inside the unit (convolution and normalisation outputs) and the gradients.
    static let activationFactor = 4.0 * 4

    /// An estimate of one training step's activation memory in bytes: every unit's output at batch 1, read off
    /// `probe` (a copy of this run's model, built at `probeWidth`; convolutional activations grow linearly with
    /// the width), times the batch and `activationFactor`. Transformers by formula, attention matrices included.
    func activationBytes(probe: Model, probeWidth: Double) -> Double {
        let m = (try? builtModelSpec()) ?? model
        var perSample = 0.0
        if m.isSequence {
            let t = Double(m.length), d = Double(m.dModel)
            perSample = Double(m.layers) * (t * (8 * d + 2 * Double(m.ffn)) + 2 * Double(m.heads) * t * t) + 2 * t * Double(m.vocabulary)
        } else {
            let scale = m.arch == .mlp ? 1 : m.width / probeWidth
            perSample = ((try? probe.unitShapes(batch: 1)) ?? []).map { Double($0.reduce(1, *)) }.reduce(0, +) * scale
        }
        return perSample * Double(batch) * RunConfig.activationFactor
    }

    /// A one-line error when one training step would not fit (e.g. `--batch 65536` on a wide ResNet-50).
    func checkActivations(probe: Model, probeWidth: Double) throws {
        let bytes = activationBytes(probe: probe, probeWidth: probeWidth)
        guard bytes > RunConfig.activationBudget else { return }
        let size = RunConfig.memoryText
        throw EngineError.invalidArgument(name: "activation memory", value: size(bytes), allowed: "at most \(size(RunConfig.activationBudget)) for one "
                                          + "training step (batch \(batch) × about \(size(bytes / Double(batch))) per sample; lower the batch, width or image size)")
    }

    /// What parameters, gradients and two optimizer moments may take: 8 GiB (a third of this machine).
    public static let parameterBudget = 8.0 * 1024 * 1024 * 1024

    /// An upper estimate of the bytes of parameters × 4 (value, gradient, two moments), computed without
    /// building the model at its size: fully connected and transformer sizes by formula; ResNet and VGG
    /// convolutions from a copy built at width ≤ 1/16 (a few hundred thousand weights at most), scaled by
    /// the square of the width ratio (conv weights grow with in × out channels; the stem and the classifier
    /// grow slower, so this over-estimates).
    func parameterBytes() -> Double {
        let m = (try? builtModelSpec()) ?? model
        var p = 0.0
        let input = Double(m.inChannels * m.imageSize * m.imageSize)
        switch m.arch {
        case .mlp:
            var prev = input
            for h in m.hidden { p += prev * Double(h); prev = Double(h) }
            p += prev * Double(max(m.classes, 10))
        case .transformer:
            let d = Double(m.dModel)
            p = Double(m.layers) * (4 * d * d + 2 * d * Double(m.ffn)) + Double(m.vocabulary) * d * 2
        default:
            // up to width 2 every family stays far below the budget (ResNet-152: 58 M weights at width 1,
            // about 3.7 GB with gradients and moments at width 2): no probe needed, planning stays fast
            var probe = m
            probe.width = min(m.width, 1.0 / 16); probe.vggHidden = probe.vggHidden.map { $0.map { _ in 1 } }
            if m.width > 2, let built = try? probe.build(seed: 0) {
                p = Double(built.parameterCount) * (m.width / probe.width) * (m.width / probe.width)
            }
            // the flattened conv output: at most 512·width channels after at least 4 max-pools (VGG.swift)
            let side = Double((m.imageSize + 15) / 16)
            var prev = 512 * m.width * side * side
            for h in m.vggHidden ?? [] { p += prev * Double(h); prev = Double(h) }
        }
        return p * 4 * 4
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
        try SweepSpec.checkSplit(c)   // K, split and activation memory on a thin copy, before any data is loaded
        config = c
        var spec = try c.builtModelSpec()
        var checksums: [String: String] = [:]
        if c.isSequenceTask {
            data = SequenceData(task: try c.s2sTask(), batchSize: c.batch, stepsPerEpoch: c.s2sSteps,
                                testCount: c.testSubset ?? 2000, seed: c.seed)
            checksums[c.dataset.rawValue] = "generated"
        } else {
            let def = try Registry.definition(c.dataset)
            if try store.status(def) != .valid { try store.fetch(def, options: fetch) }
            let ds = try store.load(c.dataset.rawValue)
            guard (ds.channels, ds.height) == (spec.inChannels, spec.imageSize) else {
                throw DatasetError.badFormat(file: c.dataset.rawValue + ".h5", reason: "the cache holds \(ds.channels)×\(ds.height) images, the registry declares \(spec.inChannels)×\(spec.imageSize)")
            }
            spec = try c.builtModelSpec(classes: ds.classNames.count)
            let images = ImageData(dataset: ds, mean: def.mean, std: def.std, augmentation: c.augmentation ?? def.augmentation, batchSize: c.batch,
                                   trainSubset: c.trainSubset, testSubset: c.testSubset, seed: c.seed, dropLast: c.dropLast ?? false)
            data = images
            guard images.batchesPerEpoch > 0 else {
                throw EngineError.invalidArgument(name: "drop_last", value: "true", allowed: "a training set of at least one full batch "
                                                  + "(\(c.trainSubset ?? ds.train.count) samples < batch \(c.batch)); lower the batch or leave drop_last out")
            }
            for f in def.files { checksums[f.filename] = f.check.expected }
        }
        datasetChecksums = checksums
        model = try spec.build(seed: c.seed)
        if let scheme = c.initScheme { model.initialize(scheme, seed: c.seed) }
        let blocks = try BlockSplit.split(model, blocks: c.blocks, rule: c.split,
                                          headMACs: Methods.headMACs(c.method, classes: spec.classes))
        rule = try Methods.make(MethodSetup(model: model, blocks: blocks, config: c.method, optimizer: c.optimizer,
                                            classes: data.classes, seed: c.seed, initScheme: c.initScheme))
        trainer = Trainer(epochs: c.epochs, baseLR: Float(c.optimizer.lr), schedule: c.optimizer.schedule(epochs: c.epochs),
                          scheduler: try execution.scheduler(for: rule, mode: c.parallel), stepPerEpoch: c.optimizer.lrStep == .epoch)
    }
}
