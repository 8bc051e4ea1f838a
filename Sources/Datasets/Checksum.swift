// Checksums of fetched files: sha256 (what the registry prefers) and md5 (where a dataset
// publishes only that), as lowercase hex. Files are hashed in 1 MiB chunks.

import Crypto
import Foundation

public enum Checksum: String, Sendable {
    case sha256, md5

    public func hex(_ data: Data) -> String {
        switch self {
        case .sha256: return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        case .md5: return Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined()
        }
    }

    public func hex(file path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw DatasetError.io(path: path, reason: "cannot read it") }
        defer { try? h.close() }
        var sha = SHA256(), md5 = Insecure.MD5()
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty {
            if self == .sha256 { sha.update(data: chunk) } else { md5.update(data: chunk) }
        }
        let digest: [UInt8] = self == .sha256 ? Array(sha.finalize()) : Array(md5.finalize())
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
