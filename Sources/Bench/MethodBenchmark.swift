// Per-method step throughput on one model: the local methods add heads and feedback networks to the
// shared forward/backward, and this measures what that costs beside `bp` (synthetic data in memory).

import Engine
import Foundation
import Methods

public struct MethodBenchResult: Codable, Sendable {
    public let method: String, blocks: Int
    public let medianStepSeconds: Double, samplesPerSecond: Double
    public let ratioToBP: Double
}

public enum MethodBenchmark {
    public static func run(spec: ModelSpec, batch: Int, blocks: Int, steps: Int, warmup: Int = 2) throws -> [MethodBenchResult] {
        var rng = RandomStream(seed: 0, name: "bench/data")
        var results: [(String, Double)] = []
        for method in MethodName.allCases {
            let model = try spec.build(seed: 0)
            let x = Tensor([batch] + model.sampleShape); rng.fillNormal(x, std: 1)
            let y = (0..<batch).map { _ in Int32(rng.below(spec.classes)) }
            var opt = OptimizerConfig(); opt.kind = .sgd; opt.lr = 0.01; opt.weightDecay = 5e-4
            let rule = try Methods.make(MethodSetup(model: model, blocks: try BlockSplit.split(model, blocks: blocks, rule: .even),
                                                    config: MethodConfig(method: method), optimizer: opt, classes: spec.classes, seed: 0))
            var times: [Double] = []
            for i in 0..<(warmup + steps) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try rule.step(x, y, lr: 0.01)
                if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
            }
            results.append((method.rawValue, Benchmark.median(times)))
        }
        let bp = results.first { $0.0 == "bp" }!.1
        return results.map { MethodBenchResult(method: $0.0, blocks: blocks, medianStepSeconds: $0.1,
                                               samplesPerSecond: Double(batch) / $0.1, ratioToBP: $0.1 / bp) }
    }
}
