import XCTest
import Foundation
@testable import Engine
@testable import Methods
@testable import Datasets

/// Every method on real Fashion-MNIST: one short epoch of 12,000 samples, an MLP cut into 3 blocks.
final class FashionMNISTTests: XCTestCase {
    func testEveryMethodPassesSeventyPercentInOneShortEpoch() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("dataset-fashion-mnist is not installed (`make deps` installs it)")
        }
        Engine.configure(threads: 2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-fm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = DatasetStore(directory: dir.path)
        try store.fetch(Registry.fashionMNIST, options: FetchOptions(network: false))
        let ds = try store.load("fashion-mnist")
        let def = Registry.fashionMNIST
        var results: [String] = []
        for method in MethodName.allCases {
            var spec = ModelSpec(arch: .mlp); spec.hidden = [256, 256]
            let model = try spec.build(seed: 0)
            var opt = OptimizerConfig(); opt.lr = 1e-3
            let rule = try Methods.make(MethodSetup(model: model, blocks: try BlockSplit.split(model, blocks: 3, rule: .even),
                                                    config: MethodConfig(method: method), optimizer: opt, classes: 10, seed: 0))
            let data = ImageData(dataset: ds, mean: def.mean, std: def.std, augmentation: .none, batchSize: 128,
                                 trainSubset: 12_000, testSubset: 2_000, seed: 0)
            let result = try Trainer(epochs: 1, baseLR: 1e-3, schedule: .constant).run(rule, data: data)
            XCTAssertEqual(result.status, .done)
            let acc = result.epochs.last?.testAccuracy ?? 0
            results.append("\(method.rawValue) \(String(format: "%.3f", acc))")
            XCTAssertGreaterThan(acc, 0.70, "\(method.rawValue) after one epoch of 12,000 samples")
        }
        print("Fashion-MNIST, 1 epoch × 12,000 samples, MLP 784-256-256-10, K = 3: " + results.joined(separator: ", "))
    }
}
