// CPU facts the engine records and acts on.
// OpenBLAS picks its kernels at load time from the CPU id. Builds that predate a CPU (Debian's
// 0.3.21 and AMD Zen 4/5) fall back to AVX2 "Haswell" kernels although the CPU runs AVX-512;
// OPENBLAS_CORETYPE=SkylakeX selects the AVX-512 kernels (measured ~1.9x on a 1024³ sgemm here).
// OpenBLAS reads the variable only when it loads, so the CLI re-executes itself once with it set.

import Foundation

public enum CPU {
    /// The kernel's "model name" for the first CPU, or "unknown".
    public static var modelName: String { cpuinfoField("model name") ?? "unknown" }

    /// The feature flags of the first CPU.
    public static var flags: Set<String> { Set((cpuinfoField("flags") ?? "").split(separator: " ").map(String.init)) }

    static func cpuinfoField(_ name: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// The OpenBLAS core type to ask for, when the one it picked leaves AVX-512 unused; nil otherwise
    /// or when the user already chose one with OPENBLAS_CORETYPE.
    public static func betterBLASCore(current: String, environment: [String: String]) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        let avx2Only = ["Haswell", "Zen", "Sandybridge", "Prescott", "Nehalem", "Core2"]
        guard avx2Only.contains(current) else { return nil }
        let f = flags
        return f.contains("avx512f") && f.contains("avx512bw") && f.contains("avx512vl") && f.contains("avx512dq") ? "SkylakeX" : nil
    }
}
