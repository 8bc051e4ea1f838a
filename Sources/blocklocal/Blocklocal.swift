import ArgumentParser
import Engine

struct Blocklocal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blocklocal",
        abstract: "Reproduce and benchmark block-local training (BP, FA, Pred-Sim, BWBPF, BLL, DGL).",
        version: Engine.version,
        subcommands: [TrainCommand.self, RunCommand.self, RunsCommand.self, SweepCommand.self, ReportCommand.self, FiguresCommand.self, DiffCommand.self, DataCommand.self, BenchCommand.self, ModelCommand.self, RecipeCommand.self, RulesCommand.self])
}

/// Defaults every command shares (one place, so `model describe` and `train` describe the same model).
enum Defaults {
    /// ResNet/VGG channel multiplier: narrow, so that a run fits 2 CPU cores.
    static let width = 0.25
}

/// Options every training or benchmarking command shares.
struct ExecOptions: ParsableArguments {
    @Option(help: "Engine worker threads (BLAS runs single-threaded inside each); results are bit-identical for the same count.")
    var threads: Int = 2

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
    }
    func apply() { Engine.configure(threads: threads) }
}
