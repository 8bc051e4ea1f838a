extension String {
    /// Left-aligned in a column of `width` characters.
    func padded(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
    /// At most `n` characters, "…" marking a cut.
    func truncatedTo(_ n: Int) -> String { count <= n ? self : String(prefix(n - 1)) + "…" }
    /// Right-aligned in a column of `width` characters.
    func leftPadded(_ width: Int) -> String { count >= width ? " " + self : String(repeating: " ", count: width - count) + self }
}
