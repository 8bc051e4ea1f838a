// Archive readers: ustar/GNU tar (the CIFAR-10 binary tarball). Member names are checked before
// anything is used: absolute paths and '..' components are refused.

import Foundation

public enum Archive {
    /// Throws unless `member` is a relative path without '..' components.
    public static func checkSafe(_ member: String, archive: String) throws {
        let parts = member.split(separator: "/", omittingEmptySubsequences: false)
        if member.hasPrefix("/") || member.hasPrefix("\\") || parts.contains("..") || member.contains("\\..") {
            throw DatasetError.unsafeArchivePath(archive: archive, member: member)
        }
    }

    /// The regular files of a tar archive: name → contents (a later duplicate replaces an earlier one).
    public static func untar(_ data: Data, name archive: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let bytes = [UInt8](data)
        var offset = 0
        var longName: String? = nil
        func field(_ start: Int, _ len: Int) -> String {
            let slice = bytes[(offset + start)..<(offset + start + len)]
            return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
        }
        while offset + 512 <= bytes.count {
            if bytes[offset..<(offset + 512)].allSatisfy({ $0 == 0 }) { break }   // end-of-archive block
            var name = field(0, 100)
            let prefix = field(345, 155)
            if field(257, 5) == "ustar", !prefix.isEmpty { name = prefix + "/" + name }
            if let ln = longName { name = ln; longName = nil }
            let sizeText = field(124, 12).trimmingCharacters(in: .whitespaces)
            guard let size = Int(sizeText, radix: 8), size >= 0, size <= bytes.count else { throw DatasetError.badFormat(file: archive, reason: "tar header at byte \(offset) has no valid size") }
            let type = bytes[offset + 156]
            let start = offset + 512
            guard start + size <= bytes.count else { throw DatasetError.badFormat(file: archive, reason: "tar member \(name) is truncated") }
            let body = Data(bytes[start..<(start + size)])
            switch type {
            case UInt8(ascii: "L"):   // GNU long name for the next member
                longName = String(decoding: body.prefix { $0 != 0 }, as: UTF8.self)
            case 0, UInt8(ascii: "0"):
                try checkSafe(name, archive: archive)
                files[name] = body
            default:
                try checkSafe(name, archive: archive)  // directories, links: checked, not extracted
            }
            offset = start + (size + 511) / 512 * 512
        }
        return files
    }

    /// Writes a ustar archive (for test fixtures).
    public static func tar(_ files: [(String, Data)]) -> Data {
        var out = Data()
        for (name, body) in files {
            var h = [UInt8](repeating: 0, count: 512)
            func put(_ s: String, _ at: Int) { for (i, b) in s.utf8.enumerated() { h[at + i] = b } }
            put(name, 0); put("0000644", 100); put("0000000", 108); put("0000000", 116)
            put(String(format: "%011o", body.count), 124); put("00000000000", 136)
            h[156] = UInt8(ascii: "0"); put("ustar", 257); put("00", 263)
            for i in 148..<156 { h[i] = UInt8(ascii: " ") }
            let sum = h.reduce(0) { $0 + Int($1) }
            put(String(format: "%06o", sum), 148); h[154] = 0
            out.append(contentsOf: h); out.append(body)
            out.append(contentsOf: [UInt8](repeating: 0, count: (512 - body.count % 512) % 512))
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: 1024))
        return out
    }
}
