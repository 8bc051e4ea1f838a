// Tiny datasets in the real file formats, made by the tests, and the registry entries that point at them.
import Foundation
@testable import Datasets

enum Fixtures {
    static func tempDir() -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-ds-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// IDX bytes: magic 0x00 0x00 0x08 ndim, big-endian dims, data.
    static func idx(_ dims: [Int], _ values: [UInt8]) -> Data {
        var d = Data([0, 0, 8, UInt8(dims.count)])
        for v in dims { d.append(contentsOf: [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)]) }
        d.append(contentsOf: values)
        return d
    }

    /// Pixel (i, y, x) of the fixture images: distinct and recomputable.
    static func pixel(_ i: Int, _ c: Int, _ y: Int, _ x: Int) -> UInt8 { UInt8((i * 31 + c * 17 + y * 7 + x * 3) % 256) }

    /// Writes a tiny MNIST-format dataset (gzipped IDX) into `dir`; returns its registry entry.
    static func idxDataset(in dir: URL, train: Int = 6, test: Int = 4, size: Int = 5) throws -> DatasetDefinition {
        func images(_ n: Int) -> Data {
            idx([n, size, size], (0..<n).flatMap { i in (0..<size).flatMap { y in (0..<size).map { x in pixel(i, 0, y, x) } } })
        }
        func labels(_ n: Int) -> Data { idx([n], (0..<n).map { UInt8($0 % 3) }) }
        let raw: [(String, String, Data)] = [("train-images", "tr-img.gz", images(train)), ("train-labels", "tr-lab.gz", labels(train)),
                                              ("test-images", "te-img.gz", images(test)), ("test-labels", "te-lab.gz", labels(test))]
        var files: [SourceFile] = []
        for (role, name, content) in raw {
            try Gzip.compress(content).write(to: dir.appendingPathComponent(name))
            files.append(SourceFile(role: role, filename: name, urls: [], size: nil, check: .gunzippedSHA256(Checksum.sha256.hex(content))))
        }
        return DatasetDefinition(name: "tiny-idx", title: "fixture", homepage: "", files: files, localDirectories: [],
                                 shape: (1, size, size), classNames: ["a", "b", "c"], mean: [0.5], std: [0.25],
                                 augmentation: .none, examples: (0, 0), parse: { try Registry.parseIDXDataset($0, classNames: ["a", "b", "c"]) })
    }

    /// A cifar-10-binary.tar.gz with `perBatch` images in each of the six batches.
    static func cifarArchive(perBatch: Int = 2, extra: [(String, Data)] = []) -> Data {
        func batch(_ k: Int) -> Data {
            var d = Data()
            for i in 0..<perBatch {
                let index = k * perBatch + i
                d.append(UInt8(index % 10))
                for c in 0..<3 { for y in 0..<32 { for x in 0..<32 { d.append(pixel(index, c, y, x)) } } }
            }
            return d
        }
        var members = (1...5).map { ("cifar-10-batches-bin/data_batch_\($0).bin", batch($0 - 1)) }
        members.append(("cifar-10-batches-bin/test_batch.bin", batch(5)))
        members.append(("cifar-10-batches-bin/batches.meta.txt", Data("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".utf8)))
        return Gzip.compress(Archive.tar(members + extra))
    }

    static func cifarDefinition(checksum: String) -> DatasetDefinition {
        let real = Registry.cifar10
        return DatasetDefinition(name: "tiny-cifar", title: "fixture", homepage: "",
                                 files: [SourceFile(role: "archive", filename: "cifar-10-binary.tar.gz", urls: [], size: nil, check: .md5(checksum))],
                                 localDirectories: [], shape: real.shape, classNames: real.classNames, mean: real.mean, std: real.std,
                                 augmentation: real.augmentation, examples: real.examples, parse: real.parse)
    }
}
