// Speedup against K, from `blocklocal bench --parallel` (results/bench/parallel.json): per model a table
// and a gnuplot figure of each local rule pipelined (K workers × 1 thread) over the same rule sequential
// on 1 thread, bp on K engine threads over bp on 1, the cost model's pipelined speedups and data-parallel
// BP over K devices (node and cluster links), and the ideal K dashed; measured points carry error bars
// over the bench's passes, and K above the core count (oversubscribed) is drawn open. A second table puts
// the pipelined runs' accuracy at K (paper/experiments/parallel.toml) beside the speedup at K.

import Bench
import Datasets
import Foundation

public enum Speedup {
    /// Which stored-run setting each bench model stands for.
    static let settings: [String: (dataset: String, model: String, width: Double)] = [
        "r18_fm_w0.25": ("fashion-mnist", "resnet18", 0.25), "gpt_d64": (Registry.s2s.name, "transformer", 1),
    ]

    public static func load(_ path: String) -> ParallelBenchReport? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ParallelBenchReport.self, from: data)
    }

    /// "ResNet-18 w1/4, 1x28x28" for "r18_fm_w0.25" (no underscores for gnuplot's enhanced text).
    static func summary(_ model: String) -> String { BenchConfig.reference.first { $0.key == model }?.summary ?? model.replacingOccurrences(of: "_", with: " ") }
    static func batch(_ model: String) -> Int { BenchConfig.reference.first { $0.key == model }?.batch ?? 0 }

    static func models(_ r: ParallelBenchReport) -> [String] {
        var out: [String] = []
        for p in r.points where !out.contains(p.model) { out.append(p.model) }
        return out
    }

    /// The cost model's samples/s for a pipelined point, recomputed from its stored per-block profile (so a
    /// report made with a newer model reads old measurements anew); the bench's own figure otherwise.
    static func modelled(_ r: ParallelBenchReport, _ p: ParallelPoint) -> Double? {
        guard let prof = r.profiles.first(where: { $0.model == p.model && $0.rule == p.rule && $0.blocks == p.blocks }) else { return p.predicted }
        return CostModel(batch: batch(p.model) > 0 ? batch(p.model) : 128, blockSeconds: prof.blockSeconds, blockBytes: prof.blockBytes,
                         forwardSeconds: prof.forwardSeconds ?? [], chained: prof.chained ?? []).pipelined(r.node)
    }

    /// Per rule (and bp), per K: the measured speedups of each pass, and the modelled one.
    struct Series { var name: String; var measured: [Int: [Double]]; var modelled: [Int: Double]; var oversubscribed: Set<Int> }

    static func series(_ r: ParallelBenchReport, model: String) -> [Series] {
        let pts = r.points.filter { $0.model == model }
        var rules: [String] = []
        for p in pts where p.mode == "pipelined" && !rules.contains(p.rule) { rules.append(p.rule) }
        var out: [Series] = []
        for rule in rules {
            var s = Series(name: rule + " pipelined", measured: [:], modelled: [:], oversubscribed: [])
            for p in pts where p.rule == rule && p.mode == "pipelined" {
                guard let seq = pts.first(where: { $0.rule == rule && $0.mode == "sequential" && $0.blocks == p.blocks }) else { continue }
                s.measured[p.blocks] = p.samplesPerSecond.map { $0 / seq.mean }
                if let m = modelled(r, p) { s.modelled[p.blocks] = m / seq.mean }
                if p.oversubscribed { s.oversubscribed.insert(p.blocks) }
            }
            out.append(s)
        }
        // the same rules with a rank per block (bench --transport mpi): measured points only, beside the threads'
        var mpiRules: [String] = []
        for p in pts where p.mode == "mpi" && !mpiRules.contains(p.rule) { mpiRules.append(p.rule) }
        for rule in mpiRules {
            var s = Series(name: rule + " MPI ranks", measured: [:], modelled: [:], oversubscribed: [])
            for p in pts where p.rule == rule && p.mode == "mpi" {
                guard let seq = pts.first(where: { $0.rule == rule && $0.mode == "sequential" && $0.blocks == p.blocks }) else { continue }
                s.measured[p.blocks] = p.samplesPerSecond.map { $0 / seq.mean }
                if p.oversubscribed { s.oversubscribed.insert(p.blocks) }
            }
            out.append(s)
        }
        let bp = pts.filter { $0.mode == "threads" }
        if let one = bp.first(where: { $0.blocks == 1 }) {
            var s = Series(name: "bp on K threads", measured: [:], modelled: [:], oversubscribed: [])
            for p in bp { s.measured[p.blocks] = p.samplesPerSecond.map { $0 / one.mean }; if p.oversubscribed { s.oversubscribed.insert(p.blocks) } }
            for (link, values) in (r.dataParallelBP[model] ?? [:]).sorted(by: { $0.key > $1.key }) {
                var d = Series(name: "data-parallel bp, \(link) link (model)", measured: [:], modelled: [:], oversubscribed: [])
                for (i, v) in values.enumerated() { d.modelled[i + 1] = v / one.mean }
                out.append(d)
            }
            out.insert(s, at: rules.count)
        }
        return out
    }

    /// `suffix`: appended to every name ("-quick": the profile whose report they belong to).
    public static func tables(_ r: ParallelBenchReport, _ agg: Aggregate, suffix: String = "") -> [ResultTable] {
        var out: [ResultTable] = []
        for model in models(r) {
            let ks = Set(r.points.filter { $0.model == model }.map(\.blocks)).sorted()
            let rows: [(String, [Cell])] = series(r, model: model).flatMap { s -> [(String, [Cell])] in
                var rows: [(String, [Cell])] = []
                if !s.measured.isEmpty { rows.append((s.name, ks.map { k in Cell(ours: s.measured[k].map { Stats($0) }, paper: nil) })) }
                if !s.modelled.isEmpty {
                    rows.append(((s.name.hasSuffix("(model)") ? s.name : s.name + " (cost model)"),
                                 ks.map { k in Cell(ours: s.modelled[k].map { Stats([$0]) }, paper: nil) }))
                }
                return rows
            }
            let over = ks.filter { $0 > r.cores }
            out.append(ResultTable(name: "speedup-vs-k-\(model)\(suffix)", title: "Speedup against K, \(model) (\(r.cores) cores" + (over.isEmpty ? "" : "; K = \(over.map(String.init).joined(separator: ", ")) oversubscribed") + ")",
                                   unit: "× over the same rule sequential on 1 thread (bp: over 1 thread); n = bench passes", columns: ks.map { "K=\($0)" }, rows: rows))
            // accuracy at K (pipelined runs) beside speedup at K
            guard let setting = settings[model] else { continue }
            let keys = agg.accuracy.keys.filter { $0.parallel == "pipeline" && $0.dataset == setting.dataset && $0.model == setting.model && $0.width == setting.width }
            guard !keys.isEmpty else { continue }
            for profile in Set(keys.map(\.profile)).sorted() {
                let these = keys.filter { $0.profile == profile }
                let rules = Set(these.map(\.method)).sorted { Tables.methodRank($0) < Tables.methodRank($1) }
                let ser = series(r, model: model)
                let rows = rules.map { m -> (String, [Cell]) in
                    (m, ks.flatMap { k -> [Cell] in
                        [Cell(ours: these.first { $0.method == m && $0.blocks == k }.flatMap { agg.accuracy[$0] }, paper: nil),
                         Cell(ours: ser.first { $0.name == m + " pipelined" }?.measured[k].map { Stats($0) }, paper: nil)]
                    })
                }
                let any = these[0]
                out.append(ResultTable(name: "accuracy-and-speedup-" + any.tag, title: "Pipelined local rules: accuracy and speedup at K, \(any.setting), profile \(profile)",
                                       unit: "test accuracy % (n seeds) | speedup × (n bench passes)", columns: ks.flatMap { ["K=\($0) acc", "K=\($0) speedup"] }, rows: rows))
            }
        }
        return out
    }

    /// One figure per model; returns the image paths.
    public static func figures(_ r: ParallelBenchReport, dir: String, suffix: String = "") throws -> [String] {
        _ = try Figures.gnuplot()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var out: [String] = []
        for model in models(r) {
            let name = "speedup-vs-k-\(model)\(suffix)"
            let ks = Set(r.points.filter { $0.model == model }.map(\.blocks)).sorted()
            var dat = "# per series: measured (K mean std oversubscribed), then modelled (K speedup); one block each\n"
            var plots: [String] = []
            var index = 0
            for (i, s) in series(r, model: model).enumerated() {
                let c = Figures.palette[i % Figures.palette.count]
                if !s.measured.isEmpty {
                    dat += "# \(s.name): measured\n"
                    for k in ks { if let v = s.measured[k] { let st = Stats(v); dat += String(format: "%d %.4f %.4f %d\n", k, st.mean, st.std, s.oversubscribed.contains(k) ? 1 : 0) } }
                    dat += "\n\n"
                    plots.append("'\(name).dat' index \(index) using 1:($4 == 0 ? $2 : 1/0):3 with yerrorlines lw 2 pt 7 ps 1.3 lc rgb '\(c)' title '\(s.name)'")
                    plots.append("'\(name).dat' index \(index) using 1:($4 == 1 ? $2 : 1/0):3 with yerrorbars pt 6 ps 1.3 lc rgb '\(c)' notitle")
                    index += 1
                }
                if !s.modelled.isEmpty {
                    dat += "# \(s.name): modelled\n"
                    for k in ks { if let v = s.modelled[k] { dat += String(format: "%d %.4f\n", k, v) } }
                    dat += "\n\n"
                    plots.append("'\(name).dat' index \(index) using 1:2 with lines dt 4 lw 2 lc rgb '\(c)' title '\(s.name.hasSuffix("(model)") ? s.name : s.name + " (cost model)")'")
                    index += 1
                }
            }
            plots.append("x with lines dt 2 lw 1 lc rgb 'black' title 'ideal (K)'")
            try dat.write(toFile: dir + "/" + name + ".dat", atomically: true, encoding: .utf8)
            let body = """
            set title "Speedup against K: \(summary(model)), batch \(batch(model))\\n\(r.cores) cores; open points: K > cores (oversubscribed); error bars: std over \(r.passes) bench passes"
            set xlabel "blocks K (a worker thread or an MPI rank per block, 1 engine thread each; bp: K engine threads)"
            set ylabel "samples/s over the same rule on 1 thread"
            set xtics (\(Figures.xtics(ks)))
            set xrange [\(Double(ks.first ?? 1) - 0.3):\(Double(ks.last ?? 1) + 0.3)]
            set yrange [0:*]
            set key top left box opaque font ',9'
            set grid
            plot \(plots.joined(separator: ", \\\n     "))
            """
            out += try Figures.render(Figures.script(name, body), name: name, dir: dir)
        }
        return out
    }
}

