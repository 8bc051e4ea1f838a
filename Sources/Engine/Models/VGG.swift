// VGG from a config list: numbers are 3×3 conv (padding 1) output channels, "M" a 2×2 max-pool.
// Each conv unit: conv (bias optional) + [BatchNorm fused with] ReLU [+ the max-pool that follows it].
// vgg8b and vgg11b are Nøkland & Eidnes' nets (then one FC layer of 1024 and the classifier);
// vgg19 is the classic 16-conv net (BWBPF), followed by the classifier on the flattened features.
// Units: conv1 … convN, fc1 … (hidden FC layers), head.

extension ModelSpec {
    static let vggConfigs: [Architecture: (convs: [Int?], hidden: [Int])] = [   // nil = max-pool
        .vgg8b: ([128, 256, nil, 256, 512, nil, 512, nil, 512, nil], [1024]),
        .vgg11b: ([128, 128, 128, 256, nil, 256, 512, nil, 512, 512, nil, 512, nil], [1024]),
        .vgg19: ([64, 64, nil, 128, 128, nil, 256, 256, 256, 256, nil, 512, 512, 512, 512, nil,
                   512, 512, 512, 512, nil], []),
    ]

    func buildVGG(seed: UInt64) throws -> Model {
        let (config, defaultHidden) = ModelSpec.vggConfigs[arch]!
        var units: [Model.Unit] = []
        var c = inChannels, size = imageSize, index = 0
        for entry in config {
            guard let ch = entry else {
                guard let last = units.popLast(), size >= 2 else {
                    throw EngineError.invalidArgument(name: "image size", value: "\(imageSize)",
                                                      allowed: "a size that survives \(arch)'s max-pools (≥ 32 for 5 pools)")
                }
                (last.layer as! Sequential).append(MaxPool2d(kernel: 2))
                units.append(last); size /= 2
                continue
            }
            index += 1
            var r = RandomStream(seed: seed, name: "init/conv\(index)")
            let out = scaled(ch)
            var layers: [Layer] = [Conv2d(c, out, kernel: 3, padding: 1, bias: convBias, rng: &r)]
            layers.append(batchNorm ? BatchNorm(out, relu: true) : ReLU())
            units.append(.init(name: "conv\(index)", layer: Sequential(layers)))
            c = out
        }
        var features = c * size * size
        for (i, h) in (vggHidden ?? defaultHidden).enumerated() {
            var r = RandomStream(seed: seed, name: "init/fc\(i + 1)")
            var layers: [Layer] = i == 0 ? [Flatten()] : []
            layers.append(Linear(features, h, rng: &r))
            layers.append(batchNorm ? BatchNorm(h, relu: true) : ReLU())
            if dropout > 0 { layers.append(Dropout(Float(dropout), rng: RandomStream(seed: seed, name: "dropout/fc\(i + 1)"))) }
            units.append(.init(name: "fc\(i + 1)", layer: Sequential(layers)))
            features = h
        }
        var r = RandomStream(seed: seed, name: "init/head")
        let headLayers: [Layer] = ((vggHidden ?? defaultHidden).isEmpty ? [Flatten()] : []) + [Linear(features, classes, rng: &r)]
        units.append(.init(name: "head", layer: Sequential(headLayers)))
        return try Model(spec: self, units: units, sampleShape: [inChannels, imageSize, imageSize])
    }
}
