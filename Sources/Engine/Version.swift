// The engine's version and the run-file format version (a change invalidates run ids).
extension Engine {
    public static let version = "0.1.0"
    public static let formatVersion = 1
}
