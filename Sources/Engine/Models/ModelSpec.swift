// ModelSpec: every knob of the model families in one validated value, and `build`, which turns it
// into a Model. Families: mlp, resnet18/34/50/101/152, vgg8b/vgg11b/vgg19, transformer.

/// A model architecture; stored as its name. An unknown name is an error where it is parsed or decoded.
public enum Architecture: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case mlp, resnet18, resnet34, resnet50, resnet101, resnet152, vgg8b, vgg11b, vgg19, transformer
    public enum Family: Sendable { case mlp, resnet, vgg, transformer }
    public var family: Family {
        switch self {
        case .mlp: return .mlp
        case .resnet18, .resnet34, .resnet50, .resnet101, .resnet152: return .resnet
        case .vgg8b, .vgg11b, .vgg19: return .vgg
        case .transformer: return .transformer
        }
    }
    public var description: String { rawValue }
    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
    /// Parses a name; an unknown one is an error that lists the architectures.
    public init(parsing s: String) throws {
        guard let a = Architecture(rawValue: s) else { throw EngineError.invalidArgument(name: "model", value: s, allowed: Architecture.list) }
        self = a
    }
}

public struct ModelSpec: Codable, Hashable, Sendable {
    public enum Stem: String, Codable, Sendable, CaseIterable { case cifar, imagenet }

    public var arch: Architecture
    /// Channel multiplier for ResNet/VGG (0.25 = ResNet widths 16, 32, 64, 128).
    public var width: Double = 1
    public var inChannels: Int = 1
    public var imageSize: Int = 28
    public var classes: Int = 10
    public var stem: Stem = .cifar
    /// MLP hidden sizes.
    public var hidden: [Int] = [1024, 1024]
    /// VGG: BatchNorm after each conv, bias in each conv, FC hidden sizes before the classifier.
    public var batchNorm: Bool = true
    public var convBias: Bool = true
    public var vggHidden: [Int]? = nil
    public var dropout: Double = 0
    /// Transformer: layers, d_model, heads, FFN width, vocabulary, sequence length, causal mask.
    public var layers: Int = 20
    public var dModel: Int = 64
    public var heads: Int = 1
    public var ffn: Int = 256
    public var vocabulary: Int = 12
    public var length: Int = 20
    public var causal: Bool = true

    public init(arch: Architecture) { self.arch = arch }


    public var isSequence: Bool { arch.family == .transformer }

    /// The fields (their Codable names) that `build` reads for this architecture: what a person needs to
    /// see of a run's model; the others keep their defaults and change nothing.
    public var fieldsInUse: Set<String> {
        let image: Set<String> = ["arch", "classes", "inChannels", "imageSize"]
        switch arch.family {
        case .mlp: return image.union(["hidden", "dropout"])
        case .transformer: return ["arch", "classes", "layers", "dModel", "heads", "ffn", "vocabulary", "length", "causal"]
        case .resnet: return image.union(["width", "stem"])
        case .vgg: return image.union(["width", "batchNorm", "convBias", "vggHidden", "dropout"])
        }
    }

    /// Every field's range (names are the spec keys, so a spec error can point at its line); the sizes a
    /// config sets freely are capped (RunConfig.validate also bounds the parameters' memory).
    public func validate() throws {
        func bad(_ n: String, _ v: Any, _ allowed: String) -> EngineError { .invalidArgument(name: n, value: "\(v)", allowed: allowed) }
        guard width > 0, width <= 16 else { throw bad("width", width, "a multiplier in (0, 16], e.g. 0.25, 0.5, 1") }
        guard classes >= 2 else { throw bad("classes", classes, "an integer ≥ 2") }
        guard inChannels >= 1 else { throw bad("input channels", inChannels, "an integer ≥ 1") }
        guard imageSize >= 1 else { throw bad("image size", imageSize, "an integer ≥ 1") }
        guard dropout >= 0, dropout < 1 else { throw bad("dropout", dropout, "a probability in [0, 1)") }
        guard hidden.allSatisfy({ (1...65_536).contains($0) }), arch != .mlp || !hidden.isEmpty else { throw bad("hidden", hidden, "sizes in 1...65536") }
        guard (vggHidden ?? []).allSatisfy({ (1...65_536).contains($0) }) else { throw bad("vgg_hidden", vggHidden ?? [], "sizes in 1...65536") }
        guard (1...1000).contains(layers) else { throw bad("layers", layers, "an integer in 1...1000") }
        guard (1...8192).contains(dModel) else { throw bad("d_model", dModel, "an integer in 1...8192") }
        guard (1...dModel).contains(heads), dModel % heads == 0 else { throw bad("heads", heads, "a divisor of d_model \(dModel)") }
        guard (1...65_536).contains(ffn) else { throw bad("ffn", ffn, "an integer in 1...65536") }
        if isSequence {
            guard vocabulary >= 2 else { throw bad("vocabulary", vocabulary, "an integer ≥ 2") }
            guard length >= 1 else { throw bad("length", length, "an integer ≥ 1") }
        }
    }

    /// Every field as one line of text, in the form 0.5.0 wrote it (Swift's reflection of the struct when
    /// `arch` was a String), so caches keyed by it (the balanced split's measured profiles) stay valid.
    public var cacheKey: String {
        "ModelSpec(arch: \"\(arch.rawValue)\", width: \(width), inChannels: \(inChannels), imageSize: \(imageSize), classes: \(classes), "
            + "stem: Engine.ModelSpec.Stem.\(stem.rawValue), hidden: \(hidden), batchNorm: \(batchNorm), convBias: \(convBias), "
            + "vggHidden: \(vggHidden.map { "Optional(\($0))" } ?? "nil"), dropout: \(dropout), layers: \(layers), dModel: \(dModel), "
            + "heads: \(heads), ffn: \(ffn), vocabulary: \(vocabulary), length: \(length), causal: \(causal))"
    }

    /// Builds the model with weights drawn from the stream `(seed, "init/<unit>")`.
    public func build(seed: UInt64) throws -> Model {
        try validate()
        switch arch.family {
        case .mlp: return try buildMLP(seed: seed)
        case .transformer: return try buildTransformer(seed: seed)
        case .resnet: return try buildResNet(seed: seed)
        case .vgg: return try buildVGG(seed: seed)
        }
    }

    func scaled(_ c: Int) -> Int { max(1, Int((Double(c) * width).rounded())) }
}
