// gunzip through zlib (the only file that imports CGzip). Accepts gzip or zlib streams; a truncated
// or corrupt stream is an error, never a short result. Output is capped (a gzip bomb stops at the cap,
// not at the machine's memory): by default 64 times the compressed size plus 1 MiB, far above what
// image data compresses by (Fashion-MNIST about 2:1, CIFAR-10 about 1.1:1).

import CGzip
import Foundation

public enum Gzip {
    public static func defaultLimit(_ compressed: Int) -> Int { compressed.multipliedReportingOverflow(by: 64).partialValue + (1 << 20) }

    public static func decompress(_ data: Data, name: String, limit: Int? = nil) throws -> Data {
        let cap = limit ?? defaultLimit(data.count)
        var stream = z_stream()
        guard bl_inflate_init2(&stream, 15 + 32) == Z_OK else { throw DatasetError.badFormat(file: name, reason: "zlib could not start") }
        defer { inflateEnd(&stream) }
        var out = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try buffer.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress; stream.avail_out = uInt(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw DatasetError.badFormat(file: name, reason: "gzip data is corrupt (zlib status \(status))")
                    }
                    out.append(buf.baseAddress!, count: chunk - Int(stream.avail_out))
                    guard out.count <= cap else {
                        throw DatasetError.badFormat(file: name, reason: "it unpacks to more than \(cap) bytes (\(data.count) packed): not the expected file (a gzip bomb?)")
                    }
                }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else { throw DatasetError.badFormat(file: name, reason: "gzip data ends early (truncated file)") }
        return out
    }

    /// gzip-compresses (for test fixtures and round trips).
    public static func compress(_ data: Data) -> Data {
        var stream = z_stream()
        deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            var status: Int32
            repeat {
                status = buffer.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress; stream.avail_out = uInt(buf.count)
                    let s = deflate(&stream, Z_FINISH)
                    out.append(buf.baseAddress!, count: buf.count - Int(stream.avail_out))
                    return s
                }
            } while status == Z_OK
        }
        return out
    }
}
