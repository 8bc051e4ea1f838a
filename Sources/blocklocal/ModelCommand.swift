import ArgumentParser
import Engine
import Foundation
import Methods
import Scheduling

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Inspect the model families.", subcommands: [Describe.self])

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each unit's output shape, parameters and forward MACs; with --blocks, each block's training GFLOP (forward + backward + its head) and cost share.")
        @Argument(help: "Model: \(Architecture.list).") var arch: String
        @Option(help: "Channel multiplier (ResNet, VGG).") var width: Double = Defaults.width
        @Option(help: "Input channels.") var channels: Int = 1
        @Option(help: "Input height = width.") var size: Int = 28
        @Option(help: "Number of classes.") var classes: Int = 10
        @Option(help: "ResNet stem: cifar or imagenet.") var stem: String = "cifar"
        @Option(help: "Cut into K blocks and describe the blocks.") var blocks: Int?
        @Option(help: "Split rule with --blocks: \(SplitRule.names.joined(separator: ", ")).") var split: String = "even"
        @Option(help: "With --blocks: the rule whose local heads weigh in the block costs (balanced split, cost share): \(MethodName.list).")
        var method: String = "bll"
        @Flag(help: "With --blocks: also measure each block's training step here (1 engine thread, batch --batch) and its share.")
        var measure = false
        @Option(help: "Batch size for --measure and for measuring a balanced split.") var batch: Int = 128

        func run() throws {
            var spec = ModelSpec(arch: try Architecture(parsing: arch))
            spec.width = width; spec.inChannels = channels; spec.imageSize = size; spec.classes = classes
            guard let s = ModelSpec.Stem(rawValue: stem) else {
                throw ValidationError("invalid --stem '\(stem)': allowed \(ModelSpec.Stem.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            spec.stem = s
            let model = try spec.build(seed: 0)
            let shapes = try model.unitShapes(batch: 1), macs = model.unitMACs()
            if let k = blocks {
                guard let m = MethodName(rawValue: method) else { throw ValidationError("invalid --method '\(method)': allowed \(MethodName.list)\(Suggestion.phrase(method, in: MethodName.allCases.map(\.rawValue)))") }
                let heads = Methods.headMACs(MethodConfig(method: m), classes: classes)
                guard (1...4096).contains(batch) else { throw ValidationError("--batch must be between 1 and 4096, got \(batch)") }
                var rule = try SplitRule(parsing: split)
                if rule == .balanced {   // the cut a run would take: from the profile measured (and cached) here
                    let profiles = (ProcessInfo.processInfo.environment["BLOCKLOCAL_RESULTS"] ?? "results") + "/profiles"
                    let starts = try BlockBalance.starts(model, blocks: k, headMACs: heads, batch: batch, profiles: profiles).starts
                    rule = k == 1 ? .even : .cuts(Array(starts.dropFirst()))
                    print("balanced split (measured here, batch \(batch), 1 thread): \(rule)")
                }
                let bs = try BlockSplit.split(model, blocks: k, rule: rule, headMACs: heads)
                let unitCosts = BlockSplit.unitCosts(model)
                // per block: its units' forward + backward and, before the last block, its local head's
                let costs = bs.map { b -> Int in
                    b.range.reduce(0) { $0 + unitCosts[$1] } + (b.index < bs.count - 1 ? 3 * heads(shapes[b.range.upperBound - 1]) : 0)
                }
                let total = Double(max(1, costs.reduce(0, +)))
                var measured: [Double] = []
                if measure {
                    let units = try Parallel.withWorkers(1) { try BlockProfile.measureUnits(model, batch: batch) }
                    measured = bs.map { b in b.range.reduce(0.0) { $0 + units[$1] } }
                }
                print("block  units".padded(40) + "output".padded(18) + "params".leftPadded(10) + "train GFLOP".leftPadded(13)
                      + "cost %".leftPadded(8) + "sends B/sample".leftPadded(16) + (measure ? "measured ms".leftPadded(13) + "share %".leftPadded(9) : ""))
                for b in bs {
                    let p = b.parameters.reduce(0) { $0 + $1.count }
                    let out = shapes[b.range.upperBound - 1]
                    let sends = b.index < bs.count - 1 ? 4 * out.dropFirst().reduce(1, *) : 0
                    print("\(b.index + 1)".padded(7) + b.units.map(\.name).joined(separator: " ").truncatedTo(32).padded(33)
                          + describe(Array(out.dropFirst())).padded(18) + "\(p)".leftPadded(10)
                          + String(format: "%.4f", 2 * Double(costs[b.index]) / 1e9).leftPadded(13)
                          + String(format: "%.1f", 100 * Double(costs[b.index]) / total).leftPadded(8) + "\(sends)".leftPadded(16)
                          + (measure ? String(format: "%.1f", 1000 * measured[b.index]).leftPadded(13)
                             + String(format: "%.1f", 100 * measured[b.index] / measured.reduce(0, +)).leftPadded(9) : ""))
                }
                print(String(format: "K = %d (%@, %@'s heads): %d parameters, %.4f training GFLOP per sample (6 × MACs, heads included); "
                             + "costliest block %.1f %% (pipelined speedup bound %.2fx)", bs.count, split, method, model.parameterCount,
                             2 * total / 1e9, 100 * Double(costs.max()!) / total, total / Double(costs.max()!)))
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
