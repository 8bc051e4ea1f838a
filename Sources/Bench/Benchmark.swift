// Bench: training-step throughput of the reference models on synthetic data held in memory.
// A step = forward + softmax cross-entropy + backward + SGD (momentum 0.9, wd 5e-4), as
// ../shared/perf/train_bench.py does for PyTorch, so the two are comparable side by side.
// Reports samples/s (batch / median step time), achieved GFLOP/s (training = 3 × forward,
// forward = 2 × MACs) and the fraction of this run's measured single-GEMM peak.

import Foundation
import Engine

public struct BenchConfig: Sendable {
    public let key: String
    public let summary: String
    public let batch: Int
    /// PyTorch CPU samples/s to compare with: the recorded anchor (perf/anchors.md, best pass,
    /// 2 threads, an AMD Zen 3 VM) unless a measurement on this machine replaces it.
    public let torchAnchor: Double
    public var torchSource = "perf/anchors.md, another machine"
    public let spec: ModelSpec

    public init(key: String, summary: String, batch: Int, torchAnchor: Double, spec: ModelSpec) {
        self.key = key; self.summary = summary; self.batch = batch; self.torchAnchor = torchAnchor; self.spec = spec
    }

    public func withTorch(_ samplesPerSecond: Double, source: String) -> BenchConfig {
        var c = BenchConfig(key: key, summary: summary, batch: batch, torchAnchor: samplesPerSecond, spec: spec)
        c.torchSource = source
        return c
    }

    public static let reference: [BenchConfig] = {
        func resnet(_ arch: Architecture, _ w: Double, _ c: Int, _ hw: Int) -> ModelSpec {
            var s = ModelSpec(arch: arch); s.width = w; s.inChannels = c; s.imageSize = hw; return s
        }
        var gpt = ModelSpec(arch: .transformer)
        gpt.layers = 20; gpt.dModel = 64; gpt.heads = 1; gpt.ffn = 256; gpt.vocabulary = 12; gpt.length = 20
        gpt.classes = gpt.vocabulary   // as S2S runs set it: every token is a class
        var mlp = ModelSpec(arch: .mlp); mlp.hidden = [1024, 1024]
        return [
            BenchConfig(key: "r18_fm_w0.25", summary: "ResNet-18 w1/4, 1x28x28", batch: 128, torchAnchor: 503.2, spec: resnet(.resnet18, 0.25, 1, 28)),
            BenchConfig(key: "r18_fm_w1", summary: "ResNet-18 w1, 1x28x28", batch: 128, torchAnchor: 44.6, spec: resnet(.resnet18, 1, 1, 28)),
            BenchConfig(key: "r50_c10_w0.25", summary: "ResNet-50 w1/4, 3x32x32", batch: 64, torchAnchor: 113.7, spec: resnet(.resnet50, 0.25, 3, 32)),
            BenchConfig(key: "gpt_d64", summary: "Transformer 20L d64 1 head", batch: 128, torchAnchor: 545.3, spec: gpt),
            BenchConfig(key: "mlp", summary: "MLP 784-1024-1024-10", batch: 128, torchAnchor: 9694.2, spec: mlp),
        ]
    }()
}

public struct BenchResult: Codable, Sendable {
    public let key: String, summary: String, batch: Int, threads: Int, steps: Int
    public let medianStepSeconds: Double, minStepSeconds: Double
    public let samplesPerSecond: Double, gflops: Double, fractionOfPeak: Double
    public let trainGFLOPPerSample: Double, parameters: Int
    public let torchAnchor: Double
    public let torchSource: String
    public var ratioToTorch: Double { samplesPerSecond / torchAnchor }
    /// A ratio means something only against PyTorch measured in the same run, on this machine.
    public var torchMeasuredHere: Bool { torchSource == "measured" }
    /// "1.37x PyTorch 983.0 (measured)" or "PyTorch reference 503.2 (perf/anchors.md, another machine; no ratio)".
    public var torchText: String {
        torchMeasuredHere ? String(format: "%.2fx PyTorch %.1f, measured in this run", ratioToTorch, torchAnchor)
                          : String(format: "PyTorch reference %.1f: %@; no ratio across machines", torchAnchor, torchSource)
    }
}

