// Errors from libhdf5 as Swift errors: which file, which object, what failed, what to do next.

public struct HDF5Error: Error, CustomStringConvertible {
    public let path: String
    public let object: String
    public let operation: String
    public let hint: String

    public var description: String {
        "HDF5: cannot \(operation) '\(object)' in \(path)" + (hint.isEmpty ? "" : "; \(hint)")
    }
}
