// ResNet-18/34/50/101/152 (He et al. 2016, torchvision layout): BasicBlock or Bottleneck (expansion 4),
// stride on the 3×3 conv, BatchNorm + ReLU fused into one pass, 1×1 conv + BN projection shortcut when the shape changes, convs without bias,
// kaiming-normal (fan_out) conv init. Stems: `cifar` 3×3/s1 conv + BN + ReLU; `imagenet` 7×7/s2 conv +
// BN + ReLU + 3×3/s2 max-pool. Widths 64·w, 128·w, 256·w, 512·w. Head: global average pool + Linear.
// Units: stem, layer1.0 … layer4.(n−1), head.

extension ModelSpec {
    static let resnetDepths: [Architecture: (bottleneck: Bool, blocks: [Int])] = [
        .resnet18: (false, [2, 2, 2, 2]), .resnet34: (false, [3, 4, 6, 3]), .resnet50: (true, [3, 4, 6, 3]),
        .resnet101: (true, [3, 4, 23, 3]), .resnet152: (true, [3, 8, 36, 3]),
    ]

    func buildResNet(seed: UInt64) throws -> Model {
        let (bottleneck, blocks) = ModelSpec.resnetDepths[arch]!
        let expansion = bottleneck ? 4 : 1
        var units: [Model.Unit] = []
        func conv(_ i: Int, _ o: Int, _ k: Int, _ s: Int, _ rng: inout RandomStream) -> Conv2d {
            Conv2d(i, o, kernel: k, stride: s, padding: k / 2, bias: false, init: .kaimingNormalFanOut, rng: &rng)
        }
        var rng = RandomStream(seed: seed, name: "init/stem")
        let c0 = scaled(64)
        var stemLayers: [Layer] = stem == .cifar
            ? [conv(inChannels, c0, 3, 1, &rng), BatchNorm(c0, relu: true)]
            : [conv(inChannels, c0, 7, 2, &rng), BatchNorm(c0, relu: true)]
        if stem == .imagenet { stemLayers.append(MaxPool2d(kernel: 3, stride: 2, padding: 1)) }
        units.append(.init(name: "stem", layer: Sequential(stemLayers)))

        var inC = c0
        for (stage, count) in blocks.enumerated() {
            let planes = scaled(64 << stage)
            for b in 0..<count {
                let name = "layer\(stage + 1).\(b)"
                var r = RandomStream(seed: seed, name: "init/" + name)
                let s = (b == 0 && stage > 0) ? 2 : 1
                let outC = planes * expansion
                let branch: Sequential = bottleneck
                    ? Sequential([conv(inC, planes, 1, 1, &r), BatchNorm(planes, relu: true),
                                  conv(planes, planes, 3, s, &r), BatchNorm(planes, relu: true),
                                  conv(planes, outC, 1, 1, &r), BatchNorm(outC)])
                    : Sequential([conv(inC, planes, 3, s, &r), BatchNorm(planes, relu: true),
                                  conv(planes, planes, 3, 1, &r), BatchNorm(planes)])
                let shortcut: Layer? = (s != 1 || inC != outC)
                    ? Sequential([conv(inC, outC, 1, s, &r), BatchNorm(outC)]) : nil
                units.append(.init(name: name, layer: Residual(branch, shortcut: shortcut, relu: true)))
                inC = outC
            }
        }
        var r = RandomStream(seed: seed, name: "init/head")
        units.append(.init(name: "head", layer: Sequential([GlobalPool2d(.average), Linear(inC, classes, rng: &r)])))
        return try Model(spec: self, units: units, sampleShape: [inChannels, imageSize, imageSize])
    }
}
