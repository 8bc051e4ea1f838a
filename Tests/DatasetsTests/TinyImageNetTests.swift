import XCTest
import Foundation
import ZIPFoundation
@testable import Datasets

final class TinyImageNetTests: XCTestCase {
    var mirror: URL!, cache: URL!
    override func setUp() { mirror = Fixtures.tempDir(); cache = Fixtures.tempDir() }
    override func tearDown() { try? FileManager.default.removeItem(at: mirror); try? FileManager.default.removeItem(at: cache) }

    /// A smooth 64×64 test image (JPEG keeps it within a few levels), grayscale when `gray`.
    func image(_ seed: Int, gray: Bool) -> [UInt8] {
        (0..<(64 * 64)).flatMap { p -> [UInt8] in
            let y = p / 64, x = p % 64
            let v = UInt8((seed * 40 + y * 2 + x) % 200 + 20)
            return gray ? [v] : [v, UInt8((Int(v) + 30) % 256), UInt8(255 - Int(v))]
        }
    }

    func makeZip(extra: String? = nil, wnids: String = "n02\nn01\n") throws -> (Data, [String: Data]) {
        let url = mirror.appendingPathComponent("tiny-imagenet-200.zip")
        try? FileManager.default.removeItem(at: url)
        let archive = try ZIPFoundation.Archive(url: url, accessMode: .create)
        var jpegs: [String: Data] = [:]
        func add(_ path: String, _ data: Data) throws {
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { pos, size in
                data.subdata(in: Int(pos)..<(Int(pos) + size))
            }
        }
        let root = "tiny-imagenet-200/"
        try add(root + "wnids.txt", Data(wnids.utf8))   // unsorted on purpose: classes are sorted wnids
        try add(root + "words.txt", Data("n01\tgoldfish\nn02\ttabby cat\n".utf8))
        for (k, wnid) in ["n01", "n02"].enumerated() {
            for i in 0..<2 {
                let gray = k == 1 && i == 1
                let j = JPEG.encode(image(k * 2 + i, gray: gray), width: 64, height: 64, components: gray ? 1 : 3, quality: 100)
                let path = root + "train/\(wnid)/images/\(wnid)_\(i).JPEG"
                jpegs[path] = j; try add(path, j)
            }
        }
        for i in 0..<2 {
            let j = JPEG.encode(image(10 + i, gray: false), width: 64, height: 64, components: 3, quality: 100)
            jpegs[root + "val/images/val_\(i).JPEG"] = j; try add(root + "val/images/val_\(i).JPEG", j)
        }
        try add(root + "val/val_annotations.txt", Data("val_0.JPEG\tn02\t0\t0\t63\t63\nval_1.JPEG\tn01\t1\t1\t60\t60\n".utf8))
        if let extra { try add(extra, Data("evil".utf8)) }
        return (try Data(contentsOf: url), jpegs)
    }

    func definition(_ zip: Data) -> DatasetDefinition {
        let real = Registry.tinyImageNet
        return DatasetDefinition(name: "tiny-tin", title: "fixture", homepage: "",
                                 files: [SourceFile(role: "archive", filename: "tiny-imagenet-200.zip", urls: [], size: nil, check: .md5(Checksum.md5.hex(zip)))],
                                 localDirectories: [], shape: real.shape, classNames: [], mean: real.mean, std: real.std,
                                 augmentation: real.augmentation, examples: real.examples, parse: real.parse)
    }

    func testDuplicateClassesAreRefused() throws {
        let (zip, _) = try makeZip(wnids: "n02\nn01\nn02\n")
        XCTAssertThrowsError(try DatasetStore(directory: cache.path).fetch(definition(zip), options: FetchOptions(mirror: mirror.path, network: false))) {
            XCTAssert("\($0)".contains("wnids.txt lists class n02 twice"), "\($0)")
        }
    }

    func testZipOfJPEGsParsesWithLabelsAndLayout() throws {
        let (zip, jpegs) = try makeZip()
        let store = DatasetStore(directory: cache.path)
        try store.fetch(definition(zip), options: FetchOptions(mirror: mirror.path, network: false))
        let ds = try store.load("tiny-tin")
        XCTAssertEqual([ds.channels, ds.height, ds.width], [3, 64, 64])
        XCTAssertEqual(ds.classNames, ["goldfish", "tabby cat"])
        XCTAssertEqual(ds.train.labels, [0, 0, 1, 1]); XCTAssertEqual(ds.test.labels, [1, 0])
        // pixels: exactly the decoder's RGB, moved to C×H×W; and close to the encoded original
        let size = 3 * 64 * 64
        let (rgb, _, _) = try JPEG.decodeRGB(jpegs["tiny-imagenet-200/train/n02/images/n02_1.JPEG"]!, name: "x")
        let sample = Array(ds.train.images[(3 * size)..<(4 * size)])
        for p in stride(from: 0, to: 64 * 64, by: 97) { for c in 0..<3 { XCTAssertEqual(sample[c * 4096 + p], rgb[p * 3 + c]) } }
        XCTAssertEqual(sample[0 * 4096 + 5], sample[2 * 4096 + 5], "a grayscale JPEG becomes equal R, G, B")
        let original = image(10, gray: false)
        let val0 = Array(ds.test.images[0..<size])
        let worst = (0..<(64 * 64)).map { p in (0..<3).map { c in abs(Int(val0[c * 4096 + p]) - Int(original[p * 3 + c])) }.max()! }.max()!
        XCTAssertLessThanOrEqual(worst, 8, "quality-100 JPEG stays close to the source image")
    }

    func testMaliciousZipPathIsRefused() throws {
        let (zip, _) = try makeZip(extra: "../outside.txt")
        XCTAssertThrowsError(try DatasetStore(directory: cache.path).fetch(definition(zip), options: FetchOptions(mirror: mirror.path, network: false))) {
            XCTAssert("\($0)".contains("refusing archive member '../outside.txt'"), "\($0)")
        }
    }

    func testDamagedJPEGIsAnErrorNotACrash() {
        XCTAssertThrowsError(try JPEG.decodeRGB(Data([0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]), name: "bad.JPEG")) {
            XCTAssert("\($0)".contains("bad.JPEG"), "\($0)")
        }
    }
}
