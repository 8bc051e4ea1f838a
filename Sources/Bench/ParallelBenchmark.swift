// ParallelBenchmark (`blocklocal bench --parallel`): samples/s against K for each local rule pipelined
// (K workers × 1 engine thread, balanced split) beside the same rule sequential on 1 thread and bp
// sequential on K threads, over several passes (mean ± std), with the cost model's prediction from each
// rule's per-block profile. Rates are steady-state: (T(a + n) − T(a)) / n over two epochs of a and a + n
// batches, so a pipeline's fill and drain cancel out. A K above the core count is measured but marked
// oversubscribed (its workers share cores, so it says nothing about K devices).

import Engine
import Foundation
import Methods
import Scheduling

public struct ParallelPoint: Codable, Sendable {
    public let model: String, rule: String
    /// "pipelined" (K workers × 1 thread), "sequential" (1 thread), "threads" (bp on K engine threads)
    public let mode: String
    public let blocks: Int, threads: Int
    public let oversubscribed: Bool
    public var samplesPerSecond: [Double]
    public var predicted: Double?
    public var cuts: [Int]
    public var mean: Double { samplesPerSecond.reduce(0, +) / Double(max(1, samplesPerSecond.count)) }
    public var std: Double {
        let m = mean, n = Double(samplesPerSecond.count)
        return n > 1 ? (samplesPerSecond.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot() : 0
    }
}

public struct ParallelBlockProfile: Codable, Sendable {
    public let model: String, rule: String, blocks: Int
    public let blockSeconds: [Double], blockBytes: [Int]
    /// Each block's forward alone, and whether its feedback target comes from the next block (BLL chain).
    public let forwardSeconds: [Double]?, chained: [Bool]?
}

public struct ParallelBenchReport: Codable, Sendable {
    public let engineVersion: String, cores: Int, passes: Int, steps: Int
    public let node: Link, cluster: Link
    public var points: [ParallelPoint]
    public var profiles: [ParallelBlockProfile]
    /// Per model: data-parallel BP over K devices as the cost model predicts it, for the node and cluster links.
    public var dataParallelBP: [String: [String: [Double]]]
    /// Per model: bp's step on one thread (seconds) and its parameter bytes, the inputs of that prediction.
    public var bpStepSeconds: [String: Double], parameterBytes: [String: Int]
    /// `--transport mpi`: the message path measured between two ranks, and the bytes block 1's rank sent
    /// per step ("model|rule" → bytes; the K = 2 job's).
    public var transport: TransportMeasurement? = nil
    public var mpiBytesPerStep: [String: Double]? = nil
}

/// The same batch handed out `batches` times (the bench's data: no loader cost in the rates).
final class RepeatedBatch: TrainingData {
    let x: Tensor, y: [Int32]
    let classes: Int, batchesPerEpoch: Int
    var isSequence: Bool { x.dims == 2 }
    var trainSamplesPerEpoch: Int { batchesPerEpoch * x.shape[0] }
    init(x: Tensor, y: [Int32], classes: Int, batches: Int) { self.x = x; self.y = y; self.classes = classes; batchesPerEpoch = batches }
    func forEachTrainBatch(epoch: Int, _ body: (Tensor, [Int32]) throws -> Void) rethrows { for _ in 0..<batchesPerEpoch { try body(x, y) } }
    func forEachTestBatch(_ body: (Tensor, [Int32]) throws -> Void) rethrows {}
}

public enum ParallelBenchmark {
    public static let defaultModels = ["r18_fm_w0.25", "gpt_d64"]
    public static let defaultRules: [MethodName] = [.predsim, .bwbpf, .bll]

    /// Steady-state samples/s of `scheduler` training `rule`: two epochs of `lead` and `lead + steps` batches.
    static func rate(_ rule: LearningRule, _ scheduler: StepScheduler, x: Tensor, y: [Int32], classes: Int, steps: Int, lead: Int = 3,
                     last: (EpochTraining) -> Void = { _ in }) -> Double {
        func epoch(_ n: Int) -> Double {
            let data = RepeatedBatch(x: x, y: y, classes: classes, batches: n)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let out = scheduler.trainEpoch(rule, data: data, epoch: 0, rate: { _ in 1e-3 }, shouldStop: { false }, progress: { _ in })
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            last(out)
            return seconds
        }
        _ = epoch(1)   // warm-up: first touches, buffer growth
        let short = epoch(lead), long = epoch(lead + steps)
        return Double(steps * x.shape[0]) / max(1e-9, long - short)
    }

