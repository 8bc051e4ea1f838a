import Foundation

// An image classification dataset in memory: UInt8 pixels N×C×H×W and Int32 labels, for train and test.

public struct ImageSplit: Sendable {
    public var images: [UInt8]
    public var labels: [Int32]
    public var count: Int { labels.count }
    public init(images: [UInt8], labels: [Int32]) { self.images = images; self.labels = labels }
}

public struct ImageDataset: Sendable {
    public var channels: Int, height: Int, width: Int
    public var classNames: [String]
    public var train: ImageSplit, test: ImageSplit
    public var sampleSize: Int { channels * height * width }

    /// Checks that pixel counts and labels fit the declared shape and classes.
    public func validate(name: String) throws {
        for (split, s) in [("train", train), ("test", test)] {
            guard s.images.count == s.count * sampleSize else {
                throw DatasetError.badFormat(file: name, reason: "\(split): \(s.images.count) pixels for \(s.count) images of \(channels)x\(height)x\(width)")
            }
            if let bad = s.labels.first(where: { $0 < 0 || Int($0) >= classNames.count }) {
                throw DatasetError.badFormat(file: name, reason: "\(split): label \(bad) outside 0..<\(classNames.count)")
            }
        }
    }
}

/// Parsers of the original file formats.
public enum Parsers {
    /// IDX (LeCun's MNIST format): magic 0x0000 08 ND (unsigned bytes, ND dimensions), big-endian
    /// dimension sizes, then the data. Returns the dimensions and the bytes.
    public static func idx(_ data: [UInt8], name: String, dimensions: Int) throws -> (dims: [Int], values: ArraySlice<UInt8>) {
        guard data.count >= 4, data[0] == 0, data[1] == 0 else { throw DatasetError.badFormat(file: name, reason: "no IDX magic number") }
        guard data[2] == 0x08 else { throw DatasetError.badFormat(file: name, reason: "IDX element type \(data[2]), expected 0x08 (unsigned byte)") }
        guard Int(data[3]) == dimensions else { throw DatasetError.badFormat(file: name, reason: "IDX has \(data[3]) dimensions, expected \(dimensions)") }
        guard data.count >= 4 + 4 * dimensions else { throw DatasetError.badFormat(file: name, reason: "IDX header is truncated") }
        let dims = (0..<dimensions).map { d -> Int in
            let o = 4 + 4 * d
            return Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
        }
        let start = 4 + 4 * dimensions
        var n = 1   // the product of crafted dimensions can overflow: checked, and bounded by the bytes present
        for d in dims {
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, m <= data.count else { throw DatasetError.badFormat(file: name, reason: "IDX dimensions \(dims) exceed the file's \(data.count) bytes") }
            n = m
        }
        guard data.count == start + n else {
            throw DatasetError.badFormat(file: name, reason: "IDX declares \(dims) = \(n) values but holds \(data.count - start)")
        }
        return (dims, data[start...])
    }

    /// MNIST-style images + labels (gunzipped IDX) into one split.
    public static func idxSplit(images: [UInt8], labels: [UInt8], names: (String, String)) throws -> (ImageSplit, Int, Int) {
        let (idims, pixels) = try idx(images, name: names.0, dimensions: 3)
        let (ldims, labs) = try idx(labels, name: names.1, dimensions: 1)
        guard idims[0] == ldims[0] else {
            throw DatasetError.badFormat(file: names.1, reason: "\(ldims[0]) labels for \(idims[0]) images in \(names.0)")
        }
        return (ImageSplit(images: Array(pixels), labels: labs.map { Int32($0) }), idims[1], idims[2])
    }

    /// CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32×32),
    /// which is already C×H×W.
    public static func cifarBatch(_ data: Data, name: String) throws -> ImageSplit {
        let record = 1 + 3 * 32 * 32
        guard data.count % record == 0, !data.isEmpty else {
            throw DatasetError.badFormat(file: name, reason: "\(data.count) bytes is not a whole number of \(record)-byte CIFAR records")
        }
        let n = data.count / record
        var images = [UInt8](repeating: 0, count: n * (record - 1)), labels = [Int32](repeating: 0, count: n)
        data.withUnsafeBytes { (b: UnsafeRawBufferPointer) in
            for i in 0..<n {
                labels[i] = Int32(b[i * record])
                for j in 0..<(record - 1) { images[i * (record - 1) + j] = b[i * record + 1 + j] }
            }
        }
        return ImageSplit(images: images, labels: labels)
    }
}
