import ArgumentParser
import Datasets
import Engine
import Experiments
import Foundation
import Methods
import Scheduling

/// Where runs are stored.
struct StoreOptions: ParsableArguments {
    @Option(help: "Results directory; runs go to <results>/runs (env BLOCKLOCAL_RESULTS; default ./results).")
    var results: String = ProcessInfo.processInfo.environment["BLOCKLOCAL_RESULTS"] ?? "results"
    var runs: String { results + "/runs" }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Train one configuration and store it as results/runs/<run id>.h5 (resumes a killed run).")
    @OptionGroup var train: TrainOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var exec: ExecOptions
    @OptionGroup var pipeline: ParallelOptions
    @OptionGroup var store: StoreOptions

    @Option(help: "Train this run config (a JSON file, as `sweep --slurm` writes for MPI runs) instead of the model and budget flags.")
    var config: String?

    func run() throws {
        exec.apply()
        Interrupt.install()
        let parsed: RunConfig
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ValidationError("--config \(config): no such file (a run config JSON, as `sweep --slurm` writes)")
            }
            do { parsed = try JSONDecoder().decode(RunConfig.self, from: data); try parsed.validate() }
            catch { throw ValidationError("--config \(config): not a run config (\(error)); write one with `sweep --slurm` or use the flags") }
        } else { parsed = try train.runConfig() }
        try pipeline.check(parsed.parallel)
        try MPIJob.dispatch(parsed, profiles: store.results + "/profiles", data: data,
                            execution: { [pipeline, exec] in pipeline.settings(threads: exec.threads, session: $0) }) { try execute($0, session: $1) }
    }

    func execute(_ config: RunConfig, session: MPISession?) throws {
        let executor = RunExecutor(runsDirectory: store.runs, dataStore: data.store, fetch: data.fetchOptions)
        print("run \(config.runID): \(config.label)")
        let progress = ProgressLine(epochs: config.epochs, batch: config.batch)
        let outcome = try executor.execute(config, execution: pipeline.settings(threads: exec.threads, session: session), rerunFailed: true, onBatch: progress.update) { r in
            progress.clear()
            print("  epoch \(r.epoch): loss \(String(format: "%.4f", r.losses.values.reduce(0, +))) test acc \(String(format: "%.2f", 100 * r.testAccuracy)) %")
            if let line = pipelineLine(r.pipeline) { print(line) }
        }
        switch outcome {
        case .done(let acc): print("done: test accuracy \(String(format: "%.2f", 100 * acc)) % → \(executor.finalPath(config.runID))")
        case .alreadyDone: print("already stored: \(executor.finalPath(config.runID))")
        case .failed(let e): throw ValidationError("run failed: \(e)")
        case .diverged(let e): print("diverged: \(e) (stored)")
        case .interrupted: print("interrupted; run the same command again to resume from the last epoch"); throw ExitCode(130)
        case .busy: throw ValidationError("run \(config.runID) is being trained by another process")
        case .unavailable(let why): throw ValidationError(why)
        }
    }
}

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "Read the run store.", subcommands: [List.self, Show.self, Compare.self, Collect.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per stored run: filter, sort, table, CSV or JSON.")
        @OptionGroup var store: StoreOptions
        @Option(name: .customLong("where"), help: "Keep runs whose FIELD equals VALUE (repeatable), e.g. --where method=bll --where blocks=4. Fields: \(RunBrowser.fields.joined(separator: ", ")).")
        var filters: [String] = []
        @Option(help: "Sort by a field (accuracy, wall_s and date: highest first).") var sort: String = "date"
        @Option(help: "Output: \(RunBrowser.formats.joined(separator: ", ")).") var format: String = "table"
        func run() throws {
            do {
                let rows = try RunBrowser.sort(try RunBrowser.filter(RunBrowser.rows(RunStore(directory: store.runs).summaries()), where: filters), by: sort)
                print(try RunBrowser.render(rows, format: format), terminator: "")
                if format == "table" { print("\(rows.count) runs in \(store.runs)") }
            } catch let e as RunBrowser.BadQuery { throw ValidationError(e.description) }
        }
    }

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Two runs side by side: the config fields that differ, the final results, the per-epoch test accuracy.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Two run ids (or unique prefixes).") var ids: [String]
        func run() throws {
            guard ids.count == 2 else { throw ValidationError("runs compare takes two run ids, got \(ids.count)") }
            let paths = try ids.map { try Show.path(of: $0, in: store.runs) }
            let s = try paths.map { try RunFile.summary($0) }
            let r = try paths.map { try RunFile.records($0) }
            print("".padded(28) + s[0].id.padded(22) + s[1].id)
            func row(_ name: String, _ a: String, _ b: String) { print(name.padded(28) + a.padded(22) + b) }
            let f = s.map { $0.config.map(RunFile.flatten) ?? [] }
            let keys = Array(Set(f[0].map(\.0) + f[1].map(\.0))).sorted()
            var same = 0
            for k in keys {
                let a = f[0].first { $0.0 == k }?.1.description ?? "-", b = f[1].first { $0.0 == k }?.1.description ?? "-"
                if a == b { same += 1 } else { row(k, a, b) }
            }
            print("(\(same) config fields the same)")
            row("status", s[0].status, s[1].status)
            row("final test acc %", s[0].finalAccuracy.map { String(format: "%.2f", 100 * $0) } ?? "-", s[1].finalAccuracy.map { String(format: "%.2f", 100 * $0) } ?? "-")
            row("wall s", s[0].seconds.map { String(format: "%.0f", $0) } ?? "-", s[1].seconds.map { String(format: "%.0f", $0) } ?? "-")
            let d = paths.map { RunFile.stateDigest($0) }
            if let a = d[0], let b = d[1] { row("final state", a == b ? "identical bits" : String(a.prefix(12)), a == b ? "" : String(b.prefix(12))) }
            for e in 0..<max(r[0].count, r[1].count) {
                row("epoch \(e + 1) test acc %", e < r[0].count ? String(format: "%.2f", 100 * r[0][e].testAccuracy) : "-",
                    e < r[1].count ? String(format: "%.2f", 100 * r[1][e].testAccuracy) : "-")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A run's config, provenance and per-epoch metrics.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Run id (or a unique prefix).") var id: String
        static func path(of id: String, in runs: String) throws -> String {
            let matches = RunStore(directory: runs).files().filter { URL(fileURLWithPath: $0).lastPathComponent.hasPrefix(id) }
            guard matches.count == 1, let path = matches.first else {
                throw ValidationError(matches.isEmpty ? "no run \(id) in \(runs); see `blocklocal runs list`" : "'\(id)' matches \(matches.count) runs; give more of the id")
            }
            return path
        }

        func run() throws {
            let path = try Show.path(of: id, in: store.runs)
            let s = try RunFile.summary(path)
            print("run \(s.id): \(s.label)")
            if let o = s.origin { print("planned by: spec \(o.spec), replicate \(o.replicate)") }
            print("status: \(s.status)\(s.error.isEmpty ? "" : " (\(s.error))")\nfile: \(path) (run-file format \(s.formatVersion))")
            if let c = s.config {
                let all = RunFile.flatten(c), used = all.filter { c.applies($0.0) }
                print("config (the fields this \(c.method.method.rawValue) run on \(c.model.arch) reads; \(all.count - used.count) others keep defaults it ignores):")
                for (k, v) in used { print("  \(k) = \(v)") }
            }
            let prov = try RunFile.provenance(path)
            let p = Dictionary(prov, uniquingKeysWith: { a, _ in a })
            if let ranks = p["mpi_ranks"] {
                print("execution: MPI, \(ranks) ranks (\(p["mpi_launcher"] ?? "?")) × \(p["threads_per_block"] ?? "?") engine thread(s), queue depth \(p["queue_depth"] ?? "?")")
            } else if let workers = p["pipeline_workers"] {
                print("execution: pipelined, \(workers) workers × \(p["threads_per_block"] ?? "?") engine thread(s), queue depth \(p["queue_depth"] ?? "?")")
            } else if let threads = p["threads"] { print("execution: sequential, \(threads) engine thread(s)") }
            if let starts = p["block_starts"] { print("blocks start at units \(starts): \(p["block_units"] ?? "")") }
            if !s.started.isEmpty { print("trained: \(s.started) to \(s.ended)\(s.seconds.map { String(format: ", %.1f s of epochs", $0) } ?? "")") }
            print("provenance:")
            let shown: Set<String> = ["threads", "pipeline_workers", "threads_per_block", "queue_depth", "block_starts", "block_units", "mpi_ranks", "mpi_launcher"]
            for (k, v) in prov where !shown.contains(k) { print("  \(k) = \(v)") }
            if let digest = RunFile.stateDigest(path) { print("  final state sha256 = \(digest)") }
            let records = try RunFile.records(path)
            print("epoch".padded(6) + "test acc %".leftPadded(11) + "loss".leftPadded(10) + "s".leftPadded(8))
            for r in records {
                print("\(r.epoch)".padded(6) + String(format: "%.2f", 100 * r.testAccuracy).leftPadded(11)
                      + String(format: "%.4f", r.losses.values.reduce(0, +)).leftPadded(10) + String(format: "%.1f", r.seconds).leftPadded(8))
                if let line = pipelineLine(r.pipeline) { print(line) }
            }
            if let last = records.last, !(last.headAccuracy.isEmpty && last.diagnostics.isEmpty) {
                print("per block, last epoch:")
                for (k, v) in last.headAccuracy.sorted(by: { $0.key < $1.key }) { print("  head accuracy \(k) = \(String(format: "%.2f", 100 * v)) %") }
                for (k, v) in last.diagnostics.sorted(by: { $0.key < $1.key }) {
                    print("  \(k) = \(k.hasSuffix("_acc") ? String(format: "%.2f %%", 100 * v) : String(format: "%.4f", v))")
                }
            }
        }
    }

    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge run stores from other machines into this one (by run id).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Run directories to merge from (each a results/runs folder).") var sources: [String]
        func run() throws {
            let r = try RunStore(directory: store.runs).collect(sources)
            print("copied \(r.copied) (\(r.replacedUnfinished) replacing unfinished runs), \(r.identical) already identical, \(r.conflicts.count) conflicts")
            for c in r.conflicts { print("conflict: \(c)") }
        }
    }
}

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep", abstract: "Plan a grid from spec files and run what is missing (resumable; parallel; Slurm).")
    @Argument(help: "Spec files (TOML), e.g. paper/experiments/table1.toml.") var specs: [String]
    @Option(help: "Profile: one of the specs' [profile.NAME] tables (smoke, quick, paper).") var profile: String
    @Flag(help: "List the runs, their status and estimated cost, and the sweep's wall time for --jobs and a Slurm array; run nothing.") var dryRun = false
    @Flag(help: "Run failed runs again.") var rerunFailed = false
    @Option(help: "Worker processes sharing the store (BLAS threads each = --threads / jobs).") var jobs: Int = 1
    @Option(help: "Run only shard i/n of the grid (runs whose index ≡ i mod n).") var shard: String?
    @Flag(help: .hidden) var worker = false
    @Flag(help: "Write a Slurm job-array script instead of running.") var slurm = false
    @Option(help: "Slurm: partition.") var partition: String?
    @Option(help: "Slurm: time limit per task.") var time: String = "24:00:00"
    @Option(help: "Slurm: CPUs per task.") var cpus: Int = 2
    @Option(help: "Slurm: array tasks at once (the %P of --array).") var parallel: Int = 32
    @Flag(help: "Slurm: put each MPI rank (block) of a `parallel = \"mpi\"` run on a node of its own (--ntasks-per-node=1).") var onePerNode = false
    @Flag(help: .hidden) var noMpi = false
    @OptionGroup var store: StoreOptions
    @OptionGroup var data: DataOptions
    @OptionGroup var exec: ExecOptions

    func validate() throws {
        guard !specs.isEmpty else { throw ValidationError("name at least one spec file, e.g. paper/experiments/table1.toml") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let loaded = try specs.map { try SweepSpec(path: $0) }
        let plan = try SweepPlan(specs: loaded, profile: profile, profiles: store.results + "/profiles")
        let executor = RunExecutor(runsDirectory: store.runs, dataStore: data.store, fetch: data.fetchOptions)
        let statuses = plan.statuses(executor)
        let counts = SweepPlan.counts(statuses)
        if !worker { print("\(plan.runs.count) runs (\(loaded.map(\.name).joined(separator: ", ")), profile \(profile)): \(StoredStatus.summary(counts))") }
        if dryRun { return try printPlan(plan, statuses: statuses) }
        if slurm { return try writeSlurm(plan) }
        try executor.prepareStore()
        Interrupt.install()
        if worker { Interrupt.stopWhenOrphaned() }
        if jobs > 1 && !worker { return try runWorkers() }
        exec.apply()
        let runner = SweepRunner(plan: plan, executor: executor, threads: exec.threads)
        runner.rerunFailed = rerunFailed
        runner.estimator = CostEstimator(summaries: RunStore(directory: store.runs).summaries())
        if noMpi { runner.include = { $0.parallel != .mpi } }   // the Slurm arrays of MPI runs train those
        if worker {   // the parent reads this if the worker crashes: which run to mark failed
            let mine = SweepWorkers.workerFile(store.runs, getpid())
            runner.executor.onTraining = { c in try? c.runID.write(toFile: mine, atomically: true, encoding: .utf8) }
            runner.executor.onReleased = { _ in try? FileManager.default.removeItem(atPath: mine) }
        }
        runner.launchMPI = { [store, data, exec] c in
            try MPIRank.launch(c, executor: executor, results: store.results, dataDir: data.dataDir, threads: exec.threads)
        }
        if isatty(1) == 1 && !worker { runner.live = { line in print("\r\u{1B}[2K" + line, terminator: ""); fflush(stdout) } }
        runner.log = { line in print((isatty(1) == 1 ? "\r\u{1B}[2K" : "") + (worker ? "[worker \(getpid())] " : "") + line); fflush(stdout) }
        try runner.run(shard: try shard.map { try Shard(parsing: $0) })
        if Interrupt.requested { print("stopped; the current run keeps its last checkpoint. Run the same command to go on."); throw ExitCode(130) }
        if !worker {
            print("sweep: " + StoredStatus.summary(plan.counts(executor)))
        }
    }

    /// The dry run: every run with its status and estimated cost, then the totals.
    func printPlan(_ plan: SweepPlan, statuses: [StoredStatus]) throws {
        let perWorker = max(1, exec.threads / jobs)
        Engine.configure(threads: perWorker)   // measure at the thread count each worker will have
        let stored = Dictionary(RunStore(directory: store.runs).summaries().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let estimator = CostEstimator(summaries: Array(stored.values))
        print("id".padded(18) + "status".padded(10) + "cost".leftPadded(12) + "  " + "from".padded(10) + "run")
        var todo: [Double] = [], sources: [RunCost.Source: Int] = [:]
        for (r, status) in zip(plan.runs, statuses) {
            let cost = try estimator.estimate(r.config, stored: stored[r.config.runID])
            if SweepRunner.needsTraining(status, rerunFailed: rerunFailed) { todo.append(cost.seconds); sources[cost.source, default: 0] += 1 }
            print(r.config.runID.padded(18) + status.rawValue.padded(10) + CostEstimator.format(cost.seconds).leftPadded(12) + "  "
                  + cost.source.rawValue.padded(10) + r.config.label)
        }
        let total = todo.reduce(0, +)
        let how = sources.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        print("to run: \(todo.count) of \(plan.runs.count) runs, \(CostEstimator.format(total)) of training at \(perWorker) thread(s) each (estimates: \(how.isEmpty ? "none" : how))")
        print("wall time: --jobs \(jobs): about \(CostEstimator.format(CostEstimator.wallTime(todo, slots: jobs)))"
              + "; a Slurm array with \(parallel) tasks at once (--parallel): about \(CostEstimator.format(CostEstimator.wallTime(todo, slots: parallel)))"
              + " if each task runs as fast as here")
        print("(history: done runs of the same model, method, K and batch, scaled to epochs × samples; measured: 2 steps on synthetic data here, "
              + "pipelined and MPI runs timed sequentially, an upper bound)")
    }

    func runWorkers() throws {
        let each = max(1, exec.threads / jobs)
        var args = specs + ["--profile", profile, "--worker", "--threads", String(each), "--results", store.results, "--data-dir", data.dataDir]
        if rerunFailed { args.append("--rerun-failed") }
        if let m = data.mirror { args += ["--mirror", m] }
        if data.offline { args.append("--offline") }
        if let shard { args += ["--shard", shard] }
        print("\(jobs) workers, \(each) thread(s) each")
        let plan = try SweepPlan(specs: specs.map { try SweepSpec(path: $0) }, profile: profile, profiles: store.results + "/profiles")
        let executor = RunExecutor(runsDirectory: store.runs, dataStore: data.store)
        let status = try SweepWorkers(arguments: ["sweep"] + args, jobs: jobs, plan: plan, executor: executor, runsDirectory: store.runs)
            .run { print($0) }
        if Interrupt.requested { print("stopped; each worker's current run keeps its last checkpoint. Run the same command to go on."); throw ExitCode(130) }
        let after = try SweepPlan(specs: specs.map { try SweepSpec(path: $0) }, profile: profile, profiles: store.results + "/profiles").counts(executor)
        print("sweep: " + StoredStatus.summary(after))
        if status != 0 { throw ExitCode(status) }
    }

    func writeSlurm(_ plan: SweepPlan) throws {
        let cwd = FileManager.default.currentDirectoryPath
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }
        let jobs = SlurmJobs(specPaths: specs.map(abs), profile: profile, parallel: parallel, cpus: cpus, onePerNode: onePerNode, time: time,
                             partition: partition, results: abs(store.results), data: abs(data.dataDir),
                             binary: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path, workdir: cwd)
        for line in try jobs.write(plan, into: store.results + "/slurm") { print(line) }
    }
}
