// Sweep: plan the runs of one or more specs under a profile, report what is done, failed and missing,
// and run what is missing — in this process, in a shard of the grid (`i/n`: the runs whose index ≡ i
// mod n, which partitions the grid exactly), or as one of several workers that share the store and skip
// runs another holds (per-run locks). Slurm array scripts run one shard per task.

import Datasets
import Engine
import Foundation
import Methods

public struct Shard: Equatable, Sendable {
    public let index: Int, count: Int
    public init(parsing s: String) throws {
        let parts = s.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, (0..<parts[1]).contains(parts[0]) else {
            throw EngineError.invalidArgument(name: "shard", value: s, allowed: "i/n with 0 ≤ i < n, e.g. 3/16")
        }
        index = parts[0]; count = parts[1]
    }
    public init(index: Int, count: Int) { self.index = index; self.count = count }
    public func contains(_ run: Int) -> Bool { run % count == index }
}

public struct SweepPlan: Sendable {
    public let runs: [PlannedRun]
    public let specs: [SweepSpec]
    public let profile: String

    /// The union of the specs' grids under `profile`, without duplicate run ids, in spec order. With
    /// `profiles` (a cache directory), a `balanced` split is resolved into measured cuts (BalancedSplit).
    public init(specs: [SweepSpec], profile: String, profiles: String? = nil) throws {
        self.specs = specs; self.profile = profile
        var seen = Set<String>(), out: [PlannedRun] = []
        for s in specs {
            for r in try s.plan(profile: profile) {
                let config = try profiles.map { try BalancedSplit.resolve(r.config, profiles: $0).config } ?? r.config
                guard seen.insert(config.runID).inserted else { continue }
                out.append(PlannedRun(index: out.count, replicate: r.replicate, config: config, spec: r.spec, setting: r.setting, statedKeys: r.statedKeys))
            }
        }
        runs = out
    }

    /// Each run's stored status, in plan order (one look at the store per run).
    public func statuses(_ executor: RunExecutor) -> [StoredStatus] { runs.map { executor.status($0.config.runID) } }

    public func counts(_ executor: RunExecutor) -> [StoredStatus: Int] { SweepPlan.counts(statuses(executor)) }

    public static func counts(_ statuses: [StoredStatus]) -> [StoredStatus: Int] {
        var c: [StoredStatus: Int] = [:]
        for s in statuses { c[s, default: 0] += 1 }
        return c
    }
}

public final class SweepRunner {
    public let plan: SweepPlan
    public var executor: RunExecutor
    public let threads: Int
    public var rerunFailed = false
    public var log: (String) -> Void = { print($0) }
    public var live: ((String) -> Void)? = nil   // a terminal's in-place progress line

    /// The runs of the plan this runner takes (a shard counts positions among these).
    public var include: (RunConfig) -> Bool = { _ in true }
    /// How a `parallel = "mpi"` run is trained: by a launcher this process starts (mpirun -np K), since
    /// its ranks are processes of their own. Nil: in this process (which fails without a launcher).
    public var launchMPI: ((RunConfig) throws -> RunOutcome)? = nil
    /// Learns from every run this runner finishes (and the store's done runs) to give an ETA.
    public var estimator: CostEstimator? = nil

    public init(plan: SweepPlan, executor: RunExecutor, threads: Int) {
        self.plan = plan; self.executor = executor; self.threads = threads
    }

    /// Whether a run in `status` is one a sweep trains (StoredStatus.needsTraining).
    public static func needsTraining(_ status: StoredStatus, rerunFailed: Bool) -> Bool { status.needsTraining(rerunFailed: rerunFailed) }

