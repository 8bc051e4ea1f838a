// DatasetStore: the cache folder (datasets/). fetch = find each source file (mirror, system package
// directory, raw download cache, original URLs, in that order), verify it, parse, and write
// datasets/<name>.h5 through a temporary file and a rename. A file that fails its checksum or size is
// never used or kept; the error names the source, the file, expected and actual values.
// Cache layout: /train/images (UInt8, N×C×H×W), /train/labels (Int32), /test/..., attributes
// format_version, tool_version, created, dataset, class_names (JSON), source.<role>.<check>; since
// format 2 every array carries a `sha256` attribute of its bytes.
// What is checked when: `status` (before every use) the format and the sources' recorded checksums;
// `load` (every run, and `data verify`) every HDF5 read's status (gzip and structure damage), each
// array's sha256 (flipped bytes anywhere), the shapes, counts, and that every label is a class.
// Loading Fashion-MNIST that way takes about 0.3 s (`data verify fashion-mnist`, this machine).

import Crypto
import Engine
import Foundation
import Store

public struct FetchOptions: Sendable {
    /// A directory (or file:// URL of one) holding the original files, tried first.
    public var mirror: String?
    /// Whether original URLs may be tried (tests turn this off).
    public var network: Bool = true
    public var log: @Sendable (String) -> Void = { _ in }
    public init(mirror: String? = nil, network: Bool = true, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.mirror = mirror; self.network = network; self.log = log
    }
}

public enum CacheStatus: Equatable, Sendable {
    case missing
    case valid
    case stale(String)
}

public final class DatasetStore {
    public static let formatVersion = 2
    public let directory: URL

    public init(directory: String) { self.directory = URL(fileURLWithPath: directory) }

    /// Whether a dataset can be had here: generated, cached and valid, or its files in `mirror` or one of
    /// its local directories (what the paper diff calls runnable).
    public func isAvailable(mirror: String?) -> (String) -> Bool {
        { name in
            guard let known = DatasetName(rawValue: name) else { return false }
            let entry = Registry.entry(known)
            guard case .images(let def) = entry else { return true }
            if (try? self.status(def)) == .valid { return true }
            return ([mirror].compactMap { $0 } + def.localDirectories).contains { dir in
                def.files.allSatisfy { FileManager.default.fileExists(atPath: URL(fileURLWithPath: dir).appendingPathComponent($0.filename).path) }
            }
        }
    }

    public func cachePath(_ name: String) -> String { directory.appendingPathComponent(name + ".h5").path }
    func rawDirectory(_ name: String) -> URL { directory.appendingPathComponent("raw").appendingPathComponent(name) }

    /// Whether the cache file exists and was built from exactly the declared sources.
    public func status(_ def: DatasetDefinition) throws -> CacheStatus {
        let path = cachePath(def.name)
        guard FileManager.default.fileExists(atPath: path) else { return .missing }
        guard let f = try? HDF5File.open(path) else { return .stale("not a readable HDF5 file") }
        let version = (try? f.root.intAttribute("format_version")) ?? 0
        if version > DatasetStore.formatVersion { throw DatasetError.newerCache(path: path, version: version, supported: DatasetStore.formatVersion) }
        if version < DatasetStore.formatVersion { return .stale("cache format \(version) is older than \(DatasetStore.formatVersion)") }
        for file in def.files {
            let key = "source.\(file.role).checksum"
            guard let recorded = try? f.root.stringAttribute(key), recorded == file.check.expected else {
                return .stale("\(file.filename): recorded checksum differs from the registry's")
            }
        }
        return .valid
    }

