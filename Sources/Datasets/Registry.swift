// The dataset registry: every dataset declares its source files with their original URLs and
// checksums, local places tried first, its normalisation and its default augmentation.
// Checksums: sha256 where known; the published md5 where that is all there is; for gzipped IDX,
// the sha256 of the decompressed content (Debian re-compressed Fashion-MNIST, so its .gz bytes
// differ from the originals while the content is identical).

import Foundation

public enum FileCheck: Sendable, Equatable {
    case sha256(String)
    case md5(String)
    /// sha256 of the gunzipped content.
    case gunzippedSHA256(String)

    public var label: String {
        switch self {
        case .sha256: return "sha256"
        case .md5: return "md5"
        case .gunzippedSHA256: return "sha256 of the decompressed content"
        }
    }
    /// Whether the check is on the file's own bytes (then its size is checked too); a content
    /// check accepts any compression of the same content.
    public var coversRawBytes: Bool { if case .gunzippedSHA256 = self { return false }; return true }

    public var expected: String {
        switch self { case let .sha256(h), let .md5(h), let .gunzippedSHA256(h): return h }
    }

    /// The checksum of `data` in this check's terms.
    public func actual(_ data: Data, name: String) throws -> String {
        switch self {
        case .sha256: return Checksum.sha256.hex(data)
        case .md5: return Checksum.md5.hex(data)
        case .gunzippedSHA256: return Checksum.sha256.hex(try Gzip.decompress(data, name: name))
        }
    }
}

public struct SourceFile: Sendable {
    public let role: String
    public let filename: String
    public let urls: [String]
    public let size: Int?
    public let check: FileCheck
    public init(role: String, filename: String, urls: [String], size: Int?, check: FileCheck) {
        self.role = role; self.filename = filename; self.urls = urls; self.size = size; self.check = check
    }
}

public struct Augmentation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var cropPadding: Int
    public var horizontalFlip: Bool
    public static let none = Augmentation(cropPadding: 0, horizontalFlip: false)
    public init(cropPadding: Int, horizontalFlip: Bool) { self.cropPadding = cropPadding; self.horizontalFlip = horizontalFlip }

    public static let syntax = "none, flip, crop:P or crop:P,flip (P = zero padding in pixels, 0-16)"

    /// Parses "none", "flip", "crop:2", "crop:4,flip" (the form `description` writes).
    public init(parsing text: String) throws {
        var pad = 0, flip = false
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty else { throw DatasetError.badAugmentation(text, allowed: Augmentation.syntax) }
        for part in parts {
            if part == "none" && parts.count == 1 { continue }
            if part == "flip" && !flip { flip = true; continue }
            if part.hasPrefix("crop:"), let p = Int(part.dropFirst(5)), (0...16).contains(p), pad == 0 { pad = p; continue }
            throw DatasetError.badAugmentation(text, allowed: Augmentation.syntax)
        }
        self.init(cropPadding: pad, horizontalFlip: flip)
    }

    public var description: String {
        var parts: [String] = []
        if cropPadding > 0 { parts.append("crop:\(cropPadding)") }
        if horizontalFlip { parts.append("flip") }
        return parts.isEmpty ? "none" : parts.joined(separator: ",")
    }
}

public struct DatasetDefinition: Sendable {
    public let name: String
    public let title: String
    public let homepage: String
    public let files: [SourceFile]
    /// Directories holding the original files that a system package installs.
    public let localDirectories: [String]
    public let shape: (channels: Int, height: Int, width: Int)
    public let classNames: [String]
    public let mean: [Float], std: [Float]
    public let augmentation: Augmentation
    /// Training and test examples as published (Tiny-ImageNet: its validation set is the test set);
    /// what a run's cost is estimated from before the data is loaded.
    public let examples: (train: Int, test: Int)
    public let parse: @Sendable ([String: Data]) throws -> ImageDataset

    public var approximateBytes: Int { files.reduce(0) { $0 + ($1.size ?? 0) } }
}

