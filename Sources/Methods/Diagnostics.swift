// Per-block diagnostics shared by the rules with class prototypes (bll, bll-code), in evaluation mode:
// representation collapse — the mean pairwise cosine between test samples' block representations (→ 1 as
// every sample maps to the same point) — and the nearest-prototype read-out accuracy, argmax_c r_i·N(p_c).

import Engine

/// r [R, d]: rows already normalised (centred, unit length); prototypes [classes, d], one row per class.
/// Returns ("b<block>.cosine", mean pairwise cosine over the first 256 labelled rows) and
/// ("b<block>.proto_acc", read-out accuracy over the labelled rows).
func prototypeDiagnostics(_ r: Tensor, prototypes: Tensor, labels: [Int32], block: Int) -> [(String, Double)] {
    let d = r.shape[1], classes = prototypes.shape[0]
    precondition(prototypes.shape[1] == d, "prototypes \(describe(prototypes.shape)) vs representation \(describe(r.shape))")
    let valid = (0..<r.shape[0]).filter { labels[$0] >= 0 }
    var cos = 0.0, pairs = 0
    let sample = Array(valid.prefix(256))
    for (ii, i) in sample.enumerated() { for j in sample[(ii + 1)...] {
        var dot: Float = 0; for t in 0..<d { dot += r[i * d + t] * r[j * d + t] }
        cos += Double(dot); pairs += 1
    } }
    let pn = RowNormalize().forward(prototypes)
    var correct = 0
    for i in valid {
        var best = 0, bestScore = -Float.infinity
        for c in 0..<classes {
            var s: Float = 0; for t in 0..<d { s += r[i * d + t] * pn[c * d + t] }
            if s > bestScore { bestScore = s; best = c }
        }
        if best == Int(labels[i]) { correct += 1 }
    }
    return [("b\(block).cosine", pairs > 0 ? cos / Double(pairs) : 0),
            ("b\(block).proto_acc", Double(correct) / Double(max(1, valid.count)))]
}