    /// Makes sure datasets/<name>.h5 is present and valid; returns its path.
    @discardableResult
    public func fetch(_ def: DatasetDefinition, options: FetchOptions = FetchOptions()) throws -> String {
        switch try status(def) {
        case .valid: options.log("\(def.name): cached at \(cachePath(def.name))"); return cachePath(def.name)
        case .stale(let why): options.log("\(def.name): rebuilding the cache (\(why))")
        case .missing: break
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var contents: [String: Data] = [:]
        for file in def.files { contents[file.role] = try obtain(file, of: def, options: options) }
        options.log("\(def.name): converting")
        let data = try def.parse(contents)
        try data.validate(name: def.name)
        try write(data, def: def)
        options.log("\(def.name): wrote \(cachePath(def.name)) (\(data.train.count) train, \(data.test.count) test)")
        return cachePath(def.name)
    }

    /// Verifies a candidate's bytes; returns nil when good, else the error.
    func verify(_ data: Data, _ file: SourceFile, of def: DatasetDefinition, source: String, checkSize: Bool) -> DatasetError? {
        if checkSize, file.check.coversRawBytes, let size = file.size, data.count != size {
            return .sizeMismatch(dataset: def.name, file: file.filename, source: source, expected: size, actual: data.count)
        }
        let actual = (try? file.check.actual(data, name: file.filename)) ?? "unreadable (damaged or truncated gzip)"
        if actual != file.check.expected {
            return .checksumMismatch(dataset: def.name, file: file.filename, source: source, algorithm: file.check.label,
                                     expected: file.check.expected, actual: actual)
        }
        return nil
    }

    /// The verified bytes of one source file, from the first place that has a good copy.
    func obtain(_ file: SourceFile, of def: DatasetDefinition, options: FetchOptions) throws -> Data {
        var tried: [String] = []
        var lastError: DatasetError?
        var local: [String] = []
        if let m = options.mirror {
            let dir = m.hasPrefix("file://") ? (URL(string: m)?.path ?? m) : m
            local.append(URL(fileURLWithPath: dir).appendingPathComponent(file.filename).path)
        }
        local += def.localDirectories.map { URL(fileURLWithPath: $0).appendingPathComponent(file.filename).path }
        let rawPath = rawDirectory(def.name).appendingPathComponent(file.filename).path
        local.append(rawPath)
        for path in local {
            guard FileManager.default.fileExists(atPath: path) else { tried.append("\(path): absent"); continue }
            // a file of the wrong size is refused before it is read into memory (an oversized mirror file)
            if file.check.coversRawBytes, let size = file.size,
               let actual = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, actual != size {
                let err = DatasetError.sizeMismatch(dataset: def.name, file: file.filename, source: path, expected: size, actual: actual)
                options.log("  \(err)"); tried.append("\(path): wrong size"); lastError = err
                if path == rawPath { try? FileManager.default.removeItem(atPath: rawPath) }
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else { tried.append("\(path): unreadable"); continue }
            if let err = verify(data, file, of: def, source: path, checkSize: true) {
                options.log("  \(err)"); tried.append("\(path): bad checksum"); lastError = err
                if path == rawPath { try? FileManager.default.removeItem(atPath: rawPath) }   // never keep a bad download
                continue
            }
            options.log("  \(file.filename): verified \(path)")
            return data
        }
        if options.network {
            for url in file.urls {
                guard let u = URL(string: url) else { continue }
                try FileManager.default.createDirectory(at: rawDirectory(def.name), withIntermediateDirectories: true)
                let tmp = rawPath + ".part-\(ProcessInfo.processInfo.processIdentifier)"
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                options.log("  \(file.filename): downloading \(url)")
                if let failure = StreamingDownload.fetch(u, to: tmp) { tried.append("\(url): \(failure)"); continue }
                guard let data = FileManager.default.contents(atPath: tmp) else { tried.append("\(url): no data"); continue }
                if let err = verify(data, file, of: def, source: url, checkSize: true) {
                    options.log("  \(err)"); tried.append("\(url): bad checksum"); lastError = err; continue
                }
                do { try FileManager.default.moveItem(atPath: tmp, toPath: rawPath) }
                catch { throw DatasetError.io(path: rawPath, reason: error.localizedDescription) }
                return data
            }
        } else { tried.append("original URLs: not tried (network off)") }
        if let lastError, tried.allSatisfy({ $0.hasSuffix("absent") || $0.hasSuffix("bad checksum") || $0.hasSuffix("wrong size") || $0.contains("not tried") }) {
            throw lastError
        }
        throw DatasetError.notFound(dataset: def.name, file: file.filename, tried: tried)
    }

    func write(_ data: ImageDataset, def: DatasetDefinition) throws {
        let final = cachePath(def.name)
        let tmp = final + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        do {
            let f = try HDF5File.create(tmp)
            let shape = [data.channels, data.height, data.width]
            for (split, s) in [("train", data.train), ("test", data.test)] {
                try f.root.write("\(split)/images", s.images, shape: [s.count] + shape, chunkRows: 1024, gzip: 4)
                try f.root.write("\(split)/labels", s.labels, shape: [s.count])
                try f.root.dataset("\(split)/images").setAttribute("sha256", DatasetStore.sha256(s.images))
                try f.root.dataset("\(split)/labels").setAttribute("sha256", DatasetStore.sha256(s.labels))
            }
            let r = f.root
            try r.setAttribute("format_version", DatasetStore.formatVersion)
            try r.setAttribute("dataset", def.name)
            try r.setAttribute("title", def.title)
            try r.setAttribute("tool_version", "blocklocal " + Engine.version)
            try r.setAttribute("created", ISO8601DateFormatter().string(from: Date()))
            let enc = JSONEncoder(); enc.outputFormatting = [.withoutEscapingSlashes]
            let names = try enc.encode(data.classNames)
            try r.setAttribute("class_names", String(decoding: names, as: UTF8.self))
            for file in def.files {
                try r.setAttribute("source.\(file.role).file", file.filename)
                try r.setAttribute("source.\(file.role).check", file.check.label)
                try r.setAttribute("source.\(file.role).checksum", file.check.expected)
            }
            try f.flush()
        } catch let e as HDF5Error {
            throw DatasetError.io(path: tmp, reason: e.description)
        }
        do {
            if FileManager.default.fileExists(atPath: final) { try FileManager.default.removeItem(atPath: final) }
            try FileManager.default.moveItem(atPath: tmp, toPath: final)
        } catch { throw DatasetError.io(path: final, reason: error.localizedDescription) }
    }

    /// Reads a cached dataset into memory.
    public func load(_ name: String) throws -> ImageDataset {
        let path = cachePath(name)
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.notCached(dataset: name) }
        let f = try HDF5File.open(path)
        let version = (try? f.root.intAttribute("format_version")) ?? 0
        if version > DatasetStore.formatVersion { throw DatasetError.newerCache(path: path, version: version, supported: DatasetStore.formatVersion) }
        /// One array, read (HDF5's status checked) and compared with its recorded sha256.
        func array<T: HDF5Element>(_ p: String, _: T.Type) throws -> (values: [T], shape: [Int]) {
            let r: (values: [T], shape: [Int])
            do { r = try f.root.read(p, as: T.self) } catch { throw DatasetError.badFormat(file: path, reason: "\(p): \(error)") }
            if let recorded = try? f.root.dataset(p).stringAttribute("sha256"), recorded != DatasetStore.sha256(r.values) {
                throw DatasetError.badFormat(file: path, reason: "\(p) does not hash to its recorded sha256 (damaged); delete the file and run `blocklocal data fetch \(name)`")
            }
            return r
        }
        let (trainImages, shape) = try array("train/images", UInt8.self)
        guard shape.count == 4 else { throw DatasetError.badFormat(file: path, reason: "train/images has shape \(shape), expected N×C×H×W") }
        let train = ImageSplit(images: trainImages, labels: try array("train/labels", Int32.self).values)
        let test = ImageSplit(images: try array("test/images", UInt8.self).values, labels: try array("test/labels", Int32.self).values)
        let names = (try? JSONDecoder().decode([String].self, from: Data(f.root.stringAttribute("class_names").utf8))) ?? []
        let ds = ImageDataset(channels: shape[1], height: shape[2], width: shape[3], classNames: names, train: train, test: test)
        try ds.validate(name: path)   // counts, and every label a class: never a crash in the loss, never a label dropped
        return ds
    }

    /// The recorded attributes of a cache file, for `data info`.
    public func info(_ name: String) throws -> [(String, String)] {
        let path = cachePath(name)
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.notCached(dataset: name) }
        let f = try HDF5File.open(path)
        var rows: [(String, String)] = [("file", path)]
        for key in ["dataset", "title", "format_version", "tool_version", "created", "class_names"] {
            if let s = try? f.root.stringAttribute(key) { rows.append((key, s)) }
            else if let i = try? f.root.intAttribute(key) { rows.append((key, String(i))) }
        }
        for split in ["train", "test"] {
            rows.append(("\(split)/images", describeShape(try f.root.shape("\(split)/images"))))
        }
        return rows
    }

    static func sha256<T>(_ values: [T]) -> String {
        values.withUnsafeBytes { SHA256.hash(data: $0).map { String(format: "%02x", $0) }.joined() }
    }

    func describeShape(_ s: [Int]) -> String { s.map(String.init).joined(separator: "x") }
}