/// A registered dataset's name (`Registry.names`): parsed with `init(parsing:)`, which names the known ones
/// on an error, and checked when decoded; a string literal in code must name a registered dataset.
public struct DatasetName: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init?(rawValue: String) {
        guard Registry.names.contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }
    public init(parsing name: String) throws {
        guard let d = DatasetName(rawValue: name) else { throw DatasetError.unknownDataset(name, known: Registry.names) }
        self = d
    }
    public init(stringLiteral name: String) {
        guard let d = DatasetName(rawValue: name) else { preconditionFailure("'\(name)' is not a registered dataset: \(Registry.names)") }
        self = d
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer(), name = try c.decode(String.self)
        guard let d = DatasetName(rawValue: name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown dataset '\(name)'; known: \(Registry.names.joined(separator: ", "))")
        }
        self = d
    }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(rawValue) }
    public var description: String { rawValue }
    public static func < (a: DatasetName, b: DatasetName) -> Bool { a.rawValue < b.rawValue }
    /// Whether this is the generated S2S token task.
    public var isSequenceTask: Bool { rawValue == Registry.s2s.name }
}

/// A dataset generated in memory from the run's seed (no files, nothing to fetch).
public struct GeneratedDataset: Sendable {
    public let name: String
    public let title: String
}

public enum Registry {
    /// The sequence-to-sequence reversal task (S2STask): a transformer reads token sequences.
    public static let s2s = GeneratedDataset(name: "s2s", title: "seeded permutations of 0..9 and their reversal")
    public static let generated = [s2s]
    /// The image datasets, fetched and cached.
    public static var all: [DatasetDefinition] { [fashionMNIST, cifar10, tinyImageNet] }
    public static var names: [String] { all.map(\.name) + generated.map(\.name) }

    /// What a dataset is: fetched images or a generated task.
    public enum Entry: Sendable { case images(DatasetDefinition), generated(GeneratedDataset) }
    /// An image dataset's definition (the generated task has none: an error).
    public static func definition(_ name: DatasetName) throws -> DatasetDefinition { try definition(name.rawValue) }

    /// The entry of a registered name (a DatasetName is registered by construction).
    public static func entry(_ name: DatasetName) -> Entry {
        if let g = generated.first(where: { $0.name == name.rawValue }) { return .generated(g) }
        return .images(all.first { $0.name == name.rawValue }!)
    }

    public static func definition(_ name: String) throws -> DatasetDefinition {
        guard let d = all.first(where: { $0.name == name }) else {
            throw DatasetError.unknownDataset(name, known: names)
        }
        return d
    }

