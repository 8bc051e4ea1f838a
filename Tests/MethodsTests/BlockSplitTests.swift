import XCTest
@testable import Engine
@testable import Methods

final class BlockSplitTests: XCTestCase {
    func model(_ arch: Architecture, width: Double = 0.0625) throws -> Model {
        var s = ModelSpec(arch: arch); s.width = width; s.inChannels = 3; s.imageSize = 32
        return try s.build(seed: 0)
    }
    func names(_ blocks: [Block]) -> [String] { blocks.map { "\($0.units.first!.name)..\($0.units.last!.name)" } }

    /// The BLL code's `even` rule, against methods.md §5.1's table.
    func testEvenRuleMatchesTheReleasedBLLSplits() throws {
        let r50 = try model(.resnet50), r18 = try model(.resnet18)
        XCTAssertEqual(names(try BlockSplit.split(r50, blocks: 4, rule: .even)),
                       ["stem..layer1.2", "layer2.0..layer2.3", "layer3.0..layer3.3", "layer3.4..head"])
        XCTAssertEqual(names(try BlockSplit.split(r50, blocks: 2, rule: .even)), ["stem..layer3.0", "layer3.1..head"])
        XCTAssertEqual(names(try BlockSplit.split(r50, blocks: 3, rule: .even)), ["stem..layer2.1", "layer2.2..layer3.3", "layer3.4..head"])
        XCTAssertEqual(names(try BlockSplit.split(r18, blocks: 4, rule: .even)),
                       ["stem..layer1.0", "layer1.1..layer2.0", "layer2.1..layer3.0", "layer3.1..head"])
        XCTAssertEqual(names(try BlockSplit.split(r18, blocks: 3, rule: .even)), ["stem..layer1.1", "layer2.0..layer3.0", "layer3.1..head"])
        XCTAssertEqual(try BlockSplit.split(r18, blocks: 1, rule: .even).count, 1)
        // degenerate K (an empty last block) and too large K are errors naming what is allowed
        XCTAssertThrowsError(try BlockSplit.split(r50, blocks: 7, rule: .even)) { XCTAssert("\($0)".contains("except 7, 10, 11, 12"), "\($0)") }
        XCTAssertThrowsError(try BlockSplit.split(r18, blocks: 6, rule: .even)) { XCTAssert("\($0)".contains("except 6"), "\($0)") }
        XCTAssertThrowsError(try BlockSplit.split(r18, blocks: 11, rule: .even)) { XCTAssert("\($0)".contains("1...10"), "\($0)") }
    }

    func testStagesLayersAndCuts() throws {
        let r50 = try model(.resnet50)
        XCTAssertEqual(names(try BlockSplit.split(r50, blocks: 4, rule: .stages)),
                       ["stem..layer1.2", "layer2.0..layer2.3", "layer3.0..layer3.5", "layer4.0..head"], "BWBPF's CIFAR split")
        XCTAssertThrowsError(try BlockSplit.split(r50, blocks: 5, rule: .stages)) { XCTAssert("\($0)".contains("1...4"), "\($0)") }
        var v = ModelSpec(arch: .vgg8b); v.width = 0.0625; v.inChannels = 3; v.imageSize = 32
        let vgg = try v.build(seed: 0)
        XCTAssertEqual(names(try BlockSplit.split(vgg, blocks: 4, rule: .stages)), ["conv1..conv2", "conv3..conv4", "conv5..conv5", "conv6..head"])
        XCTAssertEqual(try BlockSplit.split(vgg, blocks: 8, rule: .layers).count, 8)
        XCTAssertThrowsError(try BlockSplit.split(vgg, blocks: 3, rule: .layers))
        XCTAssertEqual(names(try BlockSplit.split(vgg, blocks: 3, rule: try SplitRule(parsing: "cuts:2,6"))), ["conv1..conv2", "conv3..conv6", "fc1..head"])
        XCTAssertThrowsError(try SplitRule(parsing: "halves")) { XCTAssert("\($0)".contains("even, stages, layers"), "\($0)") }
        XCTAssertThrowsError(try BlockSplit.split(vgg, blocks: 3, rule: .cuts([6, 2])))
    }

    /// The balanced cut: exact min-max over contiguous blocks, heads included, ties to the earliest cut.
    func testBalancedStartsMinimiseTheCostliestBlock() {
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [1, 1, 1, 1], blocks: 2) { _ in 0 }, [0, 2])
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [5, 1, 1, 1, 1, 1], blocks: 2) { _ in 0 }, [0, 1])
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [1, 1, 1, 1, 4], blocks: 2) { _ in 0 }, [0, 4])
        // a head after unit 1 (cut at 2) is dear: the cut moves
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [2, 2, 2, 2], blocks: 2) { _ in 0 }, [0, 2])
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [2, 2, 2, 2], blocks: 2) { $0 == 2 ? 3 : 0 }, [0, 1])   // 7 at cut 2; 6 at cuts 1 and 3: the earliest
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [3, 1, 1, 3, 1, 1], blocks: 3) { _ in 0 }, [0, 2, 4])
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [1, 2, 3], blocks: 3) { _ in 0 }, [0, 1, 2])
        XCTAssertEqual(BlockSplit.balancedStarts(costs: [7, 7], blocks: 1) { _ in 0 }, [0])
    }
}
