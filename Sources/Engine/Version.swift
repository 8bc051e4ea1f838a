// The engine's version and the CPU the
// engine's own loops were compiled for (the Makefile's TARGET_CPU; recorded in every run's provenance).
extension Engine {
    public static let version = "0.5.0"
#if BLOCKLOCAL_TARGET_AVX512
    public static let buildTarget = "skylake-avx512 (AVX-512, FMA)"
#elseif BLOCKLOCAL_TARGET_HASWELL
    public static let buildTarget = "haswell (AVX2, FMA)"
#elseif BLOCKLOCAL_TARGET_CUSTOM
    public static let buildTarget = "custom (make TARGET_CPU)"
#else
    public static let buildTarget = "generic"
#endif
}
