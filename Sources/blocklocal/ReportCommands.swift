import ArgumentParser
import Bench
import Datasets
import Experiments
import Foundation
import Report

/// What every report command reads and where it writes.
struct ReportOptions: ParsableArguments {
    @Option(help: "Only runs of this profile (default: all).") var profile: String?
    @Option(help: "Published numbers and claims.") var reference: String = "paper/reference.csv"
    @Option(help: "Tolerance in accuracy points (added to twice the seed spread).") var tolerance: Double = 1.0
    @Option(help: "Where tables go.") var tables: String = "results/tables"
    @Option(help: "Where figures go.") var figures: String = "results/figures"
    @Option(help: "`blocklocal bench --parallel` results: the speedup table and figure (skipped when missing).")
    var parallelBench: String = "results/bench/parallel.json"
    var parallel: ParallelBenchReport? { Speedup.load(parallelBench) }
    /// Appended to the name of every output that does not carry its profile otherwise ("-quick"), so a
    /// report of one profile never overwrites another's (the committed quick results stay as they are
    /// when `make reproduce PROFILE=smoke` runs).
    var suffix: String { profile.map { "-" + $0 } ?? "" }
}

func loadAggregate(_ store: StoreOptions, _ r: ReportOptions) throws -> Aggregate {
    let agg = try Aggregate(store: RunStore(directory: store.runs), profile: r.profile)
    if agg.runs == 0 {
        throw ValidationError("no finished runs in \(store.runs)\(r.profile.map { " for profile \($0)" } ?? ""); run `make reproduce` or `blocklocal sweep` first")
    }
    return agg
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Aggregate the run store over seeds: tables, figures, the diff, and paper/REPRODUCTION-<profile>.md.")
    @OptionGroup var options: ReportOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var data: DataOptions
    @Option(help: "The reproduction report to write (default: paper/REPRODUCTION-<profile>.md, or paper/REPRODUCTION.md for all profiles).")
    var out: String?
    @Flag(help: "Skip the figures (no gnuplot needed).") var noFigures = false

    func run() throws {
        let agg = try loadAggregate(store, options)
        let reference = try ReferenceTable.load(options.reference)
        let parallel = options.parallel
        let out = self.out ?? "paper/REPRODUCTION\(options.suffix).md"
        let tables = ReproductionReport.tables(agg, reference, parallel: parallel, suffix: options.suffix)
        try FileManager.default.createDirectory(atPath: options.tables, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent.isEmpty ? "." : (out as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        for t in tables { try t.write(to: options.tables) }
        let figures = noFigures ? [] : try Figures.renderAll(agg, dir: options.figures)
            + (parallel.map { try Speedup.figures($0, dir: options.figures, suffix: options.suffix) } ?? [])
        let available = data.store.isAvailable(mirror: data.mirror)
        let diff = PaperDiff.diff(reference, agg, tolerance: options.tolerance, available: available)
        try PaperDiff.markdown(diff).write(toFile: options.tables + "/diff\(options.suffix).md", atomically: true, encoding: .utf8)
        let unavailable = Registry.all.map(\.name).filter { !available($0) }
        let commit = Provenance.sourceCommit(short: true)
        var report = ReproductionReport(aggregate: agg, tables: tables, figures: figures, diff: diff, unavailable: unavailable,
                                        commit: commit, reportPath: out)
        report.parallel = parallel
        try report.write()
        for d in agg.damaged { print("warning: left out \(d.path): \(d.reason)") }
        if !agg.leftOut.isEmpty {
            print("warning: \(agg.leftOut.values.reduce(0, +)) run(s) differ from the rest of their group in more than the seed and are left out; see \(out)")
        }
        print("\(agg.runs) runs → \(tables.count) tables in \(options.tables), \(figures.count / 2) figures in \(options.figures), diff: \(PaperDiff.counts(diff)); wrote \(out)")
    }
}

struct FiguresCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "figures", abstract: "Render every figure from the stored runs with gnuplot (no training).")
    @OptionGroup var options: ReportOptions
    @OptionGroup var store: StoreOptions
    func run() throws {
        let files = try Figures.renderAll(try loadAggregate(store, options), dir: options.figures)
            + (options.parallel.map { try Speedup.figures($0, dir: options.figures, suffix: options.suffix) } ?? [])
        for f in files where f.hasSuffix(".png") { print(f) }
        print("\(files.count / 2) figures (PNG and SVG, with .dat and .gp beside them) in \(options.figures)")
    }
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff", abstract: "Our numbers beside the papers', with a verdict per cell and per claim.")
    @OptionGroup var options: ReportOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var data: DataOptions
    @Flag(help: "Exit with status 1 when a cell is lower than the paper's beyond tolerance.") var strict = false
    func run() throws {
        let rows = PaperDiff.diff(try ReferenceTable.load(options.reference), try loadAggregate(store, options),
                                  tolerance: options.tolerance, available: data.store.isAvailable(mirror: data.mirror))
        print(PaperDiff.markdown(rows))
        print("verdicts: \(PaperDiff.counts(rows))")
        if strict && rows.contains(where: { $0.verdict == .lower }) { throw ExitCode(1) }
    }
}
