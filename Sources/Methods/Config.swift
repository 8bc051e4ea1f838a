// Every method's and optimizer's knobs in one typed, validated value, with the papers' defaults
// (../shared/research/methods.md). `apply(["key": "value"])` sets knobs by name; an unknown key or a
// bad value is an error that lists what is allowed.

import Engine

public enum MethodName: String, Codable, CaseIterable, Sendable {
    case bp, fa, predsim, bwbpf, bwbpfCode = "bwbpf-code", bll, bllCode = "bll-code"
    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
    /// Rules whose blocks wait for the whole backward pass (nothing detached): they cannot be pipelined.
    public var isLocked: Bool { self == .bp || self == .fa || self == .bwbpfCode }
    /// Rules that train their blocks from local losses (everything but end-to-end BP and FA).
    public var isBlockLocal: Bool { self != .bp && self != .fa }
}

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

public struct MethodConfig: Codable, Hashable, Sendable {
    public var method: MethodName
    // pred-sim (Nøkland & Eidnes code defaults)
    public var beta: Double = 0.99
    public var dimInDecoder: Int = 2048
    // bwbpf: nothing beyond the heads
    // bll (DESIGN.md's variational rule)
    public enum Feedback: String, Codable, CaseIterable, Sendable { case chain, direct }
    public enum Distribution: String, Codable, CaseIterable, Sendable { case gaussian, bernoulli }
    public enum Pooling: String, Codable, CaseIterable, Sendable { case avg, max }
    public var lambda: Double = 1
    public var feedback: Feedback = .chain
    public var distribution: Distribution = .gaussian
    public var decorrelation: Double = 1
    public var pooling: Pooling = .avg
    // bll-code (the released ImageNet code, rn50_BLL_32_epochs.yaml and script defaults)
    public var alpha: Double = 0.43
    public var corrWeight: Double = 0.7
    public var protoWeight: Double = 0.25
    public var protoSign: Double = 1           // +1: as released (rewards anti-alignment), −1: corrected
    public var auxWeight: Double = 0.5
    public var trainAuxHead: Bool = false      // false: as with torch ≥ 2, the aux head stays at its init
    /// bll-code's auxiliary head pooling: `adaptive` (as released: AdaptiveAvgPool2d to the size an
    /// AvgPool2d(3, stride 2) would give, then Linear on C·h'·w') or `global` (average). New bll-code configs
    /// say `adaptive`; nil, as in configs written before the option, means `global`.
    public enum AuxPooling: String, Codable, CaseIterable, Sendable { case adaptive, global }
    public var auxPooling: AuxPooling? = nil
    public var labelSmoothing: Double = 0.1
    public var feedbackLR: Double = 0.9
    public var feedbackMomentum: Double = 0.01
    public var feedbackWeightDecay: Double = 0.01
    /// bll-code's denoising term λ_den·MSE(block(sg(x_in) + σ·ε), sg(a)); nil = 0 (train_imagenet_BLL.py's
    /// default) and σ nil = 0.01. Optional so that configs without them keep their run ids.
    public var denoiseWeight: Double? = nil
    public var denoiseStd: Double? = nil

    public init(method: MethodName) {
        self.method = method
        if method == .bllCode { auxPooling = .adaptive }
    }

    /// The keys each method reads.
    public static func keys(for m: MethodName) -> [String] {
        switch m {
        case .bp, .fa, .bwbpf, .bwbpfCode: return []
        case .predsim: return ["beta", "dim_in_decoder"]
        case .bll: return ["lambda", "feedback", "distribution", "decorrelation", "pooling"]
        case .bllCode: return ["alpha", "corr_weight", "proto_weight", "proto_sign", "aux_weight", "train_aux_head", "aux_pooling",
                               "label_smoothing", "feedback_lr", "feedback_momentum", "feedback_weight_decay", "denoise", "denoise_std"]
        }
    }

    /// The fields (their Codable names) this config's method reads, `method` included.
    public var fieldsInUse: Set<String> {
        let camel = MethodConfig.keys(for: method).map { key -> String in
            if key == "denoise" { return "denoiseWeight" }
            let parts = key.split(separator: "_")
            return String(parts[0]) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        }
        return Set(["method"] + camel)
    }

    public mutating func apply(_ settings: [String: String]) throws {
        let allowed = MethodConfig.keys(for: method)
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            guard allowed.contains(key) else {
                throw EngineError.invalidArgument(name: "setting for \(method.rawValue)", value: key,
                                                  allowed: allowed.isEmpty ? "none (this method has no settings)" : allowed.joined(separator: ", "))
            }
            func num() throws -> Double {
                guard let v = Double(value), v.isFinite else { throw EngineError.invalidArgument(name: key, value: value, allowed: "a number") }
                return v
            }
            func choice<T: RawRepresentable & CaseIterable>(_: T.Type) throws -> T where T.RawValue == String {
                guard let v = T(rawValue: value) else {
                    throw EngineError.invalidArgument(name: key, value: value, allowed: T.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return v
            }
            func flag() throws -> Bool {
                guard let v = ["true": true, "false": false][value] else { throw EngineError.invalidArgument(name: key, value: value, allowed: "true, false") }
                return v
            }
            switch key {
            case "beta": beta = try num(); guard (0...1).contains(beta) else { throw EngineError.invalidArgument(name: key, value: value, allowed: "0...1") }
            case "dim_in_decoder":
                let v = try num()
                guard v == v.rounded(), (1...65_536).contains(v) else { throw EngineError.invalidArgument(name: key, value: value, allowed: "an integer in 1...65536") }
                dimInDecoder = Int(v)
            case "lambda": lambda = try num()
            case "feedback": feedback = try choice(Feedback.self)
            case "distribution": distribution = try choice(Distribution.self)
            case "decorrelation": decorrelation = try num()
            case "pooling": pooling = try choice(Pooling.self)
            case "alpha": alpha = try num()
            case "corr_weight": corrWeight = try num()
            case "proto_weight": protoWeight = try num()
            case "proto_sign": protoSign = try num(); guard abs(protoSign) == 1 else { throw EngineError.invalidArgument(name: key, value: value, allowed: "1 (as released), -1 (corrected)") }
            case "aux_weight": auxWeight = try num()
            case "train_aux_head": trainAuxHead = try flag()
            case "aux_pooling": auxPooling = try choice(AuxPooling.self)
            case "label_smoothing": labelSmoothing = try num()
            case "feedback_lr": feedbackLR = try num()
            case "feedback_momentum": feedbackMomentum = try num()
            case "feedback_weight_decay": feedbackWeightDecay = try num()
            case "denoise": denoiseWeight = try num(); guard denoiseWeight! >= 0 else { throw EngineError.invalidArgument(name: key, value: value, allowed: "a weight ≥ 0") }
            case "denoise_std": denoiseStd = try num(); guard denoiseStd! > 0 else { throw EngineError.invalidArgument(name: key, value: value, allowed: "a standard deviation > 0") }
            default: break
            }
        }
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
