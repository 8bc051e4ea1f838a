// Block splitting: a model's units (stem, residual units or layers, head) cut into K contiguous blocks.
// Rules: `even` (the BLL code's: the first K−1 blocks take round(L/K) units, rounding half to even as
// Python does; the last takes the rest), `stages` (cuts at ResNet stage / VGG pooling boundaries, as the
// BWBPF code does), `layers` (every unit its own block, as Pred-Sim's paper), `balanced` (the cuts that
// make the costliest block cheapest; here from counted FLOPs — each unit's forward + backward, 3 × its
// MACs, plus the local head a cut adds — while runs resolve it from a measured profile into explicit
// cuts before their id is computed: Experiments/BalancedSplit.swift), or explicit cut points (the unit
// indices where blocks 2…K start). K = 1 is one block.

import Engine

/// How a model is cut into blocks; stored (specs, run files, the canonical JSON) as its text form.
public enum SplitRule: Hashable, Sendable, CustomStringConvertible, Codable {
    case even, stages, layers, balanced
    case cuts([Int])

    public static let names = ["even", "stages", "layers", "balanced", "cuts:i,j,..."]

    public init(parsing s: String) throws {
        switch s {
        case "even": self = .even
        case "stages": self = .stages
        case "layers": self = .layers
        case "balanced": self = .balanced
        default:
            guard s.hasPrefix("cuts:"), let cuts = Optional(s.dropFirst(5).split(separator: ",").compactMap { Int($0) }),
                  !cuts.isEmpty, cuts.count == s.dropFirst(5).split(separator: ",").count else {
                throw EngineError.invalidArgument(name: "split", value: s, allowed: SplitRule.names.joined(separator: ", "))
            }
            self = .cuts(cuts)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        do { self = try SplitRule(parsing: try c.decode(String.self)) }
        catch let e as EngineError { throw DecodingError.dataCorruptedError(in: c, debugDescription: e.description) }
    }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }

    public var description: String {
        switch self {
        case .even: return "even"
        case .stages: return "stages"
        case .layers: return "layers"
        case .balanced: return "balanced"
        case .cuts(let c): return "cuts:" + c.map(String.init).joined(separator: ",")
        }
    }
}

/// A contiguous run of a model's units, trained as one piece.
public final class Block {
    public let index: Int
    public let units: [Model.Unit]
    public let range: Range<Int>
    let chain: Sequential

    init(index: Int, model: Model, range: Range<Int>) {
        self.index = index; self.range = range
        units = Array(model.units[range])
        chain = Sequential(units.map(\.layer))
    }

    public var parameters: [Parameter] { chain.parameters }
    public var name: String { units.count == 1 ? units[0].name : "\(units.first!.name)..\(units.last!.name)" }
    public func forward(_ x: Tensor, mode: Mode) -> Tensor { chain.forward(x, mode: mode) }
    /// Backward through the block; `inputGradient: false` is where a block-local method cuts.
    public func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? { chain.backward(dy, inputGradient: inputGradient) }
}

public enum BlockSplit {
    /// Python's round(): half to even.
    static func pyRound(_ x: Double) -> Int { Int(x.rounded(.toNearestOrEven)) }

    /// Unit indices where a new stage starts (ResNet stages; the unit after each VGG max-pool).
    public static func stageStarts(_ model: Model) -> [Int] {
        var starts: [Int] = []
        var lastStage: String? = nil
        for (i, u) in model.units.enumerated() {
            if u.name.hasPrefix("layer"), u.name.contains(".") {          // ResNet residual units "layerS.b"
                let stage = String(u.name.split(separator: ".")[0])
                if let last = lastStage, stage != last { starts.append(i) }
                lastStage = stage
            } else if i > 0, u.name.hasPrefix("conv"), let seq = model.units[i - 1].layer as? Sequential,
                      seq.layers.last is MaxPool2d {
                starts.append(i)                                         // VGG: a conv unit after a pooling unit
            }
        }
        return starts.filter { $0 > 0 && $0 < model.units.count }
    }

    /// Training cost of each unit in MACs: forward + backward ≈ 3 × forward.
    public static func unitCosts(_ model: Model) -> [Int] { model.unitMACs().map { 3 * $0 } }

