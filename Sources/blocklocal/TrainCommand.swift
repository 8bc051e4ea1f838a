import ArgumentParser
import Datasets
import Engine
import Experiments
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
    @Option(help: "Training augmentation: none, flip, crop:P, crop:P,flip (default: the dataset's).") var augment: String?
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

    /// The typed, canonical config of this training.
    func runConfig() throws -> RunConfig {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batch >= 2 else { throw ValidationError("--batch must be at least 2") }
        var spec = ModelSpec(arch: model)
        spec.width = width
        guard let st = ModelSpec.Stem(rawValue: stem) else { throw ValidationError("invalid --stem '\(stem)': allowed cifar, imagenet") }
        spec.stem = st
        if dataset == "s2s" { spec.arch = "transformer"; spec.layers = layers; spec.dModel = dModel; spec.heads = heads; spec.ffn = 4 * dModel }
        var c = RunConfig(method: try methodConfig(), model: spec, dataset: dataset)
        c.blocks = blocks; c.split = split; c.optimizer = try optimizerConfig(); c.epochs = epochs; c.batch = batch
        if let augment { c.augmentation = try Augmentation(parsing: augment) }
        c.seed = seed; c.trainSubset = trainSubset; c.testSubset = testSubset; c.s2sLength = s2sLength; c.s2sSteps = s2sSteps
        _ = try SplitRule(parsing: split)
        try c.validate()
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
        let config = try train.runConfig()
        let prepared = try PreparedRun(config, store: data.store, fetch: data.fetchOptions)
        let model = prepared.model, learner = prepared.rule, trainingData = prepared.data
        let blocks = learner.blocks
        print("\(config.method.method.rawValue) on \(config.model.arch) (\(model.parameterCount) parameters), \(config.dataset), K = \(blocks.count) [\(blocks.map(\.name).joined(separator: " | "))]")
        var header = false
        Interrupt.install()
        let result = prepared.trainer.run(learner, data: trainingData, shouldStop: { Interrupt.requested }) { r in
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
        if result.status == .interrupted { throw ExitCode(130) }
    }
}
