import XCTest
import Foundation
@testable import Datasets
import Store

final class FetchTests: XCTestCase {
    var mirror: URL!, cache: URL!
    override func setUp() { mirror = Fixtures.tempDir(); cache = Fixtures.tempDir() }
    override func tearDown() { try? FileManager.default.removeItem(at: mirror); try? FileManager.default.removeItem(at: cache) }
    var offline: FetchOptions { FetchOptions(mirror: "file://" + mirror.path, network: false) }

    func testIDXThroughAFileMirrorParsesExactly() throws {
        let def = try Fixtures.idxDataset(in: mirror)
        let store = DatasetStore(directory: cache.path)
        XCTAssertEqual(try store.status(def), .missing)
        try store.fetch(def, options: offline)
        XCTAssertEqual(try store.status(def), .valid)
        let ds = try store.load("tiny-idx")
        XCTAssertEqual([ds.channels, ds.height, ds.width], [1, 5, 5])
        XCTAssertEqual(ds.train.count, 6); XCTAssertEqual(ds.test.count, 4)
        XCTAssertEqual(ds.train.labels, [0, 1, 2, 0, 1, 2]); XCTAssertEqual(ds.test.labels, [0, 1, 2, 0])
        XCTAssertEqual(ds.train.images[25 * 3 + 5 * 2 + 4], Fixtures.pixel(3, 0, 2, 4))
        XCTAssertEqual(ds.test.images, (0..<4).flatMap { i in (0..<5).flatMap { y in (0..<5).map { x in Fixtures.pixel(i, 0, y, x) } } })
        XCTAssertEqual(ds.classNames, ["a", "b", "c"])
        // converting again is idempotent: a valid cache is kept as it is
        let before = try FileManager.default.attributesOfItem(atPath: store.cachePath("tiny-idx"))[.modificationDate] as! Date
        try store.fetch(def, options: offline)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: store.cachePath("tiny-idx"))[.modificationDate] as? Date, before)
    }

    func testCorruptOrTruncatedFileGivesTheChecksumErrorAndLeavesNoCache() throws {
        let def = try Fixtures.idxDataset(in: mirror)
        let target = mirror.appendingPathComponent("tr-img.gz")
        let good = try Data(contentsOf: target)
        for broken in [{ var d = good; d[d.count / 2] ^= 0xFF; return d }(), good.prefix(good.count / 2)] {
            try broken.write(to: target)
            let store = DatasetStore(directory: cache.path)
            XCTAssertThrowsError(try store.fetch(def, options: offline)) { error in
                let text = "\(error)"
                XCTAssert(text.contains("tr-img.gz") && text.contains("expected") && text.contains(mirror.path), text)
                XCTAssert(text.contains(def.files[0].check.expected), "names the expected checksum: \(text)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: store.cachePath("tiny-idx")), "no cache behind")
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []
            XCTAssertFalse(leftovers.contains { $0.contains(".tmp") || $0.hasSuffix(".h5") }, "\(leftovers)")
        }
    }

    func testMissingFilesSayWhereToPutThem() throws {
        let def = try Fixtures.idxDataset(in: mirror)
        try FileManager.default.removeItem(at: mirror.appendingPathComponent("te-lab.gz"))
        XCTAssertThrowsError(try DatasetStore(directory: cache.path).fetch(def, options: offline)) {
            XCTAssert("\($0)".contains("put te-lab.gz in a directory") && "\($0)".contains("--mirror"), "\($0)")
        }
        XCTAssertThrowsError(try Registry.definition("imagenet")) {
            XCTAssert("\($0)".contains("unknown dataset 'imagenet'") && "\($0)".contains("fashion-mnist"), "\($0)")
        }
    }

    func testStaleCacheIsRebuiltAndNewerFormatIsRefused() throws {
        let def = try Fixtures.idxDataset(in: mirror)
        let store = DatasetStore(directory: cache.path)
        try store.fetch(def, options: offline)
        do {  // tamper with a recorded checksum
            let f = try HDF5File.open(store.cachePath("tiny-idx"), mode: .readWrite)
            try f.root.setAttribute("source.train-images.checksum", "0000")
        }
        guard case .stale = try store.status(def) else { return XCTFail("a changed checksum makes the cache stale") }
        try store.fetch(def, options: offline)
        XCTAssertEqual(try store.status(def), .valid)
        do {
            let f = try HDF5File.open(store.cachePath("tiny-idx"), mode: .readWrite)
            try f.root.setAttribute("format_version", 99)
        }
        XCTAssertThrowsError(try store.status(def)) { XCTAssert("\($0)".contains("format 99") && "\($0)".contains("upgrade"), "\($0)") }
        XCTAssertThrowsError(try store.load("tiny-idx"))
    }

    func testCIFARBinaryTarballParsesExactly() throws {
        let archive = Fixtures.cifarArchive()
        try archive.write(to: mirror.appendingPathComponent("cifar-10-binary.tar.gz"))
        let def = Fixtures.cifarDefinition(checksum: Checksum.md5.hex(archive))
        let store = DatasetStore(directory: cache.path)
        try store.fetch(def, options: offline)
        let ds = try store.load("tiny-cifar")
        XCTAssertEqual(ds.train.count, 10); XCTAssertEqual(ds.test.count, 2)
        XCTAssertEqual(ds.train.labels, (0..<10).map { Int32($0 % 10) })
        XCTAssertEqual(ds.test.labels, [0, 1])
        XCTAssertEqual(ds.classNames.count, 10); XCTAssertEqual(ds.classNames[9], "truck")
        let size = 3 * 32 * 32
        XCTAssertEqual(ds.train.images[7 * size + (2 * 32 + 5) * 32 + 9], Fixtures.pixel(7, 2, 5, 9))
        XCTAssertEqual(ds.test.images[1 * size + (1 * 32 + 31) * 32 + 0], Fixtures.pixel(11, 1, 31, 0))
    }

    func testMaliciousArchivePathsAreRefused() throws {
        for bad in ["../evil.bin", "/etc/passwd", "cifar-10-batches-bin/../../x"] {
            let archive = Fixtures.cifarArchive(extra: [(bad, Data("x".utf8))])
            try archive.write(to: mirror.appendingPathComponent("cifar-10-binary.tar.gz"))
            let def = Fixtures.cifarDefinition(checksum: Checksum.md5.hex(archive))
            XCTAssertThrowsError(try DatasetStore(directory: cache.path).fetch(def, options: offline)) {
                XCTAssert("\($0)".contains("refusing archive member '\(bad)'"), "\($0)")
            }
        }
    }

    /// Crafted headers and streams are errors, never traps or unbounded memory: a tar size of "-1", IDX
    /// dimensions whose product overflows, a gzip bomb, duplicate Tiny-ImageNet classes, an oversized mirror file.
    func testCraftedHeadersAndBombsAreBoundedErrors() throws {
        var tar = Archive.tar([("a.bin", Data(repeating: 1, count: 10))])
        let minus = Array("-1".utf8) + [UInt8](repeating: 0x20, count: 10)
        tar.replaceSubrange(124..<136, with: minus)
        XCTAssertThrowsError(try Archive.untar(tar, name: "t.tar")) { XCTAssert("\($0)".contains("no valid size"), "\($0)") }
        let huge: [UInt8] = [0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3]
        XCTAssertThrowsError(try Parsers.idx(huge, name: "x.idx", dimensions: 3)) { XCTAssert("\($0)".contains("exceed the file's"), "\($0)") }
        let bomb = Gzip.compress(Data(count: 200 << 20))   // 200 MiB of zeros in about 200 KB
        XCTAssertLessThan(bomb.count, 1 << 20)
        XCTAssertThrowsError(try Gzip.decompress(bomb, name: "bomb.gz")) { XCTAssert("\($0)".contains("gzip bomb"), "\($0)") }
        XCTAssertEqual(try Gzip.decompress(Gzip.compress(Data(count: 100_000)), name: "ok.gz").count, 100_000, "ordinary data is untouched")
        // a mirror file of another size is refused by its size, before it is read
        let def = Fixtures.cifarDefinition(checksum: "0")
        try Data(count: 3 << 20).write(to: mirror.appendingPathComponent("cifar-10-binary.tar.gz"))
        let f0 = def.files[0], sized = SourceFile(role: f0.role, filename: f0.filename, urls: [], size: 1234, check: f0.check)
        let one = DatasetDefinition(name: def.name, title: "", homepage: "", files: [sized], localDirectories: [], shape: def.shape,
                                    classNames: def.classNames, mean: def.mean, std: def.std, augmentation: def.augmentation,
                                    examples: def.examples, parse: def.parse)
        XCTAssertThrowsError(try DatasetStore(directory: cache.path).fetch(one, options: offline)) {
            XCTAssert("\($0)".contains("1234") && "\($0)".contains("3145728"), "\($0)")
        }
    }

    /// The HTTP path: a local server on loopback; a good file is cached, a truncated one is not.
    func testHTTPDownloadVerifiesBeforeKeeping() throws {
        let def = try Fixtures.idxDataset(in: mirror)
        let port = 20_000 + Int(ProcessInfo.processInfo.processIdentifier % 20_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", String(port), "--directory", mirror.path]
        server.standardOutput = FileHandle.nullDevice; server.standardError = FileHandle.nullDevice
        do { try server.run() } catch { throw XCTSkip("python3 not available for a local HTTP server") }
        defer { server.terminate(); server.waitUntilExit() }
        // wait (bounded) for the server
        let probe = URL(string: "http://127.0.0.1:\(port)/tr-img.gz")!
        var up = false
        for _ in 0..<50 where !up {
            up = (try? Data(contentsOf: probe)) != nil
            if !up { Thread.sleep(forTimeInterval: 0.1) }
        }
        guard up else { throw XCTSkip("local HTTP server did not start") }
        let http = DatasetDefinition(name: def.name, title: "", homepage: "",
                                     files: def.files.map { SourceFile(role: $0.role, filename: $0.filename,
                                                                       urls: ["http://127.0.0.1:\(port)/\($0.filename)"], size: nil, check: $0.check) },
                                     localDirectories: [], shape: def.shape, classNames: def.classNames, mean: def.mean, std: def.std,
                                     augmentation: def.augmentation, examples: def.examples, parse: def.parse)
        let store = DatasetStore(directory: cache.path)
        // truncate one file on the server: the download fails its checksum and is not kept
        let target = mirror.appendingPathComponent("te-img.gz")
        let good = try Data(contentsOf: target)
        try good.prefix(good.count - 7).write(to: target)
        XCTAssertThrowsError(try store.fetch(http, options: FetchOptions(network: true))) { XCTAssert("\($0)".contains("te-img.gz"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.rawDirectory("tiny-idx").appendingPathComponent("te-img.gz").path))
        try good.write(to: target)
        try store.fetch(http, options: FetchOptions(network: true))
        XCTAssertEqual(try store.load("tiny-idx").test.count, 4)
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.rawDirectory("tiny-idx").appendingPathComponent("te-img.gz").path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.rawDirectory("tiny-idx").path)
        XCTAssertFalse(leftovers.contains { $0.contains(".part") }, "\(leftovers)")
    }
}