    public static let fashionMNIST: DatasetDefinition = {
        let base = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
        func file(_ role: String, _ name: String, _ size: Int, _ sha: String) -> SourceFile {
            SourceFile(role: role, filename: name, urls: base.map { $0 + name }, size: nil, check: .gunzippedSHA256(sha)).withSize(size)
        }
        return DatasetDefinition(
            name: "fashion-mnist", title: "Fashion-MNIST (Xiao et al. 2017)",
            homepage: "https://github.com/zalandoresearch/fashion-mnist",
            files: [
                file("train-images", "train-images-idx3-ubyte.gz", 26_421_880, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
                file("train-labels", "train-labels-idx1-ubyte.gz", 29_515, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
                file("test-images", "t10k-images-idx3-ubyte.gz", 4_422_102, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                file("test-labels", "t10k-labels-idx1-ubyte.gz", 5_148, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
            ],
            localDirectories: ["/usr/share/datasets/fashion-mnist"],
            shape: (1, 28, 28),
            classNames: ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
            mean: [0.2860], std: [0.3530],
            augmentation: .none,
            examples: (60_000, 10_000),
            parse: { try parseIDXDataset($0, classNames: ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]) })
    }()

    public static let cifar10 = DatasetDefinition(
        name: "cifar10", title: "CIFAR-10 (Krizhevsky 2009), binary version",
        homepage: "https://www.cs.toronto.edu/~kriz/cifar.html",
        files: [SourceFile(role: "archive", filename: "cifar-10-binary.tar.gz",
                           urls: ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
                           size: 170_052_171, check: .md5("c32a1d4ab5d03f1284b67883e8d87530"))],
        localDirectories: [],
        shape: (3, 32, 32),
        classNames: ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616],
        augmentation: Augmentation(cropPadding: 4, horizontalFlip: true),
        examples: (50_000, 10_000),
        parse: { try parseCIFAR10($0) })

    public static let tinyImageNet = DatasetDefinition(
        name: "tiny-imagenet", title: "Tiny-ImageNet-200 (Stanford CS231n)",
        homepage: "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
        files: [SourceFile(role: "archive", filename: "tiny-imagenet-200.zip",
                           urls: ["http://cs231n.stanford.edu/tiny-imagenet-200.zip"],
                           size: 248_100_043, check: .md5("90528d7ca1a48142e341f4ef8d21d0de"))],
        localDirectories: [],
        shape: (3, 64, 64),
        classNames: [],  // read from wnids.txt
        mean: [0.4802, 0.4481, 0.3975], std: [0.2770, 0.2691, 0.2821],
        augmentation: Augmentation(cropPadding: 4, horizontalFlip: true),
        examples: (100_000, 10_000),
        parse: { try parseTinyImageNet($0) })

    /// The four IDX files of an MNIST-family dataset.
    public static func parseIDXDataset(_ files: [String: Data], classNames: [String]) throws -> ImageDataset {
        func raw(_ role: String) throws -> [UInt8] {
            guard let d = files[role] else { throw DatasetError.badFormat(file: role, reason: "missing") }
            return [UInt8](try Gzip.decompress(d, name: role))
        }
        let (train, h, w) = try Parsers.idxSplit(images: raw("train-images"), labels: raw("train-labels"), names: ("train-images", "train-labels"))
        let (test, h2, w2) = try Parsers.idxSplit(images: raw("test-images"), labels: raw("test-labels"), names: ("test-images", "test-labels"))
        guard h == h2, w == w2 else { throw DatasetError.badFormat(file: "test-images", reason: "\(h2)x\(w2) images, train has \(h)x\(w)") }
        return ImageDataset(channels: 1, height: h, width: w, classNames: classNames, train: train, test: test)
    }

    /// cifar-10-binary.tar.gz: data_batch_1..5.bin (train), test_batch.bin, batches.meta.txt.
    public static func parseCIFAR10(_ files: [String: Data]) throws -> ImageDataset {
        guard let archive = files["archive"] else { throw DatasetError.badFormat(file: "cifar-10-binary.tar.gz", reason: "missing") }
        let members = try Archive.untar(try Gzip.decompress(archive, name: "cifar-10-binary.tar.gz"), name: "cifar-10-binary.tar.gz")
        func member(_ n: String) throws -> Data {
            guard let d = members["cifar-10-batches-bin/" + n] else {
                throw DatasetError.badFormat(file: "cifar-10-binary.tar.gz", reason: "no member cifar-10-batches-bin/\(n)")
            }
            return d
        }
        var train = ImageSplit(images: [], labels: [])
        for i in 1...5 {
            let b = try Parsers.cifarBatch(try member("data_batch_\(i).bin"), name: "data_batch_\(i).bin")
            train.images += b.images; train.labels += b.labels
        }
        let test = try Parsers.cifarBatch(try member("test_batch.bin"), name: "test_batch.bin")
        let names = String(decoding: try member("batches.meta.txt"), as: UTF8.self)
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return ImageDataset(channels: 3, height: 32, width: 32, classNames: names, train: train, test: test)
    }
}

extension SourceFile {
    func withSize(_ s: Int?) -> SourceFile { SourceFile(role: role, filename: filename, urls: urls, size: s, check: check) }
}