extension Speedup {
    /// The report's reading of the speedups, from the numbers: per model, the speedups at the largest K
    /// the cores allow, bp's on as many threads, and how far the cost model was from the measurements.
    public static func reading(_ r: ParallelBenchReport) -> [String] {
        var lines: [String] = []
        for model in models(r) {
            let pts = r.points.filter { $0.model == model }
            guard let k = pts.filter({ $0.mode == "pipelined" && !$0.oversubscribed && $0.blocks > 1 }).map(\.blocks).max() else { continue }
            let ser = series(r, model: model)
            let shown = ser.filter { $0.name.hasSuffix(" pipelined") }.compactMap { s in
                s.measured[k].map { "\(s.name.replacingOccurrences(of: " pipelined", with: "")) \(String(format: "%.2f", Stats($0).mean))×" }
            }
            let bp = ser.first { $0.name == "bp on K threads" }?.measured[k].map { String(format: "%.2f", Stats($0).mean) } ?? "—"
            let errors = pts.filter { $0.mode == "pipelined" && !$0.oversubscribed }.compactMap { p in modelled(r, p).map { abs($0 - p.mean) / p.mean } }
            var line = "- Speed, \(model), K = \(k) on \(r.cores) cores: pipelined \(shown.joined(separator: ", ")) over the same rule on one thread; bp on \(k) threads \(bp)×."
            if let worst = errors.max() {
                line += String(format: " The cost model is within %.0f %% of every measured point with K ≤ cores (mean %.0f %%).", 100 * worst, 100 * errors.reduce(0, +) / Double(errors.count))
            }
            if pts.contains(where: \.oversubscribed) { line += " Points with K > cores share cores: the figure draws them open, and only the model speaks for K devices there." }
            lines.append(line)
        }
        return lines
    }
}
