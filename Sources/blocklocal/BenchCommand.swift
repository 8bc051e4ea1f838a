import ArgumentParser
import Bench
import Engine
import Foundation
import Methods
import Scheduling

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
    @Flag(help: "Also print where each model's timed steps go, per layer kind (convolutions by shape, BatchNorm by channels), loss and optimizer.")
    var profile = false
    @Flag(help: "Instead: every method's step on ResNet-18 w1/4 (Fashion-MNIST shape), K blocks, beside bp's.")
    var methods = false
    @Option(help: "Blocks K for --methods.")
    var blocks: Int = 4
    @Flag(help: "Instead: samples/s against K for each local rule pipelined (K workers × 1 thread, balanced split) beside it sequential on 1 thread and bp on K threads, with the cost model's prediction.")
    var parallel = false
    @Option(help: "--parallel: the largest K (K above the core count is measured but marked oversubscribed).")
    var maxBlocks: Int = 4
    @Option(help: "--parallel: passes over every point (mean ± std).")
    var passes: Int = 3
    @Option(help: "--parallel: local rules, comma-separated (default predsim,bwbpf,bll).")
    var rules: String?
    @Option(help: "--parallel: link bandwidth in bytes/s within a node for the cost model (default \(Link.node.bandwidth)).")
    var bandwidth: Double?
    @Option(help: "--parallel: link latency in seconds per message within a node (default \(Link.node.latency)).")
    var latency: Double?
    @Option(help: "--parallel: the cluster link as BANDWIDTH,LATENCY (default \(Link.cluster.bandwidth),\(Link.cluster.latency): 10 Gb/s Ethernet).")
    var clusterLink: String?
    @Option(help: "--parallel: where measured per-unit profiles are cached (the balanced split's).")
    var profiles: String = (ProcessInfo.processInfo.environment["BLOCKLOCAL_RESULTS"] ?? "results") + "/profiles"
    @Option(help: "--parallel: how the blocks talk: threads (one process), or mpi as well (each K also as K MPI ranks under mpirun, with the message path's latency and bandwidth measured; the cost model's MPI points use them).")
    var transport: String = "threads"
    @Option(help: .hidden) var mpiWorker: String?
    @Flag(help: "Throughput benchmark: run 3×3 stride-1 convolutions on the direct paths instead of Winograd F(2×2, 3×3) (engine 0.4.0's arithmetic), to compare.")
    var noWinograd = false
    /// The convolution knobs this benchmark runs with (ConvKnobs).
    var knobs: ConvKnobs { var k = ConvKnobs.standard; k.winograd = !noWinograd; return k }
    @Option(help: "PyTorch results measured here by ../shared/perf/train_bench.py (JSON lines); replaces the recorded anchors in the comparison.")
    var torch: String?

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
        if let mpiWorker { return try runMPIWorker(mpiWorker) }
        exec.apply()
        if methods { return try runMethods() }
        if parallel { return try runParallel() }
        let wanted = models.map { Set($0.split(separator: ",").map(String.init)) }
        var configs = BenchConfig.reference.filter { wanted?.contains($0.key) ?? true }
        if let torch {
            let measured = try TorchResults.load(torch, threads: exec.threads)
            configs = configs.map { c in measured[c.key].map { c.withTorch($0, source: "measured") } ?? c }
        }
        let peak = Benchmark.gemmPeak()
        print("engine \(Engine.version) (built for \(Engine.buildTarget)), \(exec.threads) thread(s), OpenBLAS core \(Engine.blasCore); 1024³ sgemm peak \(String(format: "%.1f", peak)) GFLOP/s")
        var results: [BenchResult] = []
        for c in configs {
            let profiler = profile ? LayerProfiler() : nil   // Benchmark.run resets it after the warm-up steps
            let r = try Benchmark.run(c, steps: steps, peak: peak, knobs: knobs, profiler: profiler)
            if let profiler {
                let total = profiler.report.reduce(0) { $0 + $1.forward + $1.backward }
                for row in profiler.report {
                    print("      " + row.kind.padded(36) + String(format: "fwd %7.1f ms  bwd %7.1f ms  (%4.1f%%)",
                          1000 * row.forward / Double(steps), 1000 * row.backward / Double(steps), 100 * (row.forward + row.backward) / total))
                }
            }
            print("  " + c.key.padded(14) + String(format: "%9.1f samples/s  (", r.samplesPerSecond) + r.torchText + ")")
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

extension BenchCommand {
    func runMethods() throws {
        var spec = ModelSpec(arch: .resnet18); spec.width = 0.25; spec.inChannels = 1; spec.imageSize = 28
        print("ResNet-18 w1/4, 1x28x28, batch 128, K = \(blocks) (even split), \(exec.threads) thread(s), \(steps) timed steps")
        let rs = try MethodBenchmark.run(spec: spec, batch: 128, blocks: blocks, steps: steps)
        print("| method | samples/s | ms/step | step time / bp's |\n|---|---:|---:|---:|")
        for r in rs {
            print("| \(r.method) | " + String(format: "%.1f | %.1f | %.2fx |", r.samplesPerSecond, 1000 * r.medianStepSeconds, r.ratioToBP))
        }
        if let out {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            do { try enc.encode(rs).write(to: URL(fileURLWithPath: out)) }
            catch { throw ValidationError("cannot write --out \(out): \(error.localizedDescription)") }
        }
    }
}

extension BenchCommand {
    func runParallel() throws {
        guard (1...16).contains(maxBlocks) else { throw ValidationError("--max-blocks must be between 1 and 16, got \(maxBlocks)") }
        guard (1...20).contains(passes) else { throw ValidationError("--passes must be between 1 and 20, got \(passes)") }
        let wanted = models.map { $0.split(separator: ",").map(String.init) } ?? ParallelBenchmark.defaultModels
        let configs = wanted.compactMap { k in BenchConfig.reference.first { $0.key == k } }
        var ruleList = ParallelBenchmark.defaultRules
        if let rules {
            ruleList = try rules.split(separator: ",").map { name in
                guard let m = MethodName(rawValue: String(name)), !m.isLocked else {
                    throw ValidationError("invalid --rules '\(name)': allowed \(MethodName.allCases.filter { !$0.isLocked }.map(\.rawValue).joined(separator: ", ")) (local rules; bp is measured on K threads anyway)")
                }
                return m
            }
        }
        var node = Link.node, cluster = Link.cluster
        if let bandwidth { guard bandwidth > 0, bandwidth.isFinite else { throw ValidationError("--bandwidth must be a positive number of bytes/s, got \(bandwidth)") }; node.bandwidth = bandwidth }
        if let latency { guard latency >= 0, latency.isFinite else { throw ValidationError("--latency must be a non-negative number of seconds, got \(latency)") }; node.latency = latency }
        if let clusterLink {
            let parts = clusterLink.split(separator: ",").compactMap { Double($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] >= 0, parts.allSatisfy(\.isFinite) else {
                throw ValidationError("invalid --cluster-link '\(clusterLink)': allowed BANDWIDTH,LATENCY (bytes/s, seconds), e.g. 1.25e9,5e-5")
            }
            cluster = Link(bandwidth: parts[0], latency: parts[1])
        }
        guard ["threads", "mpi"].contains(transport) else { throw ValidationError("invalid --transport '\(transport)': allowed threads, mpi") }
        print("engine \(Engine.version) (built for \(Engine.buildTarget)), \(ProcessInfo.processInfo.activeProcessorCount) cores; K = 1...\(maxBlocks), \(passes) passes, \(steps) timed steps per point")
        var report = try ParallelBenchmark.run(models: configs, rules: ruleList, maxBlocks: maxBlocks, passes: passes, steps: steps,
                                               node: node, cluster: cluster, profiles: profiles) { print($0) }
        if transport == "mpi" { try addMPIPoints(&report, configs: configs, rules: ruleList, userLink: bandwidth != nil || latency != nil) }
        print(ParallelBenchmark.table(report))
        if let out {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            do { try enc.encode(report).write(to: URL(fileURLWithPath: out)) }
            catch { throw ValidationError("cannot write --out \(out): \(error.localizedDescription)") }
            print("wrote \(out)")
        }
    }
}

extension BenchCommand {
    /// The MPI points (Bench/MPIBenchmark.swift, `addJobs`): one mpirun job per K of this binary as `--mpi-worker`.
    func addMPIPoints(_ report: inout ParallelBenchReport, configs: [BenchConfig], rules: [MethodName], userLink: Bool) throws {
        do {
            try MPIBenchmark.addJobs(&report, configs: configs, rules: rules, maxBlocks: maxBlocks, passes: passes, steps: steps,
                                     profiles: profiles, userLink: userLink) { print($0) }
        } catch let e as MPIBenchmark.JobFailed { throw ValidationError(e.description) }
    }

    func runMPIWorker(_ file: String) throws {
        Engine.configure(threads: 1)
        let session = try MPISession.joinAny()
        let configs = (models?.split(separator: ",").map(String.init) ?? ParallelBenchmark.defaultModels).compactMap { k in BenchConfig.reference.first { $0.key == k } }
        let ruleList = try (rules?.split(separator: ",").map(String.init) ?? ParallelBenchmark.defaultRules.map(\.rawValue)).map { name in
            guard let m = MethodName(rawValue: name) else { throw ValidationError("invalid rule \(name)") }
            return m
        }
        let result = try MPIBenchmark.ranks(session, models: configs, rules: ruleList, passes: passes, steps: steps, profiles: profiles)
        if let result {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            try enc.encode(result).write(to: URL(fileURLWithPath: file))
        }
        session.world.finalize()
    }
}

struct BenchReport: Codable {
    let engineVersion: String, threads: Int, blasConfig: String, gemmPeakGFLOPs: Double
    let results: [BenchResult]
}

/// Samples/s per config from train_bench.py's JSON lines (the best line for the thread count).
enum TorchResults {
    static func load(_ path: String, threads: Int) throws -> [String: Double] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read --torch \(path); run `make bench-torch` or ../shared/perf/train_bench.py --out \(path) first")
        }
        var best: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let key = obj["config"] as? String, let sps = obj["samples_per_s"] as? Double,
                  (obj["threads"] as? Int) == threads else { continue }
            best[key] = max(best[key] ?? 0, sps)
        }
        return best
    }
}
