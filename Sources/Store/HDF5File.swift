// HDF5File: create or open a file; groups, datasets (UInt8, Int32, Int64, Float32, Float64) with
// shapes, optional chunking and gzip, whole or row-slice reads; string and numeric attributes.
// The only Swift code that calls libhdf5 (with HDF5Object.swift). Files it writes are plain HDF5:
// h5dump and h5py read them. libhdf5's own error printing is silenced; failures throw HDF5Error.

import CHDF5

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

    public static func open(_ path: String, mode: Mode = .readOnly) throws -> HDF5File {
        HDF5Library.setUp()
        guard H5Fis_hdf5(path) > 0 else {
            throw HDF5Error(path: path, object: "/", operation: "open file", hint: "it is missing or not an HDF5 file")
        }
        let id = H5Fopen(path, mode == .readOnly ? bl_h5f_acc_rdonly() : bl_h5f_acc_rdwr(), bl_h5p_default())
        guard id >= 0 else { throw HDF5Error(path: path, object: "/", operation: "open file", hint: "it may be locked by another process or damaged") }
        return HDF5File(path: path, id: id)
    }

    /// Writes everything to disk now.
    public func flush() throws {
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw HDF5Error(path: path, object: "/", operation: "flush", hint: "the disk may be full") }
    }

    /// The root group.
    public var root: HDF5Object { HDF5Object(file: self, id: nil, name: "/") }
}
