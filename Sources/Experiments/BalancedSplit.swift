// BalancedSplit: `split = "balanced"` made concrete before a run's id is computed. The cuts come from a
// per-unit profile measured on this machine (Scheduling/BlockProfile: forward + backward at the run's
// batch, one engine thread), plus each cut's local head, scaled from its MACs by the time per MAC of the
// unit it follows. As torchgpipe's balance_by_time does, the answer is an explicit balance: the config
// then holds `cuts:i,j,…`, so the run id names the cut and the run's bits never depend on a
// measurement. Profiles are cached in <results>/profiles/ by model, batch, engine and CPU, so the same
// command on the same machine resolves to the same cut (a killed run resumes).

import Crypto
import Datasets
import Engine
import Foundation
import Methods
import Scheduling

public enum BalancedSplit {
    /// The model spec a run builds: the dataset's input shape and classes (S2S: the transformer's vocabulary).
    public static func modelSpec(_ c: RunConfig) throws -> ModelSpec {
        var spec = c.model
        if c.dataset == "s2s" {
            let task = try S2STask(length: c.s2sLength, digits: 10)
            spec.arch = "transformer"; spec.vocabulary = task.vocabulary; spec.length = task.sequenceLength; spec.classes = task.vocabulary
        } else {
            let def = try Registry.definition(c.dataset)
            spec.inChannels = def.shape.channels; spec.imageSize = def.shape.height; spec.classes = def.classNames.count
        }
        return spec
    }

    /// Returns `c` with a `balanced` split replaced by the measured cuts (unchanged otherwise), and the
    /// measured share of the costliest block.
    public static func resolve(_ c: RunConfig, profiles directory: String) throws -> (config: RunConfig, note: String?) {
        guard c.split == SplitRule.balanced.description else { return (c, nil) }
        let spec = try modelSpec(c)
        let model = try spec.build(seed: 0)
        let seconds = try profile(model, batch: c.batch, directory: directory)
        let shapes = try model.unitShapes(batch: 1)
        let macs = model.unitMACs(), head = Methods.headMACs(c.method, classes: spec.classes)
        let ns = seconds.map { Int(($0 * 1e9).rounded()) }
        guard (1...model.units.count).contains(c.blocks) else {
            throw EngineError.invalidArgument(name: "blocks", value: "\(c.blocks)", allowed: "1...\(model.units.count) for \(spec.arch) (one unit per block at most)")
        }
        let starts = BlockSplit.balancedStarts(costs: ns, blocks: c.blocks) { end in
            // the head after unit end−1, at that unit's measured time per MAC
            let perMAC = Double(ns[end - 1]) / Double(max(1, macs[end - 1]))
            return Int(Double(head(shapes[end - 1])) * perMAC)   // perMAC already covers forward + backward
        }
        var out = c
        out.split = c.blocks == 1 ? SplitRule.even.description : SplitRule.cuts(Array(starts.dropFirst())).description
        let ends = Array(starts.dropFirst()) + [ns.count]
        let blockNs = zip(starts, ends).map { ns[$0.0..<$0.1].reduce(0, +) }
        let share = Double(blockNs.max() ?? 0) / Double(max(1, blockNs.reduce(0, +)))
        return (out, String(format: "balanced split (measured here, batch %d, 1 thread): %@; costliest block %.0f %% of the step", c.batch, out.split, 100 * share))
    }

    /// Per-unit seconds from the cache, or measured and cached.
    static func profile(_ model: Model, batch: Int, directory: String) throws -> [Double] {
        let key = "\(model.spec)|batch \(batch)|engine \(Engine.version)|\(Engine.buildTarget)|\(CPU.modelName)"
        let digest = SHA256.hash(data: Data(key.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        let path = directory + "/" + digest + ".json"
        if let data = FileManager.default.contents(atPath: path),
           let cached = try? JSONDecoder().decode(CachedProfile.self, from: data), cached.key == key, cached.seconds.count == model.units.count {
            return cached.seconds
        }
        let seconds = try Parallel.withWorkers(1) { try BlockProfile.measureUnits(model, batch: batch) }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(CachedProfile(key: key, units: model.units.map(\.name), seconds: seconds)) {
            let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
            if FileManager.default.createFile(atPath: tmp, contents: data) { _ = rename(tmp, path) }
        }
        return seconds
    }

    struct CachedProfile: Codable { var key: String; var units: [String]; var seconds: [Double] }
}
