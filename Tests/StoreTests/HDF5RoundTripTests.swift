import XCTest
import Foundation
@testable import Store

final class HDF5RoundTripTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("blocklocal-h5-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testEveryTypeRoundTripsWithShapesSlicesAndAttributes() throws {
        let path = dir.appendingPathComponent("t.h5").path
        do {
            let f = try HDF5File.create(path)
            let g = try f.root.createGroup("train/extra")
            try f.root.write("train/images", (0..<(4 * 2 * 3)).map { UInt8($0 * 7 % 256) }, shape: [4, 2, 3], chunkRows: 2, gzip: 4)
            try f.root.write("train/labels", [Int32(-5), 0, 7, Int32.max], shape: [4])
            try f.root.write("i64", [Int64.min, 0, Int64.max])
            try f.root.write("f32", [Float(1.5), -2.25, .infinity], shape: [3, 1])
            try g.write("f64", [Double.pi, -1e300])
            try f.root.setAttribute("name", "fashion-mnist ✓")
            try f.root.setAttribute("empty", "")
            try f.root.setAttribute("count", 60000)
            try f.root.setAttribute("ratio", 0.25)
            try f.root.setAttribute("means", [0.1, 0.2, 0.3])
            try f.root.dataset("train/labels").setAttribute("unit", "class index")
        }
        let f = try HDF5File.open(path)
        let (img, shape) = try f.root.read("train/images", as: UInt8.self)
        XCTAssertEqual(shape, [4, 2, 3]); XCTAssertEqual(img, (0..<24).map { UInt8($0 * 7 % 256) })
        XCTAssertEqual(try f.root.read("train/labels", as: Int32.self).values, [-5, 0, 7, Int32.max])
        XCTAssertEqual(try f.root.read("i64", as: Int64.self).values, [Int64.min, 0, Int64.max])
        XCTAssertEqual(try f.root.read("f32", as: Float.self).values, [1.5, -2.25, .infinity])
        XCTAssertEqual(try f.root.group("train/extra").read("f64", as: Double.self).values, [Double.pi, -1e300])
        let rows = try f.root.readRows("train/images", start: 1, count: 2, as: UInt8.self)
        XCTAssertEqual(rows.shape, [2, 2, 3]); XCTAssertEqual(rows.values, Array(img[6..<18]))
        XCTAssertEqual(try f.root.stringAttribute("name"), "fashion-mnist ✓")
        XCTAssertEqual(try f.root.stringAttribute("empty"), "")
        XCTAssertEqual(try f.root.intAttribute("count"), 60000)
        XCTAssertEqual(try f.root.doubleAttribute("ratio"), 0.25)
        XCTAssertEqual(try f.root.numericAttribute("means", as: Double.self), [0.1, 0.2, 0.3])
        XCTAssertEqual(try f.root.dataset("train/labels").stringAttribute("unit"), "class index")
        XCTAssertEqual(try f.root.members(), ["f32", "i64", "train"])
        XCTAssertEqual(try f.root.shape("train/images"), [4, 2, 3])
    }

    func testErrorsNameTheFileAndTheObject() throws {
        let path = dir.appendingPathComponent("e.h5").path
        _ = try HDF5File.create(path)
        do {
            let f = try HDF5File.open(path)
            XCTAssertThrowsError(try f.root.read("missing", as: Float.self)) {
                XCTAssert("\($0)".contains("'/missing'") && "\($0)".contains(path), "\($0)")
            }
        }
        let w = try HDF5File.open(path, mode: .readWrite)
        try w.root.write("x", [Float(1)])
        XCTAssertThrowsError(try w.root.read("x", as: Int32.self)) { XCTAssert("\($0)".contains("another element type"), "\($0)") }
        XCTAssertThrowsError(try w.root.readRows("x", start: 0, count: 2, as: Float.self))
        XCTAssertThrowsError(try HDF5File.open(dir.appendingPathComponent("none.h5").path)) {
            XCTAssert("\($0)".contains("it is missing"), "\($0)")
        }
        let junk = dir.appendingPathComponent("junk.h5").path
        FileManager.default.createFile(atPath: junk, contents: Data("not hdf5".utf8))
        XCTAssertThrowsError(try HDF5File.open(junk))
        XCTAssertThrowsError(try HDF5File.create("/nonexistent-dir/x.h5")) { XCTAssert("\($0)".contains("writable"), "\($0)") }
    }

    /// Other HDF5 tools read what the store writes.
    func testH5dumpReadsTheFile() throws {
        let h5dump = ["/usr/bin/h5dump", "/usr/local/bin/h5dump"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let h5dump else { throw XCTSkip("h5dump not installed (Debian: hdf5-tools; `make deps` installs it)") }
        let path = dir.appendingPathComponent("d.h5").path
        do {
            let f = try HDF5File.create(path)
            try f.root.write("train/labels", [Int32(3), 1, 4], shape: [3])
            try f.root.setAttribute("source", "unit test")
        }
        let p = Process(); p.executableURL = URL(fileURLWithPath: h5dump); p.arguments = [path]
        let pipe = Pipe(); p.standardOutput = pipe; try p.run(); p.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssert(out.contains("DATASET \"labels\"") && out.contains("3, 1, 4") && out.contains("\"unit test\""), out)
    }

    /// h5py, as a user would open a cache or run file: types, shapes, compressed chunks and attributes.
    func testH5pyReadsTheFile() throws {
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { throw XCTSkip("python3 not installed") }
        let path = dir.appendingPathComponent("py.h5").path
        do {
            let f = try HDF5File.create(path)
            try f.root.write("train/images", (0..<24).map { UInt8($0 * 10) }, shape: [2, 1, 3, 4], chunkRows: 1, gzip: 4)
            try f.root.write("train/labels", [Int64(7), -2], shape: [2])
            try f.root.write("series/acc", [Float(0.5), 0.75, 0.875], shape: [3])
            try f.root.write("series/loss", [2.5, 1.25], shape: [2])
            try f.root.setAttribute("source", "unit test é")
            try f.root.setAttribute("epochs", 3)
            try f.root.setAttribute("lr", 0.0005)
        }
        let script = """
        import h5py, json, sys
        f = h5py.File(sys.argv[1], "r")
        im = f["train/images"]
        a = f.attrs
        s = a["source"]; s = s.decode() if isinstance(s, bytes) else str(s)
        print(json.dumps({"shape": list(im.shape), "dtype": str(im.dtype), "compression": im.compression,
          "sum": int(im[...].astype("int64").sum()), "last": int(im[1, 0, 2, 3]),
          "labels": [int(v) for v in f["train/labels"][...]], "labels_dtype": str(f["train/labels"].dtype),
          "acc": [float(v) for v in f["series/acc"][...]], "loss": [float(v) for v in f["series/loss"][...]],
          "source": s, "epochs": int(a["epochs"][()] if hasattr(a["epochs"], "shape") else a["epochs"]),
          "lr": float(a["lr"][()] if hasattr(a["lr"], "shape") else a["lr"])}, sort_keys=True))
        """
        let p = Process(); p.executableURL = URL(fileURLWithPath: python); p.arguments = ["-c", script, path]
        let out = Pipe(), err = Pipe(); p.standardOutput = out; p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile(), errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if errText.contains("No module named 'h5py'") { throw XCTSkip("h5py not installed (Debian: python3-h5py; `make deps` installs it)") }
        XCTAssertEqual(p.terminationStatus, 0, errText)
        let got = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(got, #"{"acc": [0.5, 0.75, 0.875], "compression": "gzip", "dtype": "uint8", "epochs": 3, "labels": [7, -2], "labels_dtype": "int64", "last": 230, "loss": [2.5, 1.25], "lr": 0.0005, "shape": [2, 1, 3, 4], "source": "unit test \u00e9", "sum": 2760}"#)
    }
}
