// Wire: the byte layout of the messages ranks exchange besides raw tensors (results, state, commands):
// little-endian 64-bit integers and doubles, length-prefixed UTF-8 strings and float arrays, in the
// order written. Both sides are the same binary, so there is no schema beyond that order; a message
// that ends early is a `WireError`, never a trap.

public struct WireError: Error, CustomStringConvertible {
    public let what: String
    public init(what: String) { self.what = what }
    public var description: String { "a message between ranks ended early or was malformed (\(what))" }
}

public struct WireWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func int(_ v: Int) { word(UInt64(bitPattern: Int64(v))) }
    public mutating func word(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func double(_ v: Double) { word(v.bitPattern) }
    public mutating func string(_ s: String) { let u = Array(s.utf8); int(u.count); bytes.append(contentsOf: u) }
    /// `count` floats, bit for bit.
    public mutating func floats(_ p: UnsafePointer<Float>, count: Int) {
        int(count)
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: count * 4))
    }
}

public struct WireReader {
    private let bytes: [UInt8]
    private var at = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var atEnd: Bool { at == bytes.count }

    private mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - at else { throw WireError(what: what) }
        defer { at += n }
        return bytes[at..<(at + n)]
    }

    public mutating func word() throws -> UInt64 {
        let s = try take(8, "word")
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
    public mutating func int() throws -> Int { Int(Int64(bitPattern: try word())) }
    public mutating func double() throws -> Double { Double(bitPattern: try word()) }
    public mutating func string() throws -> String { String(decoding: try take(try int(), "string"), as: UTF8.self) }
    /// Reads `count` floats into `p`; the message must hold exactly that many.
    public mutating func floats(into p: UnsafeMutablePointer<Float>, count: Int) throws {
        let n = try int()
        guard n == count else { throw WireError(what: "\(n) floats where \(count) were expected") }
        let s = try take(n * 4, "floats")
        guard n > 0 else { return }
        s.withUnsafeBytes { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: n * 4) }
    }
}