    public static func run(models: [BenchConfig], rules: [MethodName], maxBlocks: Int, passes: Int, steps: Int,
                           node: Link, cluster: Link, profiles: String, log: (String) -> Void) throws -> ParallelBenchReport {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var report = ParallelBenchReport(engineVersion: Engine.version, cores: cores, passes: passes, steps: steps, node: node, cluster: cluster,
                                         points: [], profiles: [], dataParallelBP: [:], bpStepSeconds: [:], parameterBytes: [:])
        var index: [String: Int] = [:]
        func add(_ p: ParallelPoint, _ sps: Double) {
            let key = "\(p.model)|\(p.rule)|\(p.mode)|\(p.blocks)"
            if let i = index[key] { report.points[i].samplesPerSecond.append(sps) } else {
                var q = p; q.samplesPerSecond = [sps]; index[key] = report.points.count; report.points.append(q)
            }
        }
        for cfg in models {
            let probe = try cfg.spec.build(seed: 0)
            let (x, y) = Benchmark.syntheticBatch(cfg.spec, model: probe, batch: cfg.batch)
            for pass in 0..<passes {
                for k in 1...maxBlocks {
                    let over = k > cores
                    for method in rules {
                        let model = try cfg.spec.build(seed: 0)
                        let heads = Methods.headMACs(MethodConfig(method: method), classes: cfg.spec.classes)
                        let starts = k == 1 ? [0] : try BlockBalance.starts(model, blocks: k, headMACs: heads, batch: cfg.batch, profiles: profiles).starts
                        let blocks = try BlockSplit.split(model, blocks: k, rule: k == 1 ? .even : .cuts(Array(starts.dropFirst())))
                        var opt = OptimizerConfig(); opt.kind = .sgd; opt.lr = 1e-3; opt.weightDecay = 5e-4
                        let rule = try Methods.make(MethodSetup(model: model, blocks: blocks, config: MethodConfig(method: method),
                                                                optimizer: opt, classes: cfg.spec.classes, seed: 0))
                        var predicted: Double? = nil
                        if pass == 0, let detached = rule as? DetachedBlockRule {
                            let prof = try Parallel.withWorkers(1) { try BlockProfile.measureBlocks(detached, x: x, labels: y, steps: 3) }
                            let chained = (0..<k).map { detached.feedbackSource($0) == .nextBlock }
                            report.profiles.append(ParallelBlockProfile(model: cfg.key, rule: method.rawValue, blocks: k, blockSeconds: prof.seconds,
                                                                        blockBytes: prof.bytes, forwardSeconds: prof.forwardSeconds, chained: chained))
                            predicted = CostModel(batch: cfg.batch, blockSeconds: prof.seconds, blockBytes: prof.bytes,
                                                  forwardSeconds: prof.forwardSeconds, chained: chained).pipelined(node)
                        }
                        let seq = Parallel.withWorkers(1) { rate(rule, SequentialScheduler(), x: x, y: y, classes: cfg.spec.classes, steps: steps) }
                        add(ParallelPoint(model: cfg.key, rule: method.rawValue, mode: "sequential", blocks: k, threads: 1, oversubscribed: false,
                                          samplesPerSecond: [], predicted: nil, cuts: Array(starts.dropFirst())), seq)
                        let pipe = k == 1 ? seq : rate(rule, try PipelineScheduler(rule: rule, workers: k, threadsPerWorker: 1, cores: max(cores, 1)),
                                                       x: x, y: y, classes: cfg.spec.classes, steps: steps)
                        add(ParallelPoint(model: cfg.key, rule: method.rawValue, mode: "pipelined", blocks: k, threads: k, oversubscribed: over,
                                          samplesPerSecond: [], predicted: predicted, cuts: Array(starts.dropFirst())), pipe)
                        log(String(format: "  %@ %@ K=%d pass %d: sequential %.1f, pipelined %.1f samples/s%@%@", cfg.key, method.rawValue, k, pass + 1, seq, pipe,
                                   predicted.map { String(format: " (model %.1f)", $0) } ?? "", over ? " [oversubscribed]" : ""))
                    }
                    // bp: one block, K engine threads
                    let model = try cfg.spec.build(seed: 0)
                    var opt = OptimizerConfig(); opt.kind = .sgd; opt.lr = 1e-3; opt.weightDecay = 5e-4
                    let bp = try Methods.make(MethodSetup(model: model, blocks: try BlockSplit.split(model, blocks: 1, rule: .even),
                                                          config: MethodConfig(method: .bp), optimizer: opt, classes: cfg.spec.classes, seed: 0))
                    let sps = Parallel.withWorkers(k) { rate(bp, SequentialScheduler(), x: x, y: y, classes: cfg.spec.classes, steps: steps) }
                    add(ParallelPoint(model: cfg.key, rule: "bp", mode: "threads", blocks: k, threads: k, oversubscribed: over,
                                      samplesPerSecond: [], predicted: nil, cuts: []), sps)
                    if k == 1 && pass == 0 { report.bpStepSeconds[cfg.key] = Double(cfg.batch) / sps; report.parameterBytes[cfg.key] = model.parameterCount * 4 }
                    log(String(format: "  %@ bp on %d thread(s), pass %d: %.1f samples/s%@", cfg.key, k, pass + 1, sps, over ? " [oversubscribed]" : ""))
                }
            }
            if let step = report.bpStepSeconds[cfg.key], let bytes = report.parameterBytes[cfg.key] {
                report.dataParallelBP[cfg.key] = [
                    "node": (1...maxBlocks).map { CostModel.dataParallelBP(batch: cfg.batch, stepSeconds: step, parameterBytes: bytes, devices: $0, link: node) },
                    "cluster": (1...maxBlocks).map { CostModel.dataParallelBP(batch: cfg.batch, stepSeconds: step, parameterBytes: bytes, devices: $0, link: cluster) },
                ]
            }
        }
        return report
    }

