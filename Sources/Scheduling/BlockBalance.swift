// BlockBalance: the cuts that make a pipeline's costliest block cheapest, from a per-unit profile measured
// on this machine (BlockProfile: forward + backward at the run's batch, one engine thread) plus each cut's
// local head, scaled from its MACs by the time per MAC of the unit it follows. Profiles are cached in a
// directory, one JSON file per model, batch and engine version (the machine that measured it is recorded
// in the file, not in the key), so every process that shares the directory — sweep workers, the tasks of
// a Slurm array on a shared filesystem — resolves the same cuts and plans the same run ids.

import Crypto
import Engine
import Foundation
import Methods

public enum BlockBalance {
    /// Start unit of each of `blocks` blocks, and the costliest block's share of the step.
    public static func starts(_ model: Model, blocks: Int, headMACs: ([Int]) -> Int, batch: Int, profiles directory: String) throws -> (starts: [Int], share: Double) {
        guard (1...model.units.count).contains(blocks) else {
            throw EngineError.invalidArgument(name: "blocks", value: "\(blocks)", allowed: "1...\(model.units.count) for \(model.spec.arch) (one unit per block at most)")
        }
        let seconds = try profile(model, batch: batch, directory: directory)
        let shapes = try model.unitShapes(batch: 1), macs = model.unitMACs()
        let ns = seconds.map { Int(($0 * 1e9).rounded()) }
        func head(_ end: Int) -> Int {   // the head after unit end−1, at that unit's measured time per forward MAC
            let perMAC = Double(ns[end - 1]) / Double(max(1, macs[end - 1]))   // covers forward + backward
            return Int(Double(headMACs(shapes[end - 1])) * perMAC)
        }
        let starts = BlockSplit.balancedStarts(costs: ns, blocks: blocks, cutCost: head)
        let ends = Array(starts.dropFirst()) + [ns.count]
        let blockNs = zip(starts, ends).map { ns[$0.0..<$0.1].reduce(0, +) + ($0.1 < ns.count ? head($0.1) : 0) }
        return (starts, Double(blockNs.max() ?? 0) / Double(max(1, blockNs.reduce(0, +))))
    }

    /// Per-unit seconds from the cache, or measured and cached.
    public static func profile(_ model: Model, batch: Int, directory: String) throws -> [Double] {
        let key = "\(model.spec.cacheKey)|batch \(batch)|engine \(Engine.version)"
        let digest = SHA256.hash(data: Data(key.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        let path = directory + "/" + digest + ".json"
        if let data = FileManager.default.contents(atPath: path),
           let cached = try? JSONDecoder().decode(CachedProfile.self, from: data), cached.key == key, cached.seconds.count == model.units.count {
            return cached.seconds
        }
        let seconds = try Parallel.withWorkers(1) { try BlockProfile.measureUnits(model, batch: batch) }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let machine = "\(CPU.modelName), engine built for \(Engine.buildTarget)"
        if let data = try? JSONEncoder().encode(CachedProfile(key: key, machine: machine, units: model.units.map(\.name), seconds: seconds)) {
            let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
            if FileManager.default.createFile(atPath: tmp, contents: data) { _ = rename(tmp, path) }
        }
        return seconds
    }

    struct CachedProfile: Codable { var key: String; var machine: String?; var units: [String]; var seconds: [Double] }
}
