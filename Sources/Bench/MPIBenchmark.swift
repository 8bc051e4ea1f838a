// MPIBenchmark (`blocklocal bench --parallel --transport mpi`): the same steady-state samples/s as the
// threaded pipeline, with each block on an MPI rank of its own (K ranks × 1 engine thread, started by
// `mpirun --oversubscribe -np K`), and the message path measured: one-way time of a ping-pong between
// ranks 0 and 1 for sizes from 8 bytes to a few MB (latency per message: the 8-byte time; bandwidth:
// the largest size over its time) and the bytes each rank sends per step. The bench command launches
// one MPI job per K; in it every rank runs `ranks(...)`, and rank 0 returns what it measured.

import Engine
import Foundation
import MessagePassing
import Methods
import Scheduling

/// The message path between two ranks on this machine, as measured.
public struct TransportMeasurement: Codable, Sendable {
    public let name: String
    public let sizes: [Int]
    public let oneWaySeconds: [Double]
    /// One-way seconds of an 8-byte message.
    public var latency: Double { oneWaySeconds.first ?? 0 }
    /// Bytes/s of the largest message.
    public var bandwidth: Double { Double(sizes.last ?? 0) / max(1e-12, (oneWaySeconds.last ?? 0) - latency) }
    public var link: Link { Link(bandwidth: bandwidth, latency: latency) }
}

/// What one MPI job (K ranks) measured: a point per model and rule (passes as samples), the bytes rank 0's
/// block sends per step, and the ping-pong.
public struct MPIJobResult: Codable, Sendable {
    public var points: [ParallelPoint]
    public var bytesPerStep: [String: Double]
    public var transport: TransportMeasurement?
}

public enum MPIBenchmark {
    public static let pingSizes = [8, 1 << 12, 1 << 16, 1 << 20, 4 << 20]

    /// Runs on every rank of a K-rank job; rank 0 returns the measurements, the others nil.
    public static func ranks(_ base: MPISession, models: [BenchConfig], rules: [MethodName], passes: Int, steps: Int,
                             profiles: String) throws -> MPIJobResult? {
        let k = base.world.size
        var result = MPIJobResult(points: [], bytesPerStep: [:], transport: nil)
        if k >= 2 {
            let times = pingSizes.map { base.world.pingPong(bytes: $0, repeats: $0 > 1 << 16 ? 20 : 200) }
            result.transport = TransportMeasurement(name: "mpi (Open MPI, one machine)", sizes: pingSizes, oneWaySeconds: times)
        }
        for cfg in models {
            let probe = try cfg.spec.build(seed: 0)
            let (x, y) = Benchmark.syntheticBatch(cfg.spec, model: probe, batch: cfg.batch)
            for method in rules {
                let session = base.next()
                // rank 0's balanced cut on every rank (its profile cache; the others would measure their own)
                let starts: [Int] = try session.agree {
                    let heads = Methods.headMACs(MethodConfig(method: method), classes: cfg.spec.classes)
                    return try BlockBalance.starts(try cfg.spec.build(seed: 0), blocks: k, headMACs: heads, batch: cfg.batch, profiles: profiles).starts
                }
                let model = try cfg.spec.build(seed: 0)
                let blocks = try BlockSplit.split(model, blocks: k, rule: k == 1 ? .even : .cuts(Array(starts.dropFirst())))
                var opt = OptimizerConfig(); opt.kind = .sgd; opt.lr = 1e-3; opt.weightDecay = 5e-4
                let rule = try Methods.make(MethodSetup(model: model, blocks: blocks, config: MethodConfig(method: method),
                                                        optimizer: opt, classes: cfg.spec.classes, seed: 0))
                let scheduler = try MPIScheduler(rule: rule, session: session, threadsPerWorker: 1, cores: max(k, ProcessInfo.processInfo.activeProcessorCount))
                guard session.isRoot else { try scheduler.serve(); continue }
                var rates: [Double] = []
                var bytes = 0.0
                for _ in 0..<passes {
                    rates.append(Parallel.withWorkers(1) {
                        ParallelBenchmark.rate(rule, scheduler, x: x, y: y, classes: cfg.spec.classes, steps: steps) { bytes = $0.pipeline["b1.bytes_per_step"] ?? 0 }
                    })
                }
                session.finishServing()
                result.bytesPerStep["\(cfg.key)|\(method.rawValue)"] = bytes
                result.points.append(ParallelPoint(model: cfg.key, rule: method.rawValue, mode: "mpi", blocks: k, threads: k,
                                                   oversubscribed: k > ProcessInfo.processInfo.activeProcessorCount,
                                                   samplesPerSecond: rates, predicted: nil, cuts: Array(starts.dropFirst())))
            }
        }
        return base.isRoot ? result : nil
    }
}

