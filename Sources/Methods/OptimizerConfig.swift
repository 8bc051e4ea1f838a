// The optimizer and learning-rate schedule of a run: one typed, validated value with its knobs by name
// (`apply(["key": "value"])`; an unknown key or a bad value is an error that lists what is allowed).

import Engine

public struct OptimizerConfig: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable { case sgd, adam, adamw }
    public enum ScheduleKind: String, Codable, CaseIterable, Sendable { case constant, step, cosine, cycle }
    public var kind: Kind = .adam
    public var lr: Double = 5e-4
    public var momentum: Double = 0.9
    public var nesterov: Bool = false
    public var weightDecay: Double = 0
    /// BatchNorm parameters get no weight decay (the BLL recipe).
    public var noDecayOnNorm: Bool = false
    public var schedule: ScheduleKind = .constant
    /// step: epochs (fractions of the run when ≤ 1) at which lr × gamma.
    public var milestones: [Double] = []
    public var gamma: Double = 0.25
    public var warmupEpochs: Double = 0
    /// cosine: period in epochs (0 = the run's length); cycle: the peak epoch.
    public var period: Double = 0
    public var cyclePeak: Double = 2
    /// When the schedule's factor moves: every iteration (at the fractional epoch; nil, 0.5.0's) or once per
    /// epoch (PyTorch's `scheduler.step()` after each epoch, as the BWBPF code does). `.iteration` is stored
    /// as no value, so existing run ids stay.
    public enum LRStep: String, Codable, CaseIterable, Sendable { case iteration, epoch }
    public var lrStep: LRStep? = nil {
        didSet { if lrStep == .iteration { lrStep = nil } }
    }

    public init() {}

    /// Whether stepping once per epoch gives the same rate at every iteration as stepping every iteration:
    /// a constant schedule, or steps at whole epochs, without warm-up.
    public func epochSteppingIsExact(epochs: Int) -> Bool {
        guard warmupEpochs == 0 else { return false }
        switch schedule {
        case .constant: return true
        case .step:
            let e = Double(epochs)
            return milestones.allSatisfy { m in let at = m <= 1 ? m * e : m; return at == at.rounded() }
        case .cosine, .cycle: return false
        }
    }

    public func make(_ params: [Parameter]) -> Optimizer {
        let groups = noDecayOnNorm ? ParameterGroup.excludingNorm(params, weightDecay: Float(weightDecay))
                                   : [ParameterGroup(params, weightDecay: Float(weightDecay))]
        switch kind {
        case .sgd: return SGD(groups, momentum: Float(momentum), nesterov: nesterov)
        case .adam: return Adam(groups)
        case .adamw: return Adam(groups, decoupled: true)
        }
    }

    public func schedule(epochs: Int) -> Schedule {
        let e = Double(epochs)
        let base: Schedule
        switch schedule {
        case .constant: base = .constant
        case .step: base = .step(milestones: milestones.map { $0 <= 1 ? $0 * e : $0 }, gamma: gamma)
        case .cosine: base = .cosine(period: period > 0 ? period : e, minFactor: 0)
        case .cycle: base = .piecewise(points: [(0, 1e-4), (min(cyclePeak, e), 1), (e, 0)])
        }
        return warmupEpochs > 0 ? .warmup(epochs: warmupEpochs, then: base) : base
    }
}

extension OptimizerConfig {
    /// The fields (their Codable names) this optimizer and schedule read.
    public var fieldsInUse: Set<String> {
        var f: Set<String> = ["kind", "lr", "weightDecay", "noDecayOnNorm", "schedule", "warmupEpochs", "lrStep"]
        if kind == .sgd { f.formUnion(["momentum", "nesterov"]) }
        switch schedule {
        case .constant: break
        case .step: f.formUnion(["milestones", "gamma"])
        case .cosine: f.insert("period")
        case .cycle: f.insert("cyclePeak")
        }
        return f
    }

    public static let keys = ["optimizer", "lr", "momentum", "nesterov", "weight_decay", "no_decay_on_norm",
                              "schedule", "milestones", "gamma", "warmup", "period", "cycle_peak", "lr_step"]

    public mutating func apply(_ settings: [String: String]) throws {
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            func num() throws -> Double {
                guard let v = Double(value), v.isFinite else { throw EngineError.invalidArgument(name: key, value: value, allowed: "a number") }
                return v
            }
            switch key {
            case "optimizer":
                guard let k = Kind(rawValue: value) else { throw EngineError.invalidArgument(name: key, value: value, allowed: Kind.allCases.map(\.rawValue).joined(separator: ", ")) }
                kind = k
            case "lr": lr = try num(); guard lr > 0 else { throw EngineError.invalidArgument(name: key, value: value, allowed: "a positive number") }
            case "momentum": momentum = try num()
            case "nesterov": nesterov = value == "true"
            case "weight_decay": weightDecay = try num()
            case "no_decay_on_norm": noDecayOnNorm = value == "true"
            case "schedule":
                guard let s = ScheduleKind(rawValue: value) else { throw EngineError.invalidArgument(name: key, value: value, allowed: ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")) }
                schedule = s
            case "milestones":
                let ms = value.split(separator: ",").compactMap { Double($0) }
                guard ms.count == value.split(separator: ",").count else { throw EngineError.invalidArgument(name: key, value: value, allowed: "comma-separated epochs, e.g. 100,150") }
                milestones = ms
            case "gamma": gamma = try num()
            case "warmup": warmupEpochs = try num()
            case "period": period = try num()
            case "cycle_peak": cyclePeak = try num()
            case "lr_step":
                guard let v = LRStep(rawValue: value) else { throw EngineError.invalidArgument(name: key, value: value, allowed: LRStep.allCases.map(\.rawValue).joined(separator: ", ")) }
                lrStep = v
            default:
                throw EngineError.invalidArgument(name: "optimizer setting", value: key, allowed: OptimizerConfig.keys.joined(separator: ", "))
            }
        }
    }
}
