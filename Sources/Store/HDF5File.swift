// HDF5File: create or open a file; groups, datasets (UInt8, Int32, Int64, Float32, Float64) with
// shapes, optional chunking and gzip, whole or row-slice reads; string and numeric attributes.
// The only Swift code that calls libhdf5 (with HDF5Object.swift). Files it writes are plain HDF5:
// h5dump and h5py read them. libhdf5's own error printing is silenced; failures throw HDF5Error.

import CHDF5
#if canImport(Glibc)
import Glibc
#endif

/// open(2) read-only (named apart from HDF5File.open).
private func posixOpenReadOnly(_ path: String) -> Int32 { Glibc.open(path, O_RDONLY) }

/// Element types the store reads and writes, with their native HDF5 type.
public protocol HDF5Element { static var hdf5Type: hid_t { get }; static var typeName: String { get } }
extension UInt8: HDF5Element { public static var hdf5Type: hid_t { bl_h5t_native_uint8() }; public static var typeName: String { "uint8" } }
extension Int32: HDF5Element { public static var hdf5Type: hid_t { bl_h5t_native_int32() }; public static var typeName: String { "int32" } }
extension Int64: HDF5Element { public static var hdf5Type: hid_t { bl_h5t_native_int64() }; public static var typeName: String { "int64" } }
extension Float: HDF5Element { public static var hdf5Type: hid_t { bl_h5t_native_float() }; public static var typeName: String { "float32" } }
extension Double: HDF5Element { public static var hdf5Type: hid_t { bl_h5t_native_double() }; public static var typeName: String { "float64" } }

public final class HDF5File {
    public enum Mode { case readOnly, readWrite }
    public let path: String
    let id: hid_t

    private init(path: String, id: hid_t) { self.path = path; self.id = id }
    deinit { H5Fclose(id) }

    /// Creates (or truncates) a file.
    public static func create(_ path: String) throws -> HDF5File {
        HDF5Library.setUp()
        let id = H5Fcreate(path, bl_h5f_acc_trunc(), bl_h5p_default(), bl_h5p_default())
        guard id >= 0 else { throw HDF5Error(path: path, object: "/", operation: "create file", hint: "check that the directory exists and is writable and the disk is not full") }
        return HDF5File(path: path, id: id)
    }

    /// Opens a file. Read-only opens do not take HDF5's file lock, so a file another program holds open
    /// (h5py in append mode, HDFView) is still read: blocklocal's writers never modify a finished file in
    /// place (they write a temporary and rename it), so there is nothing to lock against.
    public static func open(_ path: String, mode: Mode = .readOnly) throws -> HDF5File {
        HDF5Library.setUp()
        guard access(path, F_OK) == 0 else {
            throw HDF5Error(path: path, object: "/", operation: "open file", hint: "it is missing")
        }
        let fapl = H5Pcreate(bl_h5p_file_access()); defer { H5Pclose(fapl) }
        guard fapl >= 0, mode == .readWrite || H5Pset_file_locking(fapl, false, true) >= 0 else {
            throw HDF5Error(path: path, object: "/", operation: "set up the file access list", hint: "the HDF5 library refused; check libhdf5")
        }
        let id = H5Fopen(path, mode == .readOnly ? bl_h5f_acc_rdonly() : bl_h5f_acc_rdwr(), fapl)
        guard id >= 0 else {
            let hint: String
            switch condition(path) {
            case .damaged(let why): hint = "it is damaged: \(why)"
            case .unreadable(let why): hint = "it cannot be read: \(why)"
            case .readable: hint = "it may be locked by another process"
            }
            throw HDF5Error(path: path, object: "/", operation: "open file", hint: hint)
        }
        return HDF5File(path: path, id: id)
    }

    /// What can be proven about a file: `damaged` only when its bytes can be read and are not an HDF5 file
    /// HDF5 can open (no signature, or truncated or corrupt structure); `unreadable` when the system
    /// refuses to read it (permissions, I/O error), which says nothing about its contents.
    public enum Condition: Equatable { case readable, damaged(String), unreadable(String) }

    public static func condition(_ path: String) -> Condition {
        HDF5Library.setUp()
        let fd = posixOpenReadOnly(path)
        guard fd >= 0 else { return .unreadable(String(cString: strerror(errno))) }
        var head = [UInt8](repeating: 0, count: 8)
        let n = read(fd, &head, 8)
        let readErrno = errno
        close(fd)
        guard n >= 0 else { return .unreadable(String(cString: strerror(readErrno))) }
        guard n == 8, head == [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] else { return .damaged("no HDF5 signature at its start") }
        let fapl = H5Pcreate(bl_h5p_file_access()); defer { H5Pclose(fapl) }
        guard fapl >= 0, H5Pset_file_locking(fapl, false, true) >= 0 else { return .unreadable("the HDF5 library refused a file access list") }
        let id = H5Fopen(path, bl_h5f_acc_rdonly(), fapl)
        guard id >= 0 else { return .damaged("HDF5 cannot open it (truncated or corrupt)") }
        H5Fclose(id)
        return .readable
    }

    /// Writes everything to disk now.
    public func flush() throws {
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw HDF5Error(path: path, object: "/", operation: "flush", hint: "the disk may be full") }
    }

    /// The root group.
    public var root: HDF5Object { HDF5Object(file: self, id: nil, name: "/") }
}
