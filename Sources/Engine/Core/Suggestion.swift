// "Did you mean": the allowed name closest to a mistyped one, by edit distance (Levenshtein, case
// folded), when it is close enough to be a typo: at most 1 edit for names up to 4 letters, 2 up to 8,
// 3 beyond; a unique prefix ("pred" → "predsim") counts too.

public enum Suggestion {
    public static func closest(_ word: String, in candidates: [String]) -> String? {
        let w = Array(word.lowercased())
        guard !w.isEmpty else { return nil }
        let prefixed = candidates.filter { $0.lowercased().hasPrefix(word.lowercased()) }
        if prefixed.count == 1 { return prefixed[0] }
        let limit = w.count <= 4 ? 1 : w.count <= 8 ? 2 : 3
        var best: (String, Int)? = nil
        for c in candidates {
            let d = distance(w, Array(c.lowercased()))
            if d <= limit, d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        return best?.0
    }

    /// " (did you mean 'x'?)" or "".
    public static func phrase(_ word: String, in candidates: [String]) -> String {
        closest(word, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