public enum Benchmark {
    /// GFLOP/s of one 1024³ sgemm through the engine's parallel GEMM: this run's peak.
    public static func gemmPeak(repeats: Int = 9) -> Double {
        let n = 1024
        let a = Tensor([n, n]), b = Tensor([n, n]), c = Tensor([n, n])
        var rng = RandomStream(seed: 1, name: "bench/gemm")
        rng.fillUniform(a, -1, 1); rng.fillUniform(b, -1, 1)
        var times: [Double] = []
        for i in 0..<(repeats + 2) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            gemm(transA: false, transB: false, m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if i >= 2 { times.append(dt) }
        }
        return 2 * Double(n * n * n) / median(times) / 1e9
    }

    /// Times `steps` training steps after `warmup` untimed ones.
    public static func run(_ cfg: BenchConfig, steps: Int, warmup: Int = 2, peak: Double, knobs: ConvKnobs = .standard,
                           profiler: LayerProfiler? = nil) throws -> BenchResult {
        let model = try cfg.spec.build(seed: 0)
        model.setConvKnobs(knobs)
        model.setProfiler(profiler)
        let n = cfg.batch
        let (x, labels) = syntheticBatch(cfg.spec, model: model, batch: n)
        let loss = SoftmaxCrossEntropy()
        let opt = SGD([ParameterGroup(model.parameters, weightDecay: 5e-4)], momentum: 0.9)
        var times: [Double] = []
        for i in 0..<(warmup + steps) {
            if i == warmup { profiler?.reset() }   // the profile covers the timed steps only (not first touches)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let logits = model.forward(x, mode: .train)
            let tLoss = LayerProfiler.now()
            loss(logits, labels)
            profiler?.record("loss (softmax cross-entropy)", forward: true, since: tLoss)
            model.backward(loss.grad)
            let tStep = LayerProfiler.now()
            opt.step(lr: 0.01)
            profiler?.record("optimizer (SGD step)", forward: true, since: tStep)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if i >= warmup { times.append(dt) }
        }
        let med = median(times)
        let sps = Double(n) / med
        let flops = model.trainingFLOPsPerSample
        return BenchResult(key: cfg.key, summary: cfg.summary, batch: n, threads: Parallel.workers, steps: steps,
                           medianStepSeconds: med, minStepSeconds: times.min() ?? med,
                           samplesPerSecond: sps, gflops: sps * flops / 1e9, fractionOfPeak: sps * flops / 1e9 / peak,
                           trainGFLOPPerSample: flops / 1e9, parameters: model.parameterCount, torchAnchor: cfg.torchAnchor,
                           torchSource: cfg.torchSource)
    }

    /// One batch of random data in the model's input form (images: normal pixels, one label each;
    /// sequences: random tokens, labels on the second half of each sequence as in S2S).
    public static func syntheticBatch(_ spec: ModelSpec, model: Model, batch n: Int) -> (Tensor, [Int32]) {
        var rng = RandomStream(seed: 0, name: "bench/data")
        if spec.isSequence {
            let t = spec.length, half = t / 2
            let x = Tensor([n, t])
            var labels = [Int32](repeating: -1, count: n * t)
            for i in 0..<(n * t) { x[i] = Float(rng.below(spec.vocabulary)) }
            for b in 0..<n { for p in half..<t { labels[b * t + p] = Int32(rng.below(spec.vocabulary)) } }
            return (x, labels)
        }
        let x = Tensor([n] + model.sampleShape)
        rng.fillNormal(x, std: 1)
        return (x, (0..<n).map { _ in Int32(rng.below(spec.classes)) })
    }

    public static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted(); guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// The results as a Markdown table.
    public static func table(_ rs: [BenchResult], peak: Double) -> String {
        var out = "| model | batch | samples/s | ms/step | GFLOP/s | % of GEMM peak (\(String(format: "%.0f", peak))) | PyTorch samples/s | ratio | PyTorch source |\n"
        out += "|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
        for r in rs {
            out += "| \(r.summary) " + String(format: "| %d | %.1f | %.1f | %.1f | %.0f%% | %.1f | ",
                          r.batch, r.samplesPerSecond, r.medianStepSeconds * 1000, r.gflops, 100 * r.fractionOfPeak, r.torchAnchor)
                + (r.torchMeasuredHere ? String(format: "%.2fx", r.ratioToTorch) : "—") + " | " + r.torchSource + " |\n"
        }
        return out
    }
}
