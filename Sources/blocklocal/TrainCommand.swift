import ArgumentParser
import Datasets
import Engine
import Foundation
import Methods

/// Model, data and budget of one training (shared by `train`, and later by `run`).
struct TrainOptions: ParsableArguments {
    @Option(help: "Learning rule: \(MethodName.list).") var method: String = "bp"
    @Option(help: "Model: \(ModelSpec.architectures.joined(separator: ", ")).") var model: String = "resnet18"
    @Option(help: "Channel multiplier (ResNet, VGG).") var width: Double = 0.25
    @Option(help: "ResNet stem: cifar or imagenet.") var stem: String = "cifar"
    @Option(help: "Dataset: \(Registry.names.joined(separator: ", ")).") var dataset: String = "fashion-mnist"
    @Option(help: "Number of blocks K.") var blocks: Int = 1
    @Option(help: "Split rule: \(SplitRule.names.joined(separator: ", ")).") var split: String = "even"
    @Option(help: "Epochs.") var epochs: Int = 1
    @Option(help: "Batch size.") var batch: Int = 128
    @Option(help: "Optimizer: sgd, adam, adamw.") var optimizer: String = "adam"
    @Option(help: "Base learning rate.") var lr: Double = 5e-4
    @Option(help: "SGD momentum.") var momentum: Double = 0.9
    @Option(help: "Weight decay.") var weightDecay: Double = 0
    @Option(help: "Schedule: constant, step, cosine, cycle.") var schedule: String = "constant"
    @Option(help: "Seed of every random stream of the run.") var seed: UInt64 = 0
    @Option(help: "Train on a fixed random subset of this many samples.") var trainSubset: Int?
    @Option(help: "Evaluate on a fixed random subset of this many test samples.") var testSubset: Int?
    @Option(name: .customLong("set"), help: "Method setting key=value (repeatable); see the method's keys.") var settings: [String] = []
    @Option(name: .customLong("opt"), help: "Optimizer setting key=value (repeatable): \(OptimizerConfig.keys.joined(separator: ", ")).") var optSettings: [String] = []
    @Option(help: "S2S: digits to reverse (sequence length L).") var s2sLength: Int = 10
    @Option(help: "S2S: training steps per epoch.") var s2sSteps: Int = 200
    @Option(help: "Transformer layers (S2S).") var layers: Int = 20
    @Option(help: "Transformer d_model (S2S).") var dModel: Int = 64
    @Option(help: "Transformer heads (S2S).") var heads: Int = 1

    func keyValues(_ list: [String], _ flag: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in list {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--\(flag) expects key=value, got '\(item)'") }
            out[String(parts[0])] = String(parts[1])
        }
        return out
    }

    func methodConfig() throws -> MethodConfig {
        guard let m = MethodName(rawValue: method) else {
            throw ValidationError("invalid --method '\(method)': allowed \(MethodName.list)")
        }
        var c = MethodConfig(method: m)
        try c.apply(keyValues(settings, "set"))
        return c
    }

    func optimizerConfig() throws -> OptimizerConfig {
        var o = OptimizerConfig()
        var kv = try keyValues(optSettings, "opt")
        kv["optimizer"] = kv["optimizer"] ?? optimizer
        kv["lr"] = kv["lr"] ?? String(lr)
        kv["momentum"] = kv["momentum"] ?? String(momentum)
        kv["weight_decay"] = kv["weight_decay"] ?? String(weightDecay)
        kv["schedule"] = kv["schedule"] ?? schedule
        try o.apply(kv)
        return o
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train one network with one learning rule and print a per-epoch table.")
    @OptionGroup var train: TrainOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var exec: ExecOptions

    func run() throws {
        exec.apply()
        let t = train
        guard t.epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard t.batch >= 2 else { throw ValidationError("--batch must be at least 2") }
        let mc = try t.methodConfig(), oc = try t.optimizerConfig()
        let rule: SplitRule = try SplitRule(parsing: t.split)
        var spec = ModelSpec(arch: t.model)
        let trainingData: TrainingData
        if t.dataset == "s2s" {
            let task = try S2STask(length: t.s2sLength, digits: 10)
            spec = ModelSpec(arch: "transformer")
            spec.layers = t.layers; spec.dModel = t.dModel; spec.heads = t.heads; spec.ffn = 4 * t.dModel
            spec.vocabulary = task.vocabulary; spec.length = task.sequenceLength; spec.classes = task.vocabulary
            trainingData = SequenceData(task: task, batchSize: t.batch, stepsPerEpoch: t.s2sSteps, testCount: t.testSubset ?? 2000, seed: t.seed)
        } else {
            let def = try Registry.definition(t.dataset)
            let store = data.store
            if case .missing = try store.status(def) { try store.fetch(def, options: data.fetchOptions) }
            let ds = try store.load(t.dataset)
            spec.width = t.width; spec.inChannels = ds.channels; spec.imageSize = ds.height; spec.classes = ds.classNames.count
            guard let stem = ModelSpec.Stem(rawValue: t.stem) else { throw ValidationError("invalid --stem '\(t.stem)': allowed cifar, imagenet") }
            spec.stem = stem
            trainingData = ImageData(dataset: ds, mean: def.mean, std: def.std, augmentation: def.augmentation, batchSize: t.batch,
                                     trainSubset: t.trainSubset, testSubset: t.testSubset, seed: t.seed)
        }
        let model = try spec.build(seed: t.seed)
        let blocks = try BlockSplit.split(model, blocks: t.blocks, rule: rule)
        let learner = try Methods.make(MethodSetup(model: model, blocks: blocks, config: mc, optimizer: oc,
                                                   classes: trainingData.classes, seed: t.seed))
        print("\(mc.method.rawValue) on \(t.model) (\(model.parameterCount) parameters), \(t.dataset), K = \(blocks.count) [\(blocks.map(\.name).joined(separator: " | "))]")
        let trainer = Trainer(epochs: t.epochs, baseLR: Float(oc.lr), schedule: oc.schedule(epochs: t.epochs))
        var header = false
        let result = trainer.run(learner, data: trainingData) { r in
            if !header {
                print("epoch".padded(6) + "loss".leftPadded(9) + "test acc".leftPadded(10) + (r.testSequenceAccuracy != nil ? "seq acc".leftPadded(9) : "")
                      + "   heads / diagnostics".padded(24) + "s".leftPadded(8) + "samples/s".leftPadded(11))
                header = true
            }
            let loss = r.losses.values.reduce(0, +)
            let extra = (r.headAccuracy.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }
                         + r.diagnostics.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }).joined(separator: ", ")
            print("\(r.epoch)".padded(6) + String(format: "%.4f", loss).leftPadded(9) + String(format: "%.4f", r.testAccuracy).leftPadded(10)
                  + (r.testSequenceAccuracy.map { String(format: "%.4f", $0).leftPadded(9) } ?? "")
                  + "   " + extra.padded(21) + String(format: "%.1f", r.seconds).leftPadded(8) + String(format: "%.0f", r.samplesPerSecond).leftPadded(11))
        }
        if let s = trainingData as? SequenceData { print("test sequences also seen in training: \(s.testSeenInTraining.count)") }
        if case .diverged = result.status { throw ValidationError("the run \(result.status); lower --lr or change the method's settings") }
    }
}
