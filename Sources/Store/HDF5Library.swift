// The one module that imports libhdf5 (CHDF5). This file: library-wide set-up and version.

import CHDF5

public enum HDF5Library {
    /// libhdf5's version, "1.10.8".
    public static var version: String {
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0
        H5get_libversion(&a, &b, &c)
        return "\(a).\(b).\(c)"
    }
    /// Turns off libhdf5's own printing of error stacks; errors become Swift errors instead.
    public static func silenceErrors() { bl_h5_silence_errors() }

    /// Called before every file operation; the first call sets the library up once.
    static func setUp() { _ = once }

    /// libhdf5's exit handler closes every file still open, and a file whose flush failed (disk full) makes
    /// it crash after the right error message was printed (exit 139). blocklocal's writers close their
    /// files themselves and rename a temporary only after a successful flush, so the handler is turned off
    /// (before the library starts, as H5dont_atexit requires); a failed temporary is removed unflushed.
    private static let once: Void = {
        H5dont_atexit()
        silenceErrors()
    }()
}
