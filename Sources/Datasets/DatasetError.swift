// Errors a user can meet while fetching, verifying, converting or loading data: each is one line
// that names the dataset, file or source and says what to do next.

import Engine

public enum DatasetError: Error, CustomStringConvertible {
    case unknownDataset(String, known: [String])
    case checksumMismatch(dataset: String, file: String, source: String, algorithm: String, expected: String, actual: String)
    case sizeMismatch(dataset: String, file: String, source: String, expected: Int, actual: Int)
    case notFound(dataset: String, file: String, tried: [String])
    case badFormat(file: String, reason: String)
    case unsafeArchivePath(archive: String, member: String)
    case newerCache(path: String, version: Int, supported: Int)
    case notCached(dataset: String)
    case io(path: String, reason: String)
    case badAugmentation(String, allowed: String)

    public var description: String {
        switch self {
        case let .unknownDataset(name, known):
            return "unknown dataset '\(name)'; known: \(known.joined(separator: ", "))\(Suggestion.phrase(name, in: known))"
        case let .checksumMismatch(d, f, src, algo, exp, act):
            return "\(d): \(f) from \(src) has \(algo) \(act), expected \(exp); the file is damaged or another version: delete it or fetch it again (`blocklocal data fetch \(d)`)"
        case let .sizeMismatch(d, f, src, exp, act):
            return "\(d): \(f) from \(src) is \(act) bytes, expected \(exp) (truncated download?); run `blocklocal data fetch \(d)` again"
        case let .notFound(d, f, tried):
            return "\(d): could not get \(f) (tried: \(tried.joined(separator: "; "))); put \(f) in a directory and run `blocklocal data fetch \(d) --mirror DIR`"
        case let .badFormat(f, reason):
            return "\(f) is not in the expected format: \(reason)"
        case let .unsafeArchivePath(a, m):
            return "refusing archive member '\(m)' of \(a): absolute paths and '..' are not allowed"
        case let .newerCache(p, v, s):
            return "\(p) has cache format \(v), this blocklocal reads up to \(s); upgrade blocklocal or delete the file and fetch again"
        case let .notCached(d):
            return "dataset \(d) is not cached; run `blocklocal data fetch \(d)` first"
        case let .io(p, reason):
            return "cannot write \(p): \(reason); check free disk space and permissions"
        case let .badAugmentation(text, allowed):
            return "bad augmentation '\(text)'; allowed: \(allowed)"
        }
    }
}
