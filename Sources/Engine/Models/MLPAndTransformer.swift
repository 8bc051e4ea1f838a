// MLP: flatten, then Linear + ReLU per hidden size, then the classifier. Units fc1 … fcK, head.
// Transformer (pre-LayerNorm, GPT-style): embed (tokens + learned positions), then per layer
// x += MHSA(LN(x)); x += W2·GELU(W1·LN(x)); head = LN + Linear to the vocabulary.
// Encoder (causal = false) or causal decoder. Units: embed, layer1 … layerL, head.

extension ModelSpec {
    func buildMLP(seed: UInt64) throws -> Model {
        var units: [Model.Unit] = []
        var features = inChannels * imageSize * imageSize
        for (i, h) in hidden.enumerated() {
            var r = RandomStream(seed: seed, name: "init/fc\(i + 1)")
            var layers: [Layer] = i == 0 ? [Flatten()] : []
            layers += [Linear(features, h, rng: &r), ReLU()]
            if dropout > 0 { layers.append(Dropout(Float(dropout), rng: RandomStream(seed: seed, name: "dropout/fc\(i + 1)"))) }
            units.append(.init(name: "fc\(i + 1)", layer: Sequential(layers)))
            features = h
        }
        var r = RandomStream(seed: seed, name: "init/head")
        units.append(.init(name: "head", layer: Linear(features, classes, rng: &r)))
        return try Model(spec: self, units: units, sampleShape: [inChannels, imageSize, imageSize])
    }

    func buildTransformer(seed: UInt64) throws -> Model {
        var r = RandomStream(seed: seed, name: "init/embed")
        var units: [Model.Unit] = [.init(name: "embed", layer: Embedding(vocabulary: vocabulary, maxLength: length, dim: dModel, rng: &r))]
        for l in 0..<layers {
            var r = RandomStream(seed: seed, name: "init/layer\(l + 1)")
            let attention = Residual(Sequential([LayerNorm(dModel), MultiHeadSelfAttention(dim: dModel, heads: heads, causal: causal, rng: &r)]))
            let mlp = Residual(Sequential([LayerNorm(dModel), Linear(dModel, ffn, rng: &r), GELU(), Linear(ffn, dModel, rng: &r)]))
            units.append(.init(name: "layer\(l + 1)", layer: Sequential([attention, mlp])))
        }
        var h = RandomStream(seed: seed, name: "init/head")
        units.append(.init(name: "head", layer: Sequential([LayerNorm(dModel), Linear(dModel, vocabulary, rng: &h)])))
        return try Model(spec: self, units: units, sampleShape: [length])
    }
}
