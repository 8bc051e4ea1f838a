import ArgumentParser
import Datasets
import Engine
import Experiments
import Foundation
import MessagePassing
import Methods
import Scheduling

/// Model, data and budget of one training (shared by `train`, and later by `run`).
struct TrainOptions: ParsableArguments {
    @Option(help: "Learning rule: \(MethodName.list).") var method: String = "bp"
    @Option(help: "Model: \(Architecture.list).") var model: String = "resnet18"
    @Option(help: "Channel multiplier (ResNet, VGG).") var width: Double = Defaults.width
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
    @Flag(name: .customLong("drop-last"), help: "Leave out each training epoch's last, smaller batch (PyTorch's drop_last).") var dropLast = false
    @Option(name: .customLong("init"), help: "Initialisation of a reference code: torchvision, pytorch-default, local-loss, biotorch (default: 0.5.0's; docs/methods.md).") var initScheme: String?
    @Option(help: "Evaluate on a fixed random subset of this many test samples.") var testSubset: Int?
    @Option(name: .customLong("set"), help: "Method setting key=value (repeatable): \(RulesCommand.keyList) (`blocklocal rules` lists each with its default and range).")
    var settings: [String] = []
    @Option(name: .customLong("opt"), help: "Optimizer setting key=value (repeatable): \(OptimizerConfig.keys.joined(separator: ", ")).") var optSettings: [String] = []
    @Option(help: "S2S: digits to reverse (sequence length L).") var s2sLength: Int = 10
    @Option(help: "S2S: training steps per epoch.") var s2sSteps: Int = 200
    @Option(help: "S2S: decoder (causal, teacher forcing) or encoder (bidirectional, the reversal at every position).") var s2sLayout: String = "decoder"
    @Option(help: "Transformer layers (S2S).") var layers: Int = 20
    @Option(help: "Transformer d_model (S2S).") var dModel: Int = 64
    @Option(help: "Transformer heads (S2S).") var heads: Int = 1
    @Option(help: "How the blocks run: \(ParallelMode.list) (pipeline: one worker thread per block at once; mpi: one MPI rank per block, under mpirun -np K or srun --ntasks=K; local rules only).")
    var parallel: String = "sequential"

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
            throw ValidationError("invalid --method '\(method)': allowed \(MethodName.list)\(Suggestion.phrase(method, in: MethodName.allCases.map(\.rawValue)))")
        }
        var c = MethodConfig(method: m)
        try c.apply(keyValues(settings, "set"))
        return c
    }

    /// The typed, canonical config of this training.
    func runConfig() throws -> RunConfig {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batch >= 2 else { throw ValidationError("--batch must be at least 2") }
        var spec = ModelSpec(arch: try Architecture(parsing: model))
        spec.width = width
        guard let st = ModelSpec.Stem(rawValue: stem) else { throw ValidationError("invalid --stem '\(stem)': allowed cifar, imagenet") }
        spec.stem = st
        let name = try DatasetName(parsing: dataset)
        if name.isSequenceTask { spec.arch = .transformer; spec.layers = layers; spec.dModel = dModel; spec.heads = heads; spec.ffn = 4 * dModel }
        var c = RunConfig(method: try methodConfig(), model: spec, dataset: name)
        c.blocks = blocks; c.split = try SplitRule(parsing: split); c.optimizer = try optimizerConfig(); c.epochs = epochs; c.batch = batch
        if let augment { c.augmentation = try Augmentation(parsing: augment) }
        if let initScheme { c.initScheme = try InitScheme(parsing: initScheme) }
        if dropLast { c.dropLast = true }
        c.seed = seed; c.trainSubset = trainSubset; c.testSubset = testSubset; c.s2sLength = s2sLength; c.s2sSteps = s2sSteps
        c.parallel = try ParallelMode(parsing: parallel)
        guard let layout = S2STask.Layout(rawValue: s2sLayout) else { throw ValidationError("invalid --s2s-layout '\(s2sLayout)': allowed \(S2STask.Layout.list)") }
        c.s2sLayout = layout
        c.canonicalize()
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

/// The machine-side knobs of a pipelined run (not part of the run id; recorded in provenance).
struct ParallelOptions: ParsableArguments {
    @Option(help: "Engine threads of each pipeline worker (default max(1, threads / workers)); results are bit-identical to a sequential run on this many threads.")
    var threadsPerBlock: Int?
    @Option(help: "Pipeline workers, each owning a contiguous run of blocks (default: one per block).")
    var workers: Int?
    @Option(help: "Batches a pipeline worker may run ahead of the next one.")
    var queueDepth: Int = 1

    func settings(threads: Int, session: MPISession? = nil) -> ExecutionSettings {
        ExecutionSettings(threads: threads, threadsPerBlock: threadsPerBlock, workers: workers, queueDepth: queueDepth, session: session)
    }

    /// These knobs only mean something for a pipelined or MPI run (--workers: pipelined only).
    func check(_ mode: ParallelMode?) throws {
        if mode == .mpi, workers != nil { throw ValidationError("--workers applies to --parallel pipeline only (under MPI each rank is one block's worker)") }
        guard mode != .pipeline && mode != .mpi else { return }
        if workers != nil { throw ValidationError("--workers applies to --parallel pipeline only") }
        for (flag, given) in [("--threads-per-block", threadsPerBlock != nil), ("--queue-depth", queueDepth != 1)] where given {
            throw ValidationError("\(flag) applies to --parallel pipeline or mpi only")
        }
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train one network with one learning rule and print a per-epoch table.")
    @OptionGroup var train: TrainOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var exec: ExecOptions
    @OptionGroup var pipeline: ParallelOptions

    func run() throws {
        exec.apply()
        let parsed = try train.runConfig()
        try pipeline.check(parsed.parallel)
        try MPIJob.dispatch(parsed, profiles: (ProcessInfo.processInfo.environment["BLOCKLOCAL_RESULTS"] ?? "results") + "/profiles", data: data,
                            execution: { [pipeline, exec] in pipeline.settings(threads: exec.threads, session: $0) }) { try train($0, session: $1) }
    }

    func train(_ config: RunConfig, session: MPISession?) throws {
        let prepared = try PreparedRun(config, store: data.store, fetch: data.fetchOptions, execution: pipeline.settings(threads: exec.threads, session: session))
        try session?.requireAllReady()
        let model = prepared.model, learner = prepared.rule, trainingData = prepared.data
        let blocks = learner.blocks
        print("\(config.method.method.rawValue) on \(config.model.arch) (\(model.parameterCount) parameters), \(config.dataset), K = \(blocks.count) [\(blocks.map(\.name).joined(separator: " | "))]")
        if let p = prepared.trainer.scheduler as? PipelineScheduler {
            print("pipelined: \(p.workers) workers × \(p.threadsPerWorker) engine thread\(p.threadsPerWorker == 1 ? "" : "s"), queue depth \(p.queueDepth)")
        }
        if let m = prepared.trainer.scheduler as? MPIScheduler {
            print("MPI: \(m.ranges.count) ranks (\(m.session.launcher.name)) × \(m.threadsPerWorker) engine thread\(m.threadsPerWorker == 1 ? "" : "s"), queue depth \(m.queueDepth)")
        }
        var header = false
        Interrupt.install()
        let progress = ProgressLine(epochs: config.epochs, batch: config.batch)
        let result = prepared.trainer.run(learner, data: trainingData, shouldStop: { Interrupt.requested }, onBatch: progress.update) { r in
            progress.clear()
            if !header {
                print("epoch".padded(6) + "loss".leftPadded(9) + "test acc %".leftPadded(11) + (r.testSequenceAccuracy != nil ? "seq acc %".leftPadded(10) : "")
                      + "   heads % / diagnostics".padded(24) + "s".leftPadded(8) + "samples/s".leftPadded(11))
                header = true
            }
            let loss = r.losses.values.reduce(0, +)
            // accuracies in percent, other diagnostics (BLL's cosine) as they are
            let extra = (r.headAccuracy.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", 100 * $0.value))" }
                         + r.diagnostics.sorted { $0.key < $1.key }.map { d in
                             "\(d.key) \(d.key.hasSuffix("_acc") ? String(format: "%.1f", 100 * d.value) : String(format: "%.3f", d.value))" }).joined(separator: ", ")
            print("\(r.epoch)".padded(6) + String(format: "%.4f", loss).leftPadded(9) + String(format: "%.2f", 100 * r.testAccuracy).leftPadded(11)
                  + (r.testSequenceAccuracy.map { String(format: "%.2f", 100 * $0).leftPadded(10) } ?? "")
                  + "   " + extra.padded(21) + String(format: "%.1f", r.seconds).leftPadded(8) + String(format: "%.0f", r.samplesPerSecond).leftPadded(11))
            if let line = pipelineLine(r.pipeline) { print(line) }
        }
        if let s = trainingData as? SequenceData { print("test sequences also seen in training: \(s.testSeenInTraining.count)") }
        if case .diverged = result.status { throw ValidationError("the run \(result.status); lower --lr or change the method's settings") }
        if case .failed = result.status { throw ValidationError("the run \(result.status)") }
        if result.status == .interrupted { throw ExitCode(130) }
    }
}

/// "      pipeline: b1 busy 93% (waits: input 2%, room 4%), b2 ..." from an epoch's per-block instrumentation.
func pipelineLine(_ p: [String: Double]) -> String? {
    func firstBlock(_ key: String) -> Int { Int(key.dropFirst().prefix { $0.isNumber }) ?? 0 }
    let suffix = ".utilisation"
    let names: [String] = p.keys.filter { $0.hasSuffix(suffix) }.map { String($0.dropLast(suffix.count)) }
    let keys = names.sorted { firstBlock($0) < firstBlock($1) }
    guard !keys.isEmpty else { return nil }
    let busy = keys.map { k -> String in
        let total = (p[k + ".busy_s"] ?? 0) / max(1e-9, p[k + ".utilisation"] ?? 1)
        func pct(_ v: Double?) -> String { String(format: "%.0f%%", 100 * (v ?? 0) / max(1e-9, total)) }
        return "\(k) busy \(pct(p[k + ".busy_s"])) (waits: input \(pct(p[k + ".wait_input_s"])), room \(pct(p[k + ".wait_output_s"])))"
    }
    return "      pipeline: " + busy.joined(separator: ", ")
}

/// On a terminal, one line rewritten in place within an epoch: batches done, samples/s, and the time left
/// to the epoch's end and the run's (epochs after this one estimated at this epoch's rate, evaluation
/// not counted). Off a terminal (CI logs) it prints nothing: the per-epoch lines are the log.
final class ProgressLine {
    /// Under an MPI launcher stdout is a pseudo-terminal that may end in a log file: per-epoch lines only.
    let live = isatty(1) == 1 && Launcher.detect() == nil
    let text: BatchProgress
    init(epochs: Int, batch: Int) { text = BatchProgress(epochs: epochs, batch: batch) }

    func update(_ epoch: Int, _ done: Int, _ total: Int) {
        guard live, let line = text.line(epoch, done, total) else { return }
        print("\r\u{1B}[2K  " + line, terminator: "")
        fflush(stdout)
    }

    func clear() { if live { print("\r\u{1B}[2K", terminator: ""); fflush(stdout) } }
}
