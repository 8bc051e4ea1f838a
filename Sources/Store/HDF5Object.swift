// HDF5Object: a group (or the root) or a dataset inside an HDF5File, with its attributes.

import CHDF5

public final class HDF5Object {
    public let file: HDF5File
    public let name: String
    let ownId: hid_t?
    var id: hid_t { ownId ?? file.id }

    init(file: HDF5File, id: hid_t?, name: String) { self.file = file; self.ownId = id; self.name = name }
    deinit {
        guard let ownId else { return }
        if H5Iget_type(ownId) == H5I_DATASET { H5Dclose(ownId) } else { H5Gclose(ownId) }
    }

    func error(_ op: String, _ object: String? = nil, hint: String = "") -> HDF5Error {
        HDF5Error(path: file.path, object: object ?? name, operation: op, hint: hint)
    }
    func child(_ n: String) -> String { name == "/" ? "/" + n : name + "/" + n }
    /// An identifier HDF5 returned (a type, space or property list), or the error naming `op`.
    func made(_ id: hid_t, _ op: String) throws -> hid_t { guard id >= 0 else { throw error(op) }; return id }
    /// A status HDF5 returned, or the error naming `op`.
    func ok(_ status: herr_t, _ op: String) throws { guard status >= 0 else { throw error(op) } }

