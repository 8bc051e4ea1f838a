extension String {
    /// Left-aligned in a column of `width` characters.
    func padded(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
    /// Right-aligned in a column of `width` characters.
    func leftPadded(_ width: Int) -> String { count >= width ? " " + self : String(repeating: " ", count: width - count) + self }
}
