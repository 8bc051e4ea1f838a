import XCTest
import Foundation
@testable import Datasets
@testable import Engine
import Store

final class DataTests: XCTestCase {
    /// The real Fashion-MNIST from Debian's dataset-fashion-mnist package.
    func testRealFashionMNISTWhenTheDebianPackageIsPresent() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") else {
            throw XCTSkip("dataset-fashion-mnist is not installed (`make deps` installs it)")
        }
        let dir = Fixtures.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let store = DatasetStore(directory: dir.path)
        let path = try store.fetch(Registry.fashionMNIST, options: FetchOptions(network: false))
        let ds = try store.load("fashion-mnist")
        XCTAssertEqual(ds.train.count, 60_000); XCTAssertEqual(ds.test.count, 10_000)
        XCTAssertEqual(ds.train.classCounts(10), [Int](repeating: 6_000, count: 10))
        XCTAssertEqual(ds.test.classCounts(10), [Int](repeating: 1_000, count: 10))
        XCTAssertEqual(ds.train.images.count, 60_000 * 784)
        // the training mean matches the normalisation constant the registry declares
        let mean = Double(ds.train.images.reduce(0) { $0 + Int($1) }) / Double(ds.train.images.count) / 255
        XCTAssertEqual(Float(mean), Registry.fashionMNIST.mean[0], accuracy: 1e-3)
        // h5dump reads the cache file
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/h5dump") {
            let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/h5dump")
            p.arguments = ["-H", path]; let pipe = Pipe(); p.standardOutput = pipe
            try p.run(); p.waitUntilExit()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(p.terminationStatus, 0)
            XCTAssert(out.contains("( 60000, 1, 28, 28 )") && out.contains("\"labels\""), out)
        }
    }

    /// Flipped bytes in a cache file are found at load (and by `data verify`, which loads): in a gzip chunk
    /// HDF5's read fails, in raw bytes the array's sha256 differs; a label outside the classes is an error,
    /// never a crash in the loss or a silently dropped sample.
    func testDamagedCacheBytesAndBadLabelsAreFoundAtLoad() throws {
        let mirror = Fixtures.tempDir(), dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: mirror); try? FileManager.default.removeItem(at: dir) }
        let def = try Fixtures.idxDataset(in: mirror, train: 3000, test: 40)
        let store = DatasetStore(directory: dir.path)
        let path = try store.fetch(def, options: FetchOptions(mirror: mirror.path, network: false))
        XCTAssertEqual(try store.load(def.name).train.count, 3000)
        let clean = try Data(contentsOf: URL(fileURLWithPath: path))
        for (what, locate) in [("a gzip chunk of train/images", "f['train/images'].id.get_chunk_info(0).byte_offset + 20"),
                               ("the raw bytes of test/labels", "f['test/labels'].id.get_offset() + 4")] {
            try clean.write(to: URL(fileURLWithPath: path))
            let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = ["-c", "import h5py, sys\nf = h5py.File(sys.argv[1], 'r')\nprint(\(locate))", path]
            let out = Pipe(); p.standardOutput = out; try p.run(); p.waitUntilExit()
            let offset = try XCTUnwrap(Int(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
            var bytes = clean; bytes[offset] ^= 0x5a
            try bytes.write(to: URL(fileURLWithPath: path))
            XCTAssertEqual(try store.status(def), .valid, "the sources' checksums still match: only reading finds it")
            XCTAssertThrowsError(try store.load(def.name), what) { e in
                XCTAssert("\(e)".contains(path) && ("\(e)".contains("damaged")), "\(what): \(e)")
            }
        }
        // a label of 127 (3 classes) and of -1
        for bad: Int32 in [127, -1] {
            var ds = try ImageDataset(channels: 1, height: 5, width: 5, classNames: ["a", "b", "c"],
                                      train: ImageSplit(images: [UInt8](repeating: 1, count: 50), labels: [0, bad]),
                                      test: ImageSplit(images: [UInt8](repeating: 1, count: 25), labels: [1]))
            try store.write(ds, def: def)
            XCTAssertThrowsError(try store.load(def.name)) { XCTAssert("\($0)".contains("label \(bad) outside 0..<3"), "\($0)") }
            ds.train.labels = [0, 1]; _ = ds
        }
    }

    /// The encoder reading: the permutation alone, the reversal as the target at every position.
    func testS2SEncoderLayoutTargetsEveryPosition() throws {
        let task = try S2STask(length: 7, digits: 10, layout: .encoder)
        XCTAssertEqual(task.sequenceLength, 7)
        XCTAssertFalse(task.layout.causal); XCTAssert(S2STask.Layout.decoder.causal)
        var rng = RandomStream(seed: 3, name: "s2s/train")
        let b = task.trainBatch(size: 5, rng: &rng)
        XCTAssertEqual(b.tokens.shape, [5, 7]); XCTAssertEqual(b.targets.count, 35)
        for (i, x) in b.inputs.enumerated() {
            XCTAssertEqual((0..<7).map { Int(b.tokens[i * 7 + $0]) }, x)
            XCTAssertEqual((0..<7).map { Int(b.targets[i * 7 + $0]) }, x.reversed())
        }
        XCTAssertEqual(try S2STask(length: 7, digits: 10).sequenceLength, 14)
    }

    func testS2STargetsAreTheReversedInputsAndSeedsReproduce() throws {
        let task = try S2STask(length: 10, digits: 10)
        var a = RandomStream(seed: 5, name: "s2s/train"), b = RandomStream(seed: 5, name: "s2s/train")
        let x = task.trainBatch(size: 32, rng: &a), y = task.trainBatch(size: 32, rng: &b)
        XCTAssertEqual(x.inputs, y.inputs); XCTAssertEqual(x.tokens.array, y.tokens.array)
        let t = task.sequenceLength
        for (i, input) in x.inputs.enumerated() {
            XCTAssertEqual(input.sorted(), Array(0..<10), "a permutation of the digits")
            let targets = (0..<t).map { x.targets[i * t + $0] }.filter { $0 >= 0 }.map(Int.init)
            XCTAssertEqual(targets, input.reversed(), "the target is the input reversed")
            XCTAssertEqual((0..<10).map { Int(x.tokens[i * t + $0]) }, input)
            XCTAssertEqual(Int(x.tokens[i * t + 10]), task.separator)
        }
        XCTAssertEqual(task.testSet(count: 100, seed: 1), task.testSet(count: 100, seed: 1))
        XCTAssertNotEqual(task.testSet(count: 100, seed: 1), task.testSet(count: 100, seed: 2))
        XCTAssertThrowsError(try S2STask(length: 11, digits: 10)) { XCTAssert("\($0)".contains("1...10"), "\($0)") }
        // perfect logits score 1.0 on both metrics
        let (tokens, targets) = task.batch(Array(x.inputs.prefix(4)))
        let logits = Tensor([4, t, task.vocabulary])
        for r in 0..<(4 * t) where targets[r] >= 0 { logits[r * task.vocabulary + Int(targets[r])] = 1 }
        XCTAssertEqual(tokens.shape, [4, 20])
        let acc = task.accuracy(logits: logits, targets: targets)
        XCTAssertEqual(acc.token, 1); XCTAssertEqual(acc.sequence, 1)
    }

    func testLoaderNormalisesShufflesAndAugmentsDeterministically() {
        // 4 images 1×3×3 with pixels 0..8 (+ 10·i)
        let split = ImageSplit(images: (0..<4).flatMap { i in (0..<9).map { UInt8(10 * i + $0) } }, labels: [0, 1, 2, 3])
        let plain = ImageLoader(split: split, channels: 1, height: 3, width: 3, mean: [0.5], std: [0.25],
                                batchSize: 3, shuffle: false, augmentation: .none, seed: 1)
        var seen: [[Int32]] = []
        plain.forEachBatch(epoch: 0) { b, x, y in
            seen.append(y)
            if b == 0 { XCTAssertEqual(x[4], (4 / 255 - 0.5) / 0.25, accuracy: 1e-6) }
        }
        XCTAssertEqual(seen, [[0, 1, 2], [3]], "the last batch is smaller, nothing dropped")
        // drop_last (issue 18): only full batches; the shuffled remainder sits the epoch out
        let dropping = ImageLoader(split: split, channels: 1, height: 3, width: 3, mean: [0.5], std: [0.25],
                                   batchSize: 3, shuffle: true, augmentation: .none, seed: 1, dropLast: true)
        var sizes: [Int] = []
        dropping.forEachBatch(epoch: 0) { _, _, y in sizes.append(y.count) }
        XCTAssertEqual(sizes, [3]); XCTAssertEqual(dropping.batchesPerEpoch, 1)

        let shuffled = ImageLoader(split: split, channels: 1, height: 3, width: 3, mean: [0], std: [1],
                                   batchSize: 4, shuffle: true, augmentation: .none, seed: 7)
        XCTAssertEqual(shuffled.order(epoch: 0), shuffled.order(epoch: 0))
        XCTAssertNotEqual((0..<5).map { shuffled.order(epoch: $0) }.count, 1)
        XCTAssertEqual(shuffled.order(epoch: 3).sorted(), [0, 1, 2, 3])

        // flip only: every sample is its mirror image or itself
        let flip = ImageLoader(split: split, channels: 1, height: 3, width: 3, mean: [0], std: [1.0 / 255],
                               batchSize: 4, shuffle: false, augmentation: Augmentation(cropPadding: 0, horizontalFlip: true), seed: 3)
        var flipped = 0
        flip.forEachBatch(epoch: 0) { _, x, _ in
            for i in 0..<4 {
                let row0 = (0..<3).map { x[i * 9 + $0] }
                let base = Float(10 * i)
                if row0 == [base + 2, base + 1, base] { flipped += 1 } else { XCTAssertEqual(row0, [base, base + 1, base + 2]) }
            }
        }
        XCTAssert((1...3).contains(flipped), "some but not all flipped: \(flipped)")

        // crop with padding 1: each output is the image shifted by (dy, dx) ∈ [−1, 1]², zero outside
        let crop = ImageLoader(split: split, channels: 1, height: 3, width: 3, mean: [0], std: [1.0 / 255],
                               batchSize: 4, shuffle: false, augmentation: Augmentation(cropPadding: 1, horizontalFlip: false), seed: 4)
        crop.forEachBatch(epoch: 0) { _, x, _ in
            for i in 0..<4 {
                let out = (0..<9).map { x[i * 9 + $0] }
                let shifts = (-1...1).flatMap { dy in (-1...1).map { dx in (dy, dx) } }
                let match = shifts.contains { (dy, dx) in
                    (0..<9).allSatisfy { p in
                        let y = p / 3 + dy, xx = p % 3 + dx
                        let v: Float = (0..<3).contains(y) && (0..<3).contains(xx) ? Float(10 * i + y * 3 + xx) : 0
                        return abs(out[p] - v) < 1e-3
                    }
                }
                XCTAssert(match, "sample \(i): \(out)")
            }
        }
    }

    func testAugmentationParsesWhatItWrites() throws {
        for text in ["none", "flip", "crop:2", "crop:4,flip"] {
            XCTAssertEqual(try Augmentation(parsing: text).description, text)
        }
        XCTAssertEqual(try Augmentation(parsing: "flip,crop:2"), Augmentation(cropPadding: 2, horizontalFlip: true))
        for bad in ["", "crop", "crop:x", "crop:17", "flip,flip", "none,flip", "mirror"] {
            XCTAssertThrowsError(try Augmentation(parsing: bad), bad) { XCTAssert("\($0)".contains("allowed: none, flip"), "\($0)") }
        }
    }

    func testSubsetAndValidationSplitAreFixedAndDisjoint() {
        let split = ImageSplit(images: (0..<100).map { UInt8($0) }, labels: (0..<100).map { Int32($0 % 10) })
        let (train, val) = split.split(validation: 20, seed: 9)
        XCTAssertEqual(train.count, 80); XCTAssertEqual(val.count, 20)
        XCTAssertEqual(Set(train.images).intersection(Set(val.images)), [])
        XCTAssertEqual(split.split(validation: 20, seed: 9).validation.images, val.images)
        XCTAssertEqual(split.subset(30, seed: 1).images, split.subset(30, seed: 1).images)
        XCTAssertEqual(split.subset(30, seed: 1).count, 30)
    }
}
