import ArgumentParser
import Engine
import Foundation
import Methods

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Inspect the model families.", subcommands: [Describe.self])

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each unit's output shape, parameters and forward MACs.")
        @Argument(help: "Model: \(ModelSpec.architectures.joined(separator: ", ")).") var arch: String
        @Option(help: "Channel multiplier (ResNet, VGG).") var width: Double = 1
        @Option(help: "Input channels.") var channels: Int = 1
        @Option(help: "Input height = width.") var size: Int = 28
        @Option(help: "Number of classes.") var classes: Int = 10
        @Option(help: "ResNet stem: cifar or imagenet.") var stem: String = "cifar"
        @Option(help: "Cut into K blocks and describe the blocks.") var blocks: Int?
        @Option(help: "Split rule with --blocks: \(SplitRule.names.joined(separator: ", ")).") var split: String = "even"

        func run() throws {
            var spec = ModelSpec(arch: arch)
            spec.width = width; spec.inChannels = channels; spec.imageSize = size; spec.classes = classes
            guard let s = ModelSpec.Stem(rawValue: stem) else {
                throw ValidationError("invalid --stem '\(stem)': allowed \(ModelSpec.Stem.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            spec.stem = s
            let model = try spec.build(seed: 0)
            let shapes = try model.unitShapes(batch: 1), macs = model.unitMACs()
            if let k = blocks {
                let bs = try BlockSplit.split(model, blocks: k, rule: try SplitRule(parsing: split))
                print("block  units".padded(40) + "output".padded(18) + "params".leftPadded(10) + "train GFLOP".leftPadded(13))
                for b in bs {
                    let p = b.parameters.reduce(0) { $0 + $1.count }
                    let m = b.range.reduce(0) { $0 + macs[$1] }
                    print("\(b.index + 1)".padded(7) + b.units.map(\.name).joined(separator: " ").truncatedTo(32).padded(33)
                          + describe(Array(shapes[b.range.upperBound - 1].dropFirst())).padded(18) + "\(p)".leftPadded(10)
                          + String(format: "%.4f", 6 * Double(m) / 1e9).leftPadded(13))
                }
                print(String(format: "K = %d (%@): %d parameters, %.4f training GFLOP per sample (6 × MACs)", bs.count, split, model.parameterCount, 6 * Double(macs.reduce(0, +)) / 1e9))
                return
            }
            print("unit".padded(14) + "output".padded(18) + "params".leftPadded(10) + "MMACs".leftPadded(12))
            for (i, u) in model.units.enumerated() {
                let p = u.layer.parameters.reduce(0) { $0 + $1.count }
                print(u.name.padded(14) + describe(Array(shapes[i].dropFirst())).padded(18) + "\(p)".leftPadded(10)
                      + String(format: "%.2f", Double(macs[i]) / 1e6).leftPadded(12))
            }
            print(String(format: "total: %d parameters, %.2f MMACs forward per sample", model.parameterCount, Double(macs.reduce(0, +)) / 1e6))
        }
    }
}