    /// Runs every missing run of `shard` (all when nil); returns the outcomes by run id.
    @discardableResult
    public func run(shard: Shard? = nil) throws -> [String: RunOutcome] {
        let todo = plan.runs.filter { include($0.config) }.enumerated().filter { shard?.contains($0.offset) ?? true }.map(\.element)
        var outcomes: [String: RunOutcome] = [:]
        let t0 = Date()
        var finished = 0
        func skipped(_ status: StoredStatus) -> Bool { !SweepRunner.needsTraining(status, rerunFailed: rerunFailed) }
        var actual: [Double] = []   // seconds of the runs this runner trained
        /// What is left after position k: the history's estimate of each run still to do, else the mean
        /// of the runs trained here (nil before the first).
        let pending = estimator == nil ? [] : todo.map { !skipped(executor.status($0.config.runID)) }   // checked once
        let costKeys = estimator == nil ? [] : todo.map { CostEstimator.key($0.config) }
        func eta(after k: Int) -> Double? {
            guard estimator != nil else { return nil }
            let left = todo.indices.filter { $0 > k && pending[$0] }
            guard !left.isEmpty else { return 0 }
            let mean = actual.isEmpty ? nil : actual.reduce(0, +) / Double(actual.count)
            var total = 0.0
            for i in left {
                guard let t = estimator?.fromHistory(todo[i].config, key: costKeys[i]) ?? mean else { return nil }
                total += t
            }
            return total
        }
        for (k, r) in todo.enumerated() {
            if Interrupt.requested { break }
            let c = r.config
            let status = executor.status(c.runID)
            if skipped(status) { continue }
            let started = Date()
            let outcome: RunOutcome
            if c.parallel == .mpi, let launchMPI {
                live?("[\(k + 1)/\(todo.count)] \(c.label): MPI, \(c.blocks) ranks")
                outcome = try launchMPI(c)
            } else {
                // on a terminal: one line redrawn per batch; in a log (or a worker): a line per epoch
                let progress = BatchProgress(epochs: c.epochs, batch: c.batch), live = self.live
                let head = "[\(k + 1)/\(todo.count)] \(c.label)"
                outcome = try executor.execute(c, threads: threads, rerunFailed: rerunFailed, origin: r.origin, onBatch: { e, done, total in
                    if let live, let line = progress.line(e, done, total) { live(head + " " + line) }
                }) { rec in
                    let loss = rec.losses.values.reduce(0, +)
                    let perEpoch = Date().timeIntervalSince(started) / Double(rec.epoch)
                    let eta = perEpoch * Double(c.epochs - rec.epoch)
                    let line = "\(head) epoch \(rec.epoch)/\(c.epochs) loss \(String(format: "%.3f", loss)) acc \(String(format: "%.2f", 100 * rec.testAccuracy)) % (\(String(format: "%.0f", rec.samplesPerSecond)) samples/s) run ends in \(CostEstimator.format(eta))"
                    if let live { live(line) } else if rec.epoch < c.epochs { self.log(line) }
                }
            }
            outcomes[c.runID] = outcome
            if outcome != .busy && outcome != .alreadyDone { finished += 1 }
            let elapsed = Int(Date().timeIntervalSince(t0))
            if case .done = outcome {
                actual.append(Date().timeIntervalSince(started))
                if let s = try? RunFile.summary(executor.finalPath(c.runID)) { estimator?.record(s) }
            }
            let left = eta(after: k).map { "; ETA of the rest \(CostEstimator.format($0))" } ?? ""
            switch outcome {
            case .done(let acc): log("[\(k + 1)/\(todo.count)] done \(c.runID) \(c.label): test acc \(String(format: "%.2f", 100 * acc)) % (\(elapsed) s\(left))")
            case .failed(let e): log("[\(k + 1)/\(todo.count)] FAILED \(c.runID) \(c.label): \(e)")
            case .diverged(let e): log("[\(k + 1)/\(todo.count)] diverged \(c.runID) \(c.label): \(e)")
            case .interrupted: log("[\(k + 1)/\(todo.count)] interrupted \(c.runID) \(c.label): its last checkpoint is kept")
            case .busy: log("[\(k + 1)/\(todo.count)] skipped \(c.runID): another process is running it")
            case .unavailable(let why): log("[\(k + 1)/\(todo.count)] not runnable here \(c.runID) \(c.label): \(why)")
            case .alreadyDone: break
            }
        }
        return outcomes
    }
}

/// A Slurm job-array script: each task runs one shard of the grid against a shared results directory.
public enum SlurmScript {
    public static func make(specPaths: [String], profile: String, tasks: Int, parallel: Int, cpus: Int,
                            time: String, partition: String?, results: String, data: String,
                            binary: String, workdir: String, jobName: String) -> String {
        var s = header("blocklocal sweep, profile \(profile): \(tasks) array tasks, at most \(parallel) at once.\n"
                       + "# Submit with: sbatch THIS_FILE   (no daemon: each task runs its shard and exits)",
                       jobName: jobName, tasks: tasks, parallel: parallel, slurmTasks: [], cpus: cpus, time: time,
                       partition: partition, results: results, workdir: workdir)
        s += "exec \(shellQuote(binary)) sweep \(specPaths.map(shellQuote).joined(separator: " ")) --profile \(shellQuote(profile)) --no-mpi \\\n"
        s += "  --shard \"${SLURM_ARRAY_TASK_ID}/\(tasks)\" --threads \"${SLURM_CPUS_PER_TASK:-\(cpus)}\" \\\n"
        s += "  --results \(shellQuote(results)) --data-dir \(shellQuote(data))\n"
        return s
    }

    /// The job array of a sweep's `parallel = "mpi"` runs with K blocks: each array task is one run, K
    /// Slurm tasks (one MPI rank per block, `cpus` CPUs each; `onePerNode` puts every rank on a node of its
    /// own), started by srun through PMIx; the run's config is a JSON file the sweep wrote, so every task
    /// trains exactly the planned run (a balanced cut included). srun --kill-on-bad-exit stops the other
    /// ranks when one dies; the run then resumes from its checkpoint when the task is resubmitted.
    public static func makeMPI(configPaths: [String], blocks: Int, parallel: Int, cpus: Int, onePerNode: Bool,
                               time: String, partition: String?, results: String, data: String,
                               binary: String, workdir: String, jobName: String) -> String {
        var s = header("blocklocal MPI runs with K = \(blocks): \(configPaths.count) array tasks of \(blocks) MPI ranks each, at most \(parallel) at once.\n"
                       + "# Submit with: sbatch THIS_FILE",
                       jobName: jobName, tasks: configPaths.count, parallel: parallel,
                       slurmTasks: ["--ntasks=\(blocks)"] + (onePerNode ? ["--ntasks-per-node=1"] : []), cpus: cpus, time: time,
                       partition: partition, results: results, workdir: workdir)
        s += "configs=(\n" + configPaths.map { "  " + shellQuote($0) + "\n" }.joined() + ")\n"
        s += "exec srun --mpi=pmix --kill-on-bad-exit=1 \(shellQuote(binary)) run --config \"${configs[$SLURM_ARRAY_TASK_ID]}\" \\\n"
        s += "  --threads-per-block \"${SLURM_CPUS_PER_TASK:-\(cpus)}\" --threads \"${SLURM_CPUS_PER_TASK:-\(cpus)}\" \\\n"
        s += "  --results \(shellQuote(results)) --data-dir \(shellQuote(data))\n"
        return s
    }

