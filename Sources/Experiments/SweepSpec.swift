// SweepSpec: a grid of runs from a spec file.
//   [experiment] name, description, artefact       what the spec reproduces
//   [grid]       key = [values]                     axes: every combination is a run (first key outermost)
//   [fixed]      key = value                        settings shared by every run
//   [method.M]   key = value                        settings of method M (its MethodConfig keys, and `init`: the
//                                                   initialisation of M's reference code)
//   [profile.P]  key = value or [values]            overrides for profile P (a list replaces an axis)
//   [setting.S]  key = value                        a named bundle of settings: the axis `setting = ["S", ...]`
//                                                   picks combinations that are not a product (dataset × model)
// A method's own settings (MethodConfig keys: `feedback`, `decorrelation`, …) may also stand in [fixed], an axis,
// a setting or a profile (an ablation): they apply on top of [method.M], to the runs whose method reads them.
// A run's seed is derived from its replicate (the `seed` axis) and the data and model axes only, so
// every method and block count of a replicate starts from the same weights and sees the same data
// order, and adding a method or a block count changes no other run.

import Datasets
import Engine
import Foundation
import Methods
import Scheduling

public struct PlannedRun: Sendable {
    public let index: Int
    public let replicate: Int
    public let config: RunConfig
    /// The name of the spec that planned it.
    public var spec: String = ""
    /// The [setting.S] bundle it was planned from (nil when the spec has no setting axis).
    public var setting: String? = nil
    /// The spec keys that set it (fixed, axes, its setting's bundle, its method's table, its profile): what
    /// the spec states, as opposed to what it leaves at a default (the recipe check reads it).
    public var statedKeys: Set<String> = []
    public var origin: RunOrigin { RunOrigin(spec: spec, replicate: replicate) }
    /// Its setting and method: "fmnist-resnet18 bll" (the method alone without a setting axis).
    public var name: String { [setting, config.method.method.rawValue].compactMap { $0 }.joined(separator: " ") }
}

public struct SweepSpec: Sendable {
    public let file: String
    public let name: String
    public let description: String
    public let artefact: String
    let doc: SpecDocument