extension MPIBenchmark {
    /// An MPI job of the benchmark that did not finish or left no result.
    public struct JobFailed: Error, CustomStringConvertible {
        public let blocks: Int
        public let status: Int32
        public var description: String {
            "--transport mpi: the K = \(blocks) MPI job failed (mpirun exit \(status)); is Open MPI installed (`make deps`)? "
                + "As root, Open MPI also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
        }
    }

    /// One MPI job per K (K = 2...maxBlocks) (mpirun --oversubscribe -np K of this binary as `--mpi-worker`), merged into the
    /// report: mode "mpi" points, predicted by the cost model over the measured MPI link (unless
    /// --bandwidth/--latency were given), the ping-pong, and bytes per step.
    public static func addJobs(_ report: inout ParallelBenchReport, configs: [BenchConfig], rules: [MethodName], maxBlocks: Int, passes: Int,
                               steps: Int, profiles: String, userLink: Bool, log: (String) -> Void) throws {
        guard maxBlocks >= 2 else { return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-mpi-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for k in 2...maxBlocks {
            let file = dir.appendingPathComponent("k\(k).json").path
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["mpirun", "--oversubscribe", "-np", String(k), URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
                           "bench", "--mpi-worker", file, "--models", configs.map(\.key).joined(separator: ","),
                           "--rules", rules.map(\.rawValue).joined(separator: ","), "--passes", String(passes), "--steps", String(steps),
                           "--profiles", profiles, "--threads", "1"]
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0, let data = FileManager.default.contents(atPath: file),
                  let job = try? JSONDecoder().decode(MPIJobResult.self, from: data) else {
                throw JobFailed(blocks: k, status: p.terminationStatus)
            }
            if k == 2 {
                report.transport = job.transport
                report.mpiBytesPerStep = job.bytesPerStep
                if let t = job.transport {
                    log(String(format: "  MPI message path: latency %.1f µs, bandwidth %.2f GB/s", t.latency * 1e6, t.bandwidth / 1e9))
                }
            }
            let link = userLink ? report.node : (report.transport?.link ?? report.node)
            for var point in job.points {
                if let prof = report.profiles.first(where: { $0.model == point.model && $0.rule == point.rule && $0.blocks == point.blocks }) {
                    let batch = configs.first { $0.key == point.model }?.batch ?? 1
                    point.predicted = CostModel(batch: batch, blockSeconds: prof.blockSeconds, blockBytes: prof.blockBytes,
                                                forwardSeconds: prof.forwardSeconds ?? prof.blockSeconds.map { _ in 0 }, chained: prof.chained ?? prof.blockSeconds.map { _ in false }).pipelined(link)
                }
                log(String(format: "  %@ %@ K=%d MPI: %.1f samples/s%@", point.model, point.rule, k, point.mean, point.oversubscribed ? " [oversubscribed]" : ""))
                report.points.append(point)
            }
        }
    }

    /// A rank of the bench's MPI job: every rank measures; rank 0 writes the result.
}
