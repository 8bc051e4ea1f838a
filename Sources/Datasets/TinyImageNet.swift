// Tiny-ImageNet-200 from its zip: tiny-imagenet-200/wnids.txt (200 classes, ordered by sorted wnid as
// torchvision's ImageFolder does), words.txt (names), train/<wnid>/images/*.JPEG (500 per class) and
// val/images/*.JPEG labelled by val/val_annotations.txt; the labelled val set is the test split, as in
// the papers. Images are 64×64 RGB (grayscale ones are expanded). Every member path is checked first.

import Foundation
import ZIPFoundation

extension Registry {
    public static func parseTinyImageNet(_ files: [String: Data]) throws -> ImageDataset {
        let name = "tiny-imagenet-200.zip"
        guard let zip = files["archive"] else { throw DatasetError.badFormat(file: name, reason: "missing") }
        let archive: ZIPFoundation.Archive
        do { archive = try ZIPFoundation.Archive(data: zip, accessMode: .read) }
        catch { throw DatasetError.badFormat(file: name, reason: "not a readable zip archive (\(error))") }
        var members: [String: ZIPFoundation.Entry] = [:]
        for entry in archive {
            try Archive.checkSafe(entry.path, archive: name)
            if entry.type == .file { members[entry.path] = entry }
        }
        func read(_ path: String) throws -> Data {
            guard let e = members[path] else { throw DatasetError.badFormat(file: name, reason: "no member \(path)") }
            var d = Data()
            do { _ = try archive.extract(e, skipCRC32: false) { d.append($0) } }
            catch { throw DatasetError.badFormat(file: name, reason: "cannot extract \(path) (\(error))") }
            return d
        }
        let root = "tiny-imagenet-200/"
        let wnids = String(decoding: try read(root + "wnids.txt"), as: UTF8.self)
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.sorted()
        guard !wnids.isEmpty else { throw DatasetError.badFormat(file: name, reason: "wnids.txt lists no classes") }
        if let dup = Dictionary(grouping: wnids, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw DatasetError.badFormat(file: name, reason: "wnids.txt lists class \(dup) twice")
        }
        let index = Dictionary(uniqueKeysWithValues: wnids.enumerated().map { ($1, Int32($0)) })
        var words: [String: String] = [:]
        if members[root + "words.txt"] != nil {
            for line in String(decoding: try read(root + "words.txt"), as: UTF8.self).split(whereSeparator: \.isNewline) {
                let parts = line.split(separator: "\t", maxSplits: 1)
                if parts.count == 2 { words[String(parts[0])] = String(parts[1]) }
            }
        }
        let side = 64, size = 3 * side * side
        func decode(_ path: String) throws -> [UInt8] {
            let (rgb, w, h) = try JPEG.decodeRGB(try read(path), name: path)
            guard w == side, h == side else { throw DatasetError.badFormat(file: path, reason: "\(w)x\(h) image, expected 64x64") }
            var chw = [UInt8](repeating: 0, count: size)   // H×W×3 → 3×H×W
            for p in 0..<(side * side) { for c in 0..<3 { chw[c * side * side + p] = rgb[p * 3 + c] } }
            return chw
        }
        var train = ImageSplit(images: [], labels: [])
        let trainPaths = members.keys.filter { $0.hasPrefix(root + "train/") && $0.uppercased().hasSuffix(".JPEG") }.sorted()
        train.images.reserveCapacity(trainPaths.count * size)
        for path in trainPaths {
            let wnid = path.split(separator: "/")[2]
            guard let label = index[String(wnid)] else { throw DatasetError.badFormat(file: path, reason: "class \(wnid) is not in wnids.txt") }
            train.images += try decode(path); train.labels.append(label)
        }
        var test = ImageSplit(images: [], labels: [])
        let annotations = String(decoding: try read(root + "val/val_annotations.txt"), as: UTF8.self)
        for line in annotations.split(whereSeparator: \.isNewline).sorted() {
            let parts = line.split(separator: "\t")
            guard parts.count >= 2, let label = index[String(parts[1])] else {
                throw DatasetError.badFormat(file: "val_annotations.txt", reason: "bad line '\(line)'")
            }
            test.images += try decode(root + "val/images/" + parts[0]); test.labels.append(label)
        }
        return ImageDataset(channels: 3, height: side, width: side, classNames: wnids.map { words[$0] ?? $0 }, train: train, test: test)
    }
}