    /// The start index of each block. `headMACs(shape)`: forward MACs of the local head a rule attaches
    /// to a block whose output has `shape` (batch 1); it weighs in the `balanced` rule only.
    public static func starts(_ model: Model, blocks k: Int, rule: SplitRule, headMACs: ([Int]) -> Int = { _ in 0 }) throws -> [Int] {
        let l = model.units.count
        func tooMany(_ max: Int, _ why: String) -> EngineError {
            .invalidArgument(name: "blocks", value: "\(k)", allowed: "1...\(max) for \(model.spec.arch) with split '\(rule)' (\(why))")
        }
        guard k >= 1 else { throw tooMany(l, "K counts blocks") }
        switch rule {
        case .even:
            guard k <= l else { throw tooMany(l, "\(l) units") }
            let size = pyRound(Double(l) / Double(k))
            let starts = (0..<k).map { $0 * size }
            guard size >= 1, starts.last! < l else {
                let bad = (1...l).filter { kk in let s = pyRound(Double(l) / Double(kk)); return s < 1 || (kk - 1) * s >= l }
                throw EngineError.invalidArgument(name: "blocks", value: "\(k)",
                    allowed: "1...\(l) except \(bad.map(String.init).joined(separator: ", ")) for \(model.spec.arch) with split 'even' (the last block would be empty)")
            }
            return starts
        case .layers:
            guard k == l || k == 1 else { throw tooMany(l, "split 'layers' makes one block per unit: K = \(l)") }
            return k == 1 ? [0] : Array(0..<l)
        case .stages:
            let cands = stageStarts(model)
            guard k - 1 <= cands.count else { throw tooMany(cands.count + 1, "\(cands.count) stage boundaries") }
            if k == 1 { return [0] }
            // K−1 of the boundaries, spread evenly (all of them when K−1 equals their number)
            let picks = (1..<k).map { cands[pyRound(Double($0) * Double(cands.count + 1) / Double(k)) - 1] }
            guard Set(picks).count == picks.count else { throw tooMany(cands.count + 1, "boundaries would repeat") }
            return [0] + picks
        case .balanced:
            guard k <= l else { throw tooMany(l, "\(l) units") }
            let shapes = try model.unitShapes(batch: 1)
            return balancedStarts(costs: unitCosts(model), blocks: k) { end in 3 * headMACs(shapes[end - 1]) }
        case .cuts(let cuts):
            guard cuts.count == k - 1 else {
                throw EngineError.invalidArgument(name: "split", value: "\(rule)", allowed: "\(k - 1) cut points for K = \(k)")
            }
            guard cuts == cuts.sorted(), Set(cuts).count == cuts.count, cuts.allSatisfy({ $0 > 0 && $0 < l }) else {
                throw EngineError.invalidArgument(name: "split", value: "\(rule)", allowed: "increasing unit indices in 1..<\(l)")
            }
            return [0] + cuts
        }
    }

    /// Contiguous cuts of `costs` into k non-empty blocks minimising the costliest block, where a block
    /// ending before the last unit also pays `cutCost(end)` (its local head). Exact (dynamic programming
    /// over cut positions); ties go to the earliest cuts, so the answer is deterministic.
    public static func balancedStarts(costs: [Int], blocks k: Int, cutCost: (Int) -> Int) -> [Int] {
        let l = costs.count
        var prefix = [0]; for c in costs { prefix.append(prefix.last! + c) }
        func cost(_ a: Int, _ b: Int) -> Int { prefix[b] - prefix[a] + (b < l ? cutCost(b) : 0) }
        // best[j][e]: the smallest possible costliest block when units 0..<e form j blocks; from[j][e]: the last start
        var best = [[Int]](repeating: [Int](repeating: Int.max, count: l + 1), count: k + 1)
        var from = [[Int]](repeating: [Int](repeating: 0, count: l + 1), count: k + 1)
        best[0][0] = 0
        for j in 1...k {
            for e in j...l {
                for s in (j - 1)..<e where best[j - 1][s] != Int.max {
                    let v = max(best[j - 1][s], cost(s, e))
                    if v < best[j][e] { best[j][e] = v; from[j][e] = s }
                }
            }
        }
        var starts: [Int] = []
        var e = l
        for j in stride(from: k, through: 1, by: -1) { let s = from[j][e]; starts.append(s); e = s }
        return starts.reversed()
    }

    public static func split(_ model: Model, blocks k: Int, rule: SplitRule, headMACs: ([Int]) -> Int = { _ in 0 }) throws -> [Block] {
        let s = try starts(model, blocks: k, rule: rule, headMACs: headMACs)
        let ends = Array(s.dropFirst()) + [model.units.count]
        return zip(s, ends).enumerated().map { Block(index: $0.offset, model: model, range: $0.element.0..<$0.element.1) }
    }
}
