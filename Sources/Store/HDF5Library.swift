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

    /// Called before the first file operation.
    static func setUp() { silenceErrors() }
}