    public func exists(_ path: String) -> Bool {
        // check each component, as H5Lexists requires the parents to exist
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if H5Lexists(id, prefix, bl_h5p_default()) <= 0 { return false }
        }
        return true
    }

    /// Creates a group (and any missing parents).
    @discardableResult
    public func createGroup(_ path: String) throws -> HDF5Object {
        let lcpl = try made(H5Pcreate(bl_h5p_link_create()), "create a link property list"); defer { H5Pclose(lcpl) }
        try ok(H5Pset_create_intermediate_group(lcpl, 1), "set intermediate group creation")
        let g = H5Gcreate2(id, path, lcpl, bl_h5p_default(), bl_h5p_default())
        guard g >= 0 else { throw error("create group", child(path), hint: "it may exist already") }
        return HDF5Object(file: file, id: g, name: child(path))
    }

    public func group(_ path: String) throws -> HDF5Object {
        guard exists(path) else { throw error("find group", child(path), hint: "the file lacks it; it may be from another tool or version") }
        let g = H5Gopen2(id, path, bl_h5p_default())
        guard g >= 0 else { throw error("open group", child(path)) }
        return HDF5Object(file: file, id: g, name: child(path))
    }

    /// Names of the links (groups and datasets) directly in this group, sorted.
    public func members() throws -> [String] {
        var names: [String] = []
        var idx: hsize_t = 0
        let status = withUnsafeMutablePointer(to: &names) { ptr in
            H5Literate(id, H5_INDEX_NAME, H5_ITER_INC, &idx, { _, name, _, data in
                data!.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name!))
                return 0
            }, ptr)
        }
        try ok(status, "list the members of")
        return names
    }

    // MARK: datasets

    /// Writes a dataset of `shape` from `count` elements at `values`; chunked along the first
    /// dimension and gzip-compressed when `gzip` is a level 1–9.
    public func write<T: HDF5Element>(_ path: String, _ values: UnsafeBufferPointer<T>, shape: [Int],
                                      chunkRows: Int? = nil, gzip: Int? = nil) throws {
        precondition(shape.reduce(1, *) == values.count, "HDF5 write: \(values.count) values for shape \(shape)")
        var dims = shape.map { hsize_t($0) }
        let space = try made(H5Screate_simple(Int32(dims.count), &dims, nil), "create the dataspace of \(child(path))"); defer { H5Sclose(space) }
        let dcpl = try made(H5Pcreate(bl_h5p_dataset_create()), "create a dataset property list"); defer { H5Pclose(dcpl) }
        if let chunkRows, !shape.isEmpty, shape[0] > 0 {
            var chunk = dims; chunk[0] = hsize_t(max(1, min(chunkRows, shape[0])))
            guard H5Pset_chunk(dcpl, Int32(chunk.count), &chunk) >= 0 else { throw error("set chunking of", child(path)) }
            if let gzip { guard H5Pset_deflate(dcpl, UInt32(gzip)) >= 0 else { throw error("set compression of", child(path)) } }
        }
        let lcpl = try made(H5Pcreate(bl_h5p_link_create()), "create a link property list"); defer { H5Pclose(lcpl) }
        try ok(H5Pset_create_intermediate_group(lcpl, 1), "set intermediate group creation")
        let d = H5Dcreate2(id, path, T.hdf5Type, space, lcpl, dcpl, bl_h5p_default())
        guard d >= 0 else { throw error("create dataset", child(path), hint: "it may exist already") }
        defer { H5Dclose(d) }
        if values.count > 0 {
            guard H5Dwrite(d, T.hdf5Type, bl_h5s_all(), bl_h5s_all(), bl_h5p_default(), values.baseAddress) >= 0 else {
                throw error("write dataset", child(path), hint: "the disk may be full")
            }
        }
    }

    public func write<T: HDF5Element>(_ path: String, _ values: [T], shape: [Int]? = nil, chunkRows: Int? = nil, gzip: Int? = nil) throws {
        try values.withUnsafeBufferPointer { try write(path, $0, shape: shape ?? [values.count], chunkRows: chunkRows, gzip: gzip) }
    }

    /// Opens a dataset and reads its shape; with `element`, checks that it holds that kind of value.
    private func openDataset(_ path: String, element: (any HDF5Element.Type)?) throws -> (hid_t, [Int]) {
        guard exists(path) else { throw error("find dataset", child(path), hint: "the file lacks it") }
        let d = H5Dopen2(id, path, bl_h5p_default())
        guard d >= 0 else { throw error("open dataset", child(path)) }
        let space = H5Dget_space(d); defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        guard rank >= 0, H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else { H5Dclose(d); throw error("read the shape of", child(path)) }
        if let element {
            let ftype = H5Dget_type(d); defer { H5Tclose(ftype) }
            guard H5Tget_class(ftype) == H5Tget_class(element.hdf5Type) else {
                H5Dclose(d)
                throw error("read dataset as \(element.typeName)", child(path), hint: "it holds another element type")
            }
        }
        return (d, rank == 0 ? [] : dims.prefix(rank).map { Int($0) })
    }

    /// The shape of a dataset.
    public func shape(_ path: String) throws -> [Int] {
        let (d, shape) = try openDataset(path, element: nil)
        H5Dclose(d); return shape
    }

    /// Reads a whole dataset: its values and shape.
    public func read<T: HDF5Element>(_ path: String, as: T.Type = T.self) throws -> (values: [T], shape: [Int]) {
        let (d, shape) = try openDataset(path, element: T.self); defer { H5Dclose(d) }
        // the element count of a crafted shape can overflow or exceed memory: checked before allocating
        var n = 1
        for s in shape {
            let (m, overflow) = n.multipliedReportingOverflow(by: s)
            guard !overflow, s >= 0, m <= 1 << 34 else { throw error("read dataset", child(path), hint: "its shape \(shape) is not one blocklocal writes") }
            n = m
        }
        var ok = true
        let out = [T](unsafeUninitializedCapacity: n) { buf, count in
            count = n
            if n > 0 { ok = H5Dread(d, T.hdf5Type, bl_h5s_all(), bl_h5s_all(), bl_h5p_default(), buf.baseAddress) >= 0 }
        }
        // a failed read (a damaged chunk, a bad checksum) is an error, never values to train on
        guard ok else { throw error("read dataset", child(path), hint: "its stored bytes are damaged; delete the file and fetch or write it again") }
        return (out, shape)
    }

    /// Reads rows `start ..< start + count` along the first dimension.
    public func readRows<T: HDF5Element>(_ path: String, start: Int, count: Int, as: T.Type = T.self) throws -> (values: [T], shape: [Int]) {
        let (d, shape) = try openDataset(path, element: T.self); defer { H5Dclose(d) }
        guard !shape.isEmpty, start >= 0, count >= 0, start + count <= shape[0] else {
            throw error("read rows \(start)..<\(start + count)", child(path), hint: "the dataset has shape \(shape)")
        }
        var offset = [hsize_t](repeating: 0, count: shape.count), sel = shape.map { hsize_t($0) }
        offset[0] = hsize_t(start); sel[0] = hsize_t(count)
        let fspace = H5Dget_space(d); defer { H5Sclose(fspace) }
        guard H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &offset, nil, &sel, nil) >= 0 else { throw error("select rows of", child(path)) }
        let mspace = try made(H5Screate_simple(Int32(sel.count), &sel, nil), "create a memory dataspace"); defer { H5Sclose(mspace) }
        let n = sel.reduce(1) { $0 * Int($1) }
        var ok = true
        let out = [T](unsafeUninitializedCapacity: n) { buf, c in
            c = n
            if n > 0 { ok = H5Dread(d, T.hdf5Type, mspace, fspace, bl_h5p_default(), buf.baseAddress) >= 0 }
        }
        guard ok else { throw error("read rows", child(path)) }
        var outShape = shape; outShape[0] = count
        return (out, outShape)
    }

    // MARK: attributes

    private func writeAttribute(_ attr: String, type: hid_t, space: hid_t, _ body: (hid_t) -> herr_t) throws {
        if H5Aexists(id, attr) > 0 { try ok(H5Adelete(id, attr), "replace attribute \(attr)") }
        let a = H5Acreate2(id, attr, type, space, bl_h5p_default(), bl_h5p_default())
        guard a >= 0 else { throw error("create attribute \(attr)") }
        defer { H5Aclose(a) }
        guard body(a) >= 0 else { throw error("write attribute \(attr)") }
    }

    /// A UTF-8 variable-length string attribute (h5py reads it as `str`).
    public func setAttribute(_ attr: String, _ value: String) throws {
        let t = try made(H5Tcopy(bl_h5t_c_s1()), "create a string type"); defer { H5Tclose(t) }
        try ok(H5Tset_size(t, bl_h5t_variable()), "size a string type"); try ok(H5Tset_cset(t, H5T_CSET_UTF8), "set UTF-8 on a string type")
        let space = try made(H5Screate(H5S_SCALAR), "create a scalar dataspace"); defer { H5Sclose(space) }
        try value.withCString { cstr in
            var ptr: UnsafePointer<CChar>? = cstr
            try writeAttribute(attr, type: t, space: space) { a in H5Awrite(a, t, &ptr) }
        }
    }

    public func setAttribute(_ attr: String, _ value: Int) throws { try setAttribute(attr, [Int64(value)]) }
    public func setAttribute(_ attr: String, _ value: Double) throws { try setAttribute(attr, [value]) }

    /// A numeric attribute: a scalar for one value, a 1-D array otherwise.
    public func setAttribute<T: HDF5Element>(_ attr: String, _ values: [T]) throws {
        var dims = [hsize_t(values.count)]
        let space = try made(values.count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil), "create the dataspace of attribute \(attr)")
        defer { H5Sclose(space) }
        try writeAttribute(attr, type: T.hdf5Type, space: space) { a in values.withUnsafeBufferPointer { H5Awrite(a, T.hdf5Type, $0.baseAddress) } }
    }

    public func hasAttribute(_ attr: String) -> Bool { H5Aexists(id, attr) > 0 }

    /// The names of this object's attributes, in name order.
    public func attributeNames() throws -> [String] {
        final class Names { var list: [String] = [] }
        let names = Names()
        var idx: hsize_t = 0
        let status = withExtendedLifetime(names) {
            H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, &idx, { _, name, _, data in
                guard let name, let data else { return -1 }
                Unmanaged<Names>.fromOpaque(data).takeUnretainedValue().list.append(String(cString: name))
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
        }
        guard status >= 0 else { throw error("list attributes") }
        return names.list
    }

    public func stringAttribute(_ attr: String) throws -> String {
        guard hasAttribute(attr) else { throw error("find attribute \(attr)", hint: "the file lacks it") }
        let a = H5Aopen(id, attr, bl_h5p_default()); defer { H5Aclose(a) }
        let t = H5Aget_type(a); defer { H5Tclose(t) }
        guard H5Tget_class(t) == H5T_STRING else { throw error("read attribute \(attr) as text", hint: "it is not a string") }
        if H5Tis_variable_str(t) > 0 {
            var ptr: UnsafeMutablePointer<CChar>? = nil
            guard H5Aread(a, t, &ptr) >= 0, let p = ptr else { throw error("read attribute \(attr)") }
            defer { H5free_memory(p) }
            return String(cString: p)
        }
        let size = H5Tget_size(t)
        var buf = [UInt8](repeating: 0, count: size + 1)
        guard H5Aread(a, t, &buf) >= 0 else { throw error("read attribute \(attr)") }
        return String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
    }

    public func numericAttribute<T: HDF5Element>(_ attr: String, as: T.Type = T.self) throws -> [T] {
        guard hasAttribute(attr) else { throw error("find attribute \(attr)", hint: "the file lacks it") }
        let a = H5Aopen(id, attr, bl_h5p_default()); defer { H5Aclose(a) }
        let space = H5Aget_space(a); defer { H5Sclose(space) }
        let n = Int(H5Sget_simple_extent_npoints(space))
        var ok = false
        let out = [T](unsafeUninitializedCapacity: n) { buf, c in
            c = n; ok = H5Aread(a, T.hdf5Type, buf.baseAddress) >= 0
        }
        guard ok else { throw error("read attribute \(attr) as \(T.typeName)") }
        return out
    }

    public func intAttribute(_ attr: String) throws -> Int { Int(try numericAttribute(attr, as: Int64.self).first ?? 0) }
    public func doubleAttribute(_ attr: String) throws -> Double { try numericAttribute(attr, as: Double.self).first ?? .nan }

    /// A dataset as an object, to read or set its attributes.
    public func dataset(_ path: String) throws -> HDF5Object {
        guard exists(path) else { throw error("find dataset", child(path), hint: "the file lacks it") }
        let d = H5Dopen2(id, path, bl_h5p_default())
        guard d >= 0 else { throw error("open dataset", child(path)) }
        return HDF5Object(file: file, id: d, name: child(path))
    }

    // MARK: typed attributes

    /// A bool attribute: HDF5's enum {FALSE = 0, TRUE = 1} over int8, which h5py reads as numpy.bool_.
    public func setAttribute(_ attr: String, _ value: Bool) throws {
        let t = try made(H5Tenum_create(bl_h5t_native_int8()), "create the bool type"); defer { H5Tclose(t) }
        var f: Int8 = 0, tr: Int8 = 1
        try ok(H5Tenum_insert(t, "FALSE", &f), "define the bool type"); try ok(H5Tenum_insert(t, "TRUE", &tr), "define the bool type")
        let space = try made(H5Screate(H5S_SCALAR), "create a scalar dataspace"); defer { H5Sclose(space) }
        var v: Int8 = value ? 1 : 0
        try writeAttribute(attr, type: t, space: space) { a in H5Awrite(a, t, &v) }
    }

    /// A 1-D numeric attribute of any length, empty included (h5py reads an array, never a scalar).
    public func setArrayAttribute<T: HDF5Element>(_ attr: String, _ values: [T]) throws {
        var dims = [hsize_t(values.count)]
        let space = try made(H5Screate_simple(1, &dims, nil), "create the dataspace of attribute \(attr)"); defer { H5Sclose(space) }
        try writeAttribute(attr, type: T.hdf5Type, space: space) { a in
            values.isEmpty ? 0 : values.withUnsafeBufferPointer { H5Awrite(a, T.hdf5Type, $0.baseAddress) }
        }
    }

    public func setAttribute(_ attr: String, _ value: AttributeValue) throws {
        switch value {
        case .int(let v): try setAttribute(attr, [v])
        case .double(let v): try setAttribute(attr, [v])
        case .bool(let v): try setAttribute(attr, v)
        case .text(let v): try setAttribute(attr, v)
        case .ints(let v): try setArrayAttribute(attr, v)
        case .doubles(let v): try setArrayAttribute(attr, v)
        }
    }

    /// Any attribute this module writes, read back with its type: strings, integers, floats, bools
    /// (the enum above), scalars or 1-D arrays.
    public func attribute(_ attr: String) throws -> AttributeValue {
        guard hasAttribute(attr) else { throw error("find attribute \(attr)", hint: "the file lacks it") }
        let a = try made(H5Aopen(id, attr, bl_h5p_default()), "open attribute \(attr)"); defer { H5Aclose(a) }
        let t = try made(H5Aget_type(a), "read the type of attribute \(attr)"); defer { H5Tclose(t) }
        let space = try made(H5Aget_space(a), "read the shape of attribute \(attr)"); defer { H5Sclose(space) }
        let scalar = H5Sget_simple_extent_ndims(space) == 0
        switch H5Tget_class(t) {
        case H5T_STRING: return .text(try stringAttribute(attr))
        case H5T_INTEGER:
            let v = try numericAttribute(attr, as: Int64.self)
            return scalar && v.count == 1 ? .int(v[0]) : .ints(v)
        case H5T_FLOAT:
            let v = try numericAttribute(attr, as: Double.self)
            return scalar && v.count == 1 ? .double(v[0]) : .doubles(v)
        case H5T_ENUM:
            var v: Int8 = 0
            let native = try made(H5Tenum_create(bl_h5t_native_int8()), "create the bool type"); defer { H5Tclose(native) }
            var f: Int8 = 0, tr: Int8 = 1
            try ok(H5Tenum_insert(native, "FALSE", &f), "define the bool type"); try ok(H5Tenum_insert(native, "TRUE", &tr), "define the bool type")
            guard scalar, H5Aread(a, native, &v) >= 0 else { throw error("read attribute \(attr) as a bool", hint: "it is an enum other than FALSE/TRUE") }
            return .bool(v != 0)
        default: throw error("read attribute \(attr)", hint: "its type is not one blocklocal writes")
        }
    }
}

/// An attribute's value with its type, as stored.
public enum AttributeValue: Equatable, Sendable, CustomStringConvertible {
    case int(Int64), double(Double), bool(Bool), text(String), ints([Int64]), doubles([Double])

    /// How a person reads it: "128", "0.001", "true", "[100, 150]".
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return v.isFinite && v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
        case .bool(let v): return v ? "true" : "false"
        case .text(let v): return v
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ", ") + "]"
        case .doubles(let v): return "[" + v.map { AttributeValue.double($0).description }.joined(separator: ", ") + "]"
        }
    }
}