    /// The lines every array script starts with: the comment, the #SBATCH options (`slurmTasks` between
    /// the array and the CPUs), strict bash, the working directory, one BLAS thread.
    static func header(_ comment: String, jobName: String, tasks: Int, parallel: Int, slurmTasks: [String], cpus: Int,
                       time: String, partition: String?, results: String, workdir: String) -> String {
        var s = "#!/bin/bash\n# \(comment)\n"
        s += "#SBATCH --job-name=\(jobName)\n"
        s += "#SBATCH --array=0-\(max(0, tasks - 1))%\(parallel)\n"
        for t in slurmTasks { s += "#SBATCH \(t)\n" }
        s += "#SBATCH --cpus-per-task=\(cpus)\n"
        s += "#SBATCH --time=\(time)\n"
        if let partition { s += "#SBATCH --partition=\(partition)\n" }
        s += "#SBATCH --output=\(results)/slurm/%x-%A_%a.out\n"
        s += "set -euo pipefail\n"
        s += "cd \(shellQuote(workdir))\n"
        s += "export OPENBLAS_NUM_THREADS=1\n"
        return s
    }

    static func shellQuote(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=:,".contains($0) }) ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// A plan's Slurm job scripts: one array for the runs that train in one process (at most `parallel` tasks at
/// once), and one array per K for MPI runs (K ranks a task, each run's config written beside its script).
public struct SlurmJobs {
    public let specPaths: [String], profile: String, parallel: Int, cpus: Int, onePerNode: Bool, time: String, partition: String?
    /// Absolute paths: the results and data directories, the binary and the working directory the jobs use.
    public let results: String, data: String, binary: String, workdir: String

    public init(specPaths: [String], profile: String, parallel: Int, cpus: Int, onePerNode: Bool, time: String, partition: String?,
                results: String, data: String, binary: String, workdir: String) {
        self.specPaths = specPaths; self.profile = profile; self.parallel = parallel; self.cpus = cpus; self.onePerNode = onePerNode
        self.time = time; self.partition = partition; self.results = results; self.data = data; self.binary = binary; self.workdir = workdir
    }

    /// Writes the scripts into `dir`; returns one line per script written.
    public func write(_ plan: SweepPlan, into dir: String) throws -> [String] {
        var lines: [String] = []
        let name = "blocklocal-" + plan.specs.map(\.name).joined(separator: "+") + "-" + profile
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let local = plan.runs.filter { $0.config.parallel != .mpi }
        if !local.isEmpty {
            let script = SlurmScript.make(specPaths: specPaths, profile: profile, tasks: local.count, parallel: parallel,
                                          cpus: cpus, time: time, partition: partition, results: results, data: data,
                                          binary: binary, workdir: workdir, jobName: name)
            let path = dir + "/" + name + ".sbatch"
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            lines.append("wrote \(path): \(local.count) array tasks, at most \(parallel) at once; submit with `sbatch \(path)`")
        }
        // MPI runs: one array per K (the rank count is the job's --ntasks)
        let mpi = Dictionary(grouping: plan.runs.filter { $0.config.parallel == .mpi }, by: \.config.blocks)
        for k in mpi.keys.sorted() {
            let job = name + "-mpi-k\(k)"
            let configDir = dir + "/" + job
            try FileManager.default.createDirectory(atPath: configDir, withIntermediateDirectories: true)
            let paths = try mpi[k]!.map { r -> String in
                let p = (configDir.hasPrefix("/") ? configDir : workdir + "/" + configDir) + "/" + r.config.runID + ".json"
                try r.config.canonicalJSON.write(toFile: p, atomically: true, encoding: .utf8)
                return p
            }
            let script = SlurmScript.makeMPI(configPaths: paths, blocks: k, parallel: parallel, cpus: cpus, onePerNode: onePerNode, time: time,
                                             partition: partition, results: results, data: data, binary: binary, workdir: workdir, jobName: job)
            let path = dir + "/" + job + ".sbatch"
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            lines.append("wrote \(path): \(paths.count) array tasks of \(k) MPI ranks × \(cpus) CPUs, at most \(parallel) at once; submit with `sbatch \(path)`")
        }
        return lines
    }
}