    public static let settingKeys = [
        "method", "model", "dataset", "blocks", "split", "seed", "width", "stem", "epochs", "batch",
        "optimizer", "lr", "momentum", "nesterov", "weight_decay", "no_decay_on_norm", "schedule", "milestones", "gamma",
        "warmup", "period", "cycle_peak", "train_subset", "test_subset", "augment", "s2s_length", "s2s_steps",
        "layers", "d_model", "heads", "ffn", "hidden", "dropout", "batch_norm", "conv_bias", "vgg_hidden", "parallel", "init", "drop_last", "lr_step", "s2s_layout",
    ]
    static let listValued: Set<String> = ["milestones", "hidden", "vgg_hidden"]
    /// Every method's settings: allowed outside [method.M] too (the header).
    static var methodKeys: Set<String> { MethodConfig.allKeys }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecError(file: path, line: 0, message: "cannot read the spec file; check the path")
        }
        try self.init(file: path, text: String(decoding: data, as: UTF8.self))
    }

    public init(file: String, text source: String) throws {
        self.file = file
        doc = try SpecDocument(file: file, text: source)
        for t in doc.tableOrder where !t.isEmpty {
            let ok = ["experiment", "grid", "fixed"].contains(t) || t.hasPrefix("method.") || t.hasPrefix("profile.") || t.hasPrefix("setting.")
            guard ok else {
                throw SpecError(file: file, line: doc.tableLines[t] ?? 0,
                                message: "unknown table [\(t)]; allowed: [experiment], [grid], [fixed], [method.NAME], [profile.NAME], [setting.NAME]")
            }
            if t.hasPrefix("method."), MethodName(rawValue: String(t.dropFirst(7))) == nil {
                throw SpecError(file: file, line: doc.tableLines[t] ?? 0, message: "unknown method in [\(t)]\(Suggestion.phrase(String(t.dropFirst(7)), in: MethodName.allCases.map(\.rawValue))); allowed: \(MethodName.list)")
            }
        }
        if let top = doc.tables[""]?.first {
            throw SpecError(file: file, line: top.1.line, message: "key '\(top.0)' outside a table; put it under [fixed] or [grid]")
        }
        let exp = doc.tables["experiment"] ?? []
        func text(_ k: String) -> String? { exp.first { $0.0 == k }.flatMap { if case .string(let s) = $0.1.kind { return s }; return nil } }
        for (k, v) in exp where !["name", "description", "artefact"].contains(k) {
            throw SpecError(file: file, line: v.line, message: "unknown key '\(k)' in [experiment]; allowed: name, description, artefact")
        }
        guard let n = text("name") else { throw SpecError(file: file, line: doc.tableLines["experiment"] ?? 1, message: "[experiment] needs name = \"...\"") }
        // the name becomes file names (Slurm scripts, job names): letters, digits, - _ . only
        guard !n.isEmpty, n.count <= 64, n.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }), !n.hasPrefix(".") else {
            let line = exp.first { $0.0 == "name" }?.1.line ?? 1
            throw SpecError(file: file, line: line, message: "invalid name '\(n)': allowed up to 64 letters, digits, '-', '_' and '.' (it names files), not starting with '.'")
        }
        name = n; description = text("description") ?? ""; artefact = text("artefact") ?? ""
        for t in ["grid", "fixed"] + doc.tableOrder.filter({ $0.hasPrefix("profile.") || $0.hasPrefix("setting.") }) {
            for (k, v) in doc.tables[t] ?? [] where !SweepSpec.settingKeys.contains(k) && !SweepSpec.methodKeys.contains(k) && !(k == "setting" && !t.hasPrefix("setting.")) {
                throw SpecError(file: file, line: v.line, message: "unknown key '\(k)' in [\(t)]\(Suggestion.phrase(k, in: SweepSpec.settingKeys)); allowed: \(SweepSpec.settingKeys.joined(separator: ", "))")
            }
        }
        for (k, v) in doc.tables["grid"] ?? [] {
            guard v.isArray else { throw SpecError(file: file, line: v.line, message: "axis '\(k)' in [grid] must be a list, e.g. \(k) = [\(v)]") }
            guard !v.list.isEmpty else { throw SpecError(file: file, line: v.line, message: "axis '\(k)' is empty; give at least one value") }
        }
        for t in doc.tableOrder where t.hasPrefix("method.") {
            let m = MethodName(rawValue: String(t.dropFirst(7)))!
            var probe = MethodConfig(method: m)
            for (k, v) in doc.tables[t]! {
                if k == "init" { continue }   // not a MethodConfig key: applied, and checked at its line, by plan()
                do { try probe.apply([k: SweepSpec.plain(v)]) }
                catch { throw SpecError(file: file, line: v.line, message: "\(error)") }
            }
        }
        _ = try plan(profile: nil)   // every combination must make a valid config
        for p in profiles { _ = try plan(profile: p) }
    }

    public var profiles: [String] { doc.tableOrder.filter { $0.hasPrefix("profile.") }.map { String($0.dropFirst(8)) } }

    static func plain(_ v: SpecValue) -> String {
        switch v.kind {
        case .string(let s): return s
        case .array(let a): return a.map(plain).joined(separator: ",")
        default: return v.description
        }
    }

    /// Every run of the grid under `profile` (nil: the spec as written), in a fixed order.
    public func plan(profile: String?) throws -> [PlannedRun] {
        var checkedCuts = Set<String>()
        var axes: [(String, [SpecValue])] = (doc.tables["grid"] ?? []).map { ($0.0, $0.1.list) }
        var fixed: [(String, SpecValue)] = doc.tables["fixed"] ?? []
        var late: [(String, SpecValue)] = []   // a profile's scalars: applied after the axes (and setting bundles)
        if let profile {
            guard let overrides = doc.tables["profile." + profile] else {
                throw SpecError(file: file, line: 0, message: "no profile '\(profile)'; this spec has: \(profiles.joined(separator: ", "))")
            }
            for (k, v) in overrides {
                if let i = axes.firstIndex(where: { $0.0 == k }) {
                    guard !v.list.isEmpty else { throw SpecError(file: file, line: v.line, message: "axis '\(k)' is empty in profile \(profile)") }
                    axes[i].1 = SweepSpec.listValued.contains(k) ? [v] : v.list
                } else if v.isArray && !SweepSpec.listValued.contains(k) {
                    axes.append((k, v.list))
                } else {
                    fixed.removeAll { $0.0 == k }; late.append((k, v))
                }
            }
        }
        for (k, v) in fixed where axes.contains(where: { $0.0 == k }) {
            throw SpecError(file: file, line: v.line, message: "'\(k)' is both an axis in [grid] and a fixed setting")
        }
        var combos: [[(String, SpecValue)]] = [[]]
        for (k, values) in axes { combos = combos.flatMap { c in values.map { c + [(k, $0)] } } }
        var runs: [PlannedRun] = []
        for combo in combos {
            var c = RunConfig(method: MethodConfig(method: .bp), model: ModelSpec(arch: .resnet18), dataset: "fashion-mnist")
            c.profile = profile ?? ""
            var replicate = 0
            var setting: String? = nil
            var stated = Set<String>()
            var methodSettings: [(String, SpecValue)] = []
            for (k, v) in fixed + combo + late {
                stated.insert(k)
                if k == "seed" { replicate = try int(k, v); continue }
                if SweepSpec.methodKeys.contains(k) { methodSettings.append((k, v)); continue }
                if k == "setting" {
                    let name = try str(k, v)
                    setting = name
                    guard let bundle = doc.tables["setting." + name] else {
                        let known = doc.tableOrder.filter { $0.hasPrefix("setting.") }.map { String($0.dropFirst(8)) }
                        throw SpecError(file: file, line: v.line, message: "no [setting.\(name)] table; this spec has: \(known.joined(separator: ", "))")
                    }
                    for (bk, bv) in bundle {
                        stated.insert(bk)
                        if SweepSpec.methodKeys.contains(bk) { methodSettings.append((bk, bv)) } else { try apply(bk, bv, to: &c) }
                    }
                    continue
                }
                try apply(k, v, to: &c)
            }
            if let t = doc.tables["method." + c.method.method.rawValue] {
                var m = MethodConfig(method: c.method.method)
                try m.apply(Dictionary(uniqueKeysWithValues: t.filter { $0.0 != "init" }.map { ($0.0, SweepSpec.plain($0.1)) }))
                c.method = m
                // the method's reference init wins over [fixed] (a profile's own `init` wins over both)
                if let v = t.first(where: { $0.0 == "init" })?.1, !late.contains(where: { $0.0 == "init" }) { try apply("init", v, to: &c) }
                stated.formUnion(t.map(\.0))
            }
            for (k, v) in methodSettings where MethodConfig.keys(for: c.method.method).contains(k) {
                do { try c.method.apply([k: SweepSpec.plain(v)]) } catch { throw SpecError(file: file, line: v.line, message: "\(error)") }
            }
            c.canonicalize()
            c.seed = SweepSpec.runSeed(replicate: replicate, c)
            do {
                try c.validate()
                // the probe model depends on the model, K and split only: one per distinct cut, not per run
                let probeKey = "\(c.blocks)|\(c.split)|\(c.dataset)|\(c.s2sLength)|\(c.s2sLayout?.rawValue ?? "")|\(c.batch)|" + ((try? JSONEncoder().encode(c.model)).map { String(decoding: $0, as: UTF8.self) } ?? "")
                if checkedCuts.insert(probeKey).inserted { try SweepSpec.checkSplit(c) }
            }
            catch {
                // the line of the key the error names, when the spec sets it; else the grid's
                var line = combo.first?.1.line ?? doc.tableLines["grid"] ?? 0
                if case let EngineError.invalidArgument(name, _, _) = error,
                   let hit = doc.tableOrder.lazy.compactMap({ self.doc.tables[$0]?.first { $0.0 == name }?.1.line }).first { line = hit }
                throw SpecError(file: file, line: line, message: "\(c.label): \(error)")
            }
            runs.append(PlannedRun(index: runs.count, replicate: replicate, config: c, spec: name, setting: setting, statedKeys: stated))
        }
        return runs
    }

    /// Builds a thin copy of the run's model (width 1/64: the same units, few weights) and cuts it,
    /// so that a K the model cannot take, or a step whose activations would not fit, is an error before
    /// anything runs.
    static func checkSplit(_ c: RunConfig) throws {
        var probe = try c.builtModelSpec()
        probe.width = min(probe.width, 1.0 / 64); probe.classes = max(2, probe.classes)
        if probe.isSequence { probe.dModel = probe.heads; probe.ffn = 1 }
        let model = try probe.build(seed: 0)
        _ = try BlockSplit.split(model, blocks: c.blocks, rule: c.split)
        try c.checkActivations(probe: model, probeWidth: probe.width)
    }

    /// The seed of a run: replicate × (dataset, model, width), not method, K or optimizer.
    public static func runSeed(replicate: Int, _ c: RunConfig) -> UInt64 {
        var s = fnv1a64("\(replicate)|\(c.dataset)|\(c.model.arch)|\(c.model.width)")
        return splitMix64(&s) >> 33   // 31 bits: short enough to read and to pass on a command line
    }

    func int(_ k: String, _ v: SpecValue) throws -> Int {
        if case .int(let i) = v.kind { return i }
        throw SpecError(file: file, line: v.line, message: "'\(k)' expects an integer, got \(v)")
    }
    func num(_ k: String, _ v: SpecValue) throws -> Double {
        switch v.kind { case .int(let i): return Double(i); case .double(let d): return d
        default: throw SpecError(file: file, line: v.line, message: "'\(k)' expects a number, got \(v)") }
    }
    func str(_ k: String, _ v: SpecValue) throws -> String {
        if case .string(let s) = v.kind { return s }
        throw SpecError(file: file, line: v.line, message: "'\(k)' expects a quoted string, got \(v)")
    }
    func bool(_ k: String, _ v: SpecValue) throws -> Bool {
        if case .bool(let b) = v.kind { return b }
        throw SpecError(file: file, line: v.line, message: "'\(k)' expects true or false, got \(v)")
    }
    func ints(_ k: String, _ v: SpecValue) throws -> [Int] { try v.list.map { try int(k, $0) } }

    func apply(_ k: String, _ v: SpecValue, to c: inout RunConfig) throws {
        func opt(_ key: String, _ value: String) throws {
            do { try c.optimizer.apply([key: value]) } catch { throw SpecError(file: file, line: v.line, message: "\(error)") }
        }
        switch k {
        case "method":
            let s = try str(k, v)
            guard let m = MethodName(rawValue: s) else { throw SpecError(file: file, line: v.line, message: "unknown method '\(s)'; allowed: \(MethodName.list)") }
            c.method = MethodConfig(method: m)
        case "model":
            let s = try str(k, v)
            guard let a = Architecture(rawValue: s) else { throw SpecError(file: file, line: v.line, message: "unknown model '\(s)'; allowed: \(Architecture.list)") }
            c.model.arch = a
        case "dataset":
            let name = try str(k, v)
            do { c.dataset = try DatasetName(parsing: name) } catch { throw SpecError(file: file, line: v.line, message: "\(error)") }
        case "blocks": c.blocks = try int(k, v)
        case "split":
            do { c.split = try SplitRule(parsing: try str(k, v)) } catch let e as EngineError { throw SpecError(file: file, line: v.line, message: "\(e)") }
        case "width": c.model.width = try num(k, v)
        case "stem":
            guard let s = ModelSpec.Stem(rawValue: try str(k, v)) else { throw SpecError(file: file, line: v.line, message: "'stem' is cifar or imagenet, got \(v)") }
            c.model.stem = s
        case "epochs": c.epochs = try int(k, v)
        case "batch": c.batch = try int(k, v)
        case "optimizer", "schedule": try opt(k, try str(k, v))
        case "lr", "momentum", "weight_decay", "gamma", "warmup", "period", "cycle_peak": try opt(k, String(try num(k, v)))
        case "nesterov", "no_decay_on_norm": try opt(k, String(try bool(k, v)))
        case "lr_step": try opt(k, try str(k, v))
        case "milestones": try opt(k, try v.list.map { String(try num(k, $0)) }.joined(separator: ","))
        case "train_subset": c.trainSubset = try int(k, v)
        case "test_subset": c.testSubset = try int(k, v)
        case "augment":
            let text = try str(k, v)
            do { c.augmentation = try Augmentation(parsing: text) } catch { throw SpecError(file: file, line: v.line, message: "\(error)") }
        case "s2s_length": c.s2sLength = try int(k, v)
        case "s2s_steps": c.s2sSteps = try int(k, v)
        case "s2s_layout":
            let text = try str(k, v)
            guard let layout = S2STask.Layout(rawValue: text) else {
                throw SpecError(file: file, line: v.line, message: "invalid s2s_layout '\(text)'; allowed: \(S2STask.Layout.list)")
            }
            c.s2sLayout = layout
        case "layers": c.model.layers = try int(k, v)
        case "d_model": c.model.dModel = try int(k, v)
        case "heads": c.model.heads = try int(k, v)
        case "ffn": c.model.ffn = try int(k, v)
        case "hidden": c.model.hidden = try ints(k, v)
        case "vgg_hidden": c.model.vggHidden = try ints(k, v)
        case "dropout": c.model.dropout = try num(k, v)
        case "batch_norm": c.model.batchNorm = try bool(k, v)
        case "conv_bias": c.model.convBias = try bool(k, v)
        case "drop_last": c.dropLast = try bool(k, v)
        case "init":
            do { c.initScheme = try InitScheme(parsing: try str(k, v)) } catch let e as EngineError { throw SpecError(file: file, line: v.line, message: "\(e)") }
        case "parallel":
            do { c.parallel = try ParallelMode(parsing: try str(k, v)) } catch let e as PipelineError { throw SpecError(file: file, line: v.line, message: "\(e)") }
        default: throw SpecError(file: file, line: v.line, message: "unknown key '\(k)'")
        }
    }
}
