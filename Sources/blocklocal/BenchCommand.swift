import ArgumentParser
import Bench
import Engine
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Training-step throughput of the reference models on synthetic data, beside PyTorch's CPU anchors.")

    @OptionGroup var exec: ExecOptions
    @Option(help: "Comma-separated model keys (default: all). Known: \(BenchConfig.reference.map(\.key).joined(separator: ", ")).")
    var models: String?
    @Option(help: "Timed steps per model (after 2 warm-up steps).")
    var steps: Int = 5
    @Option(help: "Write the results as JSON to this file.")
    var out: String?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if let models {
            let known = Set(BenchConfig.reference.map(\.key))
            for m in models.split(separator: ",") where !known.contains(String(m)) {
                throw ValidationError("unknown model '\(m)' for --models; known: \(known.sorted().joined(separator: ", "))")
            }
        }
    }

    func run() throws {
        exec.apply()
        let wanted = models.map { Set($0.split(separator: ",").map(String.init)) }
        let configs = BenchConfig.reference.filter { wanted?.contains($0.key) ?? true }
        let peak = Benchmark.gemmPeak()
        print("engine \(Engine.version), \(exec.threads) thread(s), OpenBLAS core \(Engine.blasCore); 1024³ sgemm peak \(String(format: "%.1f", peak)) GFLOP/s")
        var results: [BenchResult] = []
        for c in configs {
            let r = try Benchmark.run(c, steps: steps, peak: peak)
            print("  " + c.key.padded(14) + String(format: "%9.1f samples/s  (%.2fx PyTorch anchor %.1f)", r.samplesPerSecond, r.ratioToTorch, r.torchAnchor))
            results.append(r)
        }
        print("")
        print(Benchmark.table(results, peak: peak), terminator: "")
        if let out {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let doc = BenchReport(engineVersion: Engine.version, threads: exec.threads, blasConfig: Engine.blasConfig,
                                  gemmPeakGFLOPs: peak, results: results)
            do { try enc.encode(doc).write(to: URL(fileURLWithPath: out)) }
            catch { throw ValidationError("cannot write --out \(out): \(error.localizedDescription); check the directory exists and is writable") }
            print("wrote \(out)")
        }
    }
}

struct BenchReport: Codable {
    let engineVersion: String, threads: Int, blasConfig: String, gemmPeakGFLOPs: Double
    let results: [BenchResult]
}