    /// Markdown: per model and K, each rule sequential and pipelined with the speedup and the model's
    /// prediction (and how far it was), bp on K threads, data-parallel BP as predicted.
    public static func table(_ r: ParallelBenchReport) -> String {
        var out = ""
        var models: [String] = []
        for p in r.points where !models.contains(p.model) { models.append(p.model) }
        for model in models {
            out += "\n\(model) (\(r.passes) pass\(r.passes == 1 ? "" : "es"), mean ± std samples/s; speedup = pipelined / sequential on 1 thread)\n\n"
            out += "| K | rule | sequential, 1 thread | pipelined, K × 1 thread | speedup | cost model | model error |\n|---:|---|---:|---:|---:|---:|---:|\n"
            let pts = r.points.filter { $0.model == model }
            for p in pts where p.mode == "pipelined" {
                guard let s = pts.first(where: { $0.rule == p.rule && $0.blocks == p.blocks && $0.mode == "sequential" }) else { continue }
                let err = p.predicted.map { String(format: "%+.0f %%", 100 * ($0 - p.mean) / p.mean) } ?? "—"
                out += String(format: "| %d%@ | %@ | %.1f ± %.1f | %.1f ± %.1f | %.2fx | %@ | %@ |\n", p.blocks, p.oversubscribed ? " (oversubscribed)" : "",
                              p.rule, s.mean, s.std, p.mean, p.std, p.mean / s.mean, p.predicted.map { String(format: "%.1f", $0) } ?? "—", err)
            }
            let mpi = pts.filter { $0.mode == "mpi" }
            if !mpi.isEmpty {
                out += "\n| K | rule | MPI, K ranks × 1 thread | speedup | pipelined threads | cost model (measured MPI link) | model error |\n|---:|---|---:|---:|---:|---:|---:|\n"
                for p in mpi {
                    guard let s = pts.first(where: { $0.rule == p.rule && $0.blocks == p.blocks && $0.mode == "sequential" }),
                          let t = pts.first(where: { $0.rule == p.rule && $0.blocks == p.blocks && $0.mode == "pipelined" }) else { continue }
                    let err = p.predicted.map { String(format: "%+.0f %%", 100 * ($0 - p.mean) / p.mean) } ?? "—"
                    out += String(format: "| %d%@ | %@ | %.1f ± %.1f | %.2fx | %.1f | %@ | %@ |\n", p.blocks, p.oversubscribed ? " (oversubscribed)" : "",
                                  p.rule, p.mean, p.std, p.mean / s.mean, t.mean, p.predicted.map { String(format: "%.1f", $0) } ?? "—", err)
                }
            }
            out += "\n| K | bp, K engine threads | data-parallel BP, K devices (model, node link) | (model, cluster link) |\n|---:|---:|---:|---:|\n"
            for p in pts where p.mode == "threads" {
                let dp = r.dataParallelBP[model]
                out += String(format: "| %d%@ | %.1f ± %.1f | %@ | %@ |\n", p.blocks, p.oversubscribed ? " (oversubscribed)" : "", p.mean, p.std,
                              dp?["node"].map { String(format: "%.1f", $0[p.blocks - 1]) } ?? "—",
                              dp?["cluster"].map { String(format: "%.1f", $0[p.blocks - 1]) } ?? "—")
            }
        }
        if let t = r.transport {
            out += "\nMessage path (\(t.name)): one-way time by size\n\n| bytes | one-way | bandwidth |\n|---:|---:|---:|\n"
            for (n, sec) in zip(t.sizes, t.oneWaySeconds) {
                out += String(format: "| %d | %.1f µs | %.2f GB/s |\n", n, sec * 1e6, Double(n) / max(1e-12, sec) / 1e9)
            }
            out += String(format: "\nlatency per message %.1f µs, bandwidth %.2f GB/s (the cost model's MPI link)\n", t.latency * 1e6, t.bandwidth / 1e9)
            for (key, b) in (r.mpiBytesPerStep ?? [:]).sorted(by: { $0.key < $1.key }) {
                out += String(format: "bytes per step sent by block 1's rank, %@: %.0f\n", key.replacingOccurrences(of: "|", with: " "), b)
            }
        }
        return out
    }
}
