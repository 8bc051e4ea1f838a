// The S2S task of the BLL poster: the input is a random permutation of the digits 0..<vocabulary
// (length L ≤ vocabulary), the target the same sequence reversed. The poster gives neither the architecture
// family nor the layout (docs/methods.md, "S2S"), so both readings are here (`Layout`):
//   decoder  a causal decoder with teacher forcing: tokens [x_1 … x_L, SEP, y_1 … y_{L−1}] (length 2L),
//            targets at positions L … 2L−1 (position L+i sees y_1 … y_i and predicts y_{i+1}); others −1
//   encoder  a bidirectional encoder: tokens [x_1 … x_L] (length L), target y_i = x_{L+1−i} at every position
// Train: fresh permutations every step from the run's stream. Test: a fixed set from its own seed.

import Engine

public struct S2STask: Sendable {
    public enum Layout: String, Codable, CaseIterable, Sendable {
        case decoder, encoder
        public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
        /// Whether the model attends only to earlier positions.
        public var causal: Bool { self == .decoder }
    }
    public let length: Int       // L, the number of digits to reverse
    public let digits: Int       // the digits are 0..<digits
    public let layout: Layout
    public var separator: Int { digits }
    public var vocabulary: Int { digits + 1 }
    public var sequenceLength: Int { layout == .decoder ? 2 * length : length }

    public init(length: Int = 10, digits: Int = 10, layout: Layout = .decoder) throws {
        guard digits >= 2 else { throw DatasetError.badFormat(file: "s2s", reason: "digits must be ≥ 2, got \(digits)") }
        guard length >= 1, length <= digits else {
            throw DatasetError.badFormat(file: "s2s", reason: "length must be in 1...\(digits) (a permutation of the digits), got \(length)")
        }
        self.length = length; self.digits = digits; self.layout = layout
    }

    /// One input permutation (its first `length` digits).
    public func permutation(_ rng: inout RandomStream) -> [Int] { Array(rng.permutation(digits).prefix(length)) }

    /// Encodes inputs into a token batch [N, T] and targets [N·T] (−1 where no target); T = sequenceLength.
    public func batch(_ inputs: [[Int]]) -> (tokens: Tensor, targets: [Int32]) {
        let n = inputs.count, t = sequenceLength
        let tokens = Tensor([n, t])
        var targets = [Int32](repeating: -1, count: n * t)
        for (b, x) in inputs.enumerated() {
            let y = Array(x.reversed())
            if layout == .encoder {
                for i in 0..<length { tokens[b * t + i] = Float(x[i]); targets[b * t + i] = Int32(y[i]) }
                continue
            }
            for i in 0..<length { tokens[b * t + i] = Float(x[i]) }
            tokens[b * t + length] = Float(separator)
            for i in 1..<length { tokens[b * t + length + i] = Float(y[i - 1]) }
            for i in 0..<length { targets[b * t + length + i] = Int32(y[i]) }
        }
        return (tokens, targets)
    }

    /// A training batch of fresh permutations.
    public func trainBatch(size: Int, rng: inout RandomStream) -> (tokens: Tensor, targets: [Int32], inputs: [[Int]]) {
        let inputs = (0..<size).map { _ in permutation(&rng) }
        let (t, y) = batch(inputs)
        return (t, y, inputs)
    }

    /// The fixed held-out set: `count` sequences from the stream (seed, "s2s/test").
    public func testSet(count: Int, seed: UInt64) -> [[Int]] {
        var rng = RandomStream(seed: seed, name: "s2s/test")
        return (0..<count).map { _ in permutation(&rng) }
    }

    /// A number that identifies an input sequence (base-`digits` digits), to count test sequences seen in training.
    public func key(_ x: [Int]) -> Int { x.reduce(0) { $0 &* digits &+ $1 } }

    /// Token accuracy and whole-sequence accuracy of logits [N, 2L, V] against the targets.
    public func accuracy(logits: Tensor, targets: [Int32]) -> (token: Double, sequence: Double) {
        let v = logits.shape.last!, t = sequenceLength, n = logits.count / (v * t)
        var tokens = 0, correct = 0, sequences = 0
        for b in 0..<n {
            var all = true
            for p in 0..<t where targets[b * t + p] >= 0 {
                let row = logits.data + (b * t + p) * v
                var best = 0
                for j in 1..<v where row[j] > row[best] { best = j }
                tokens += 1
                if best == Int(targets[b * t + p]) { correct += 1 } else { all = false }
            }
            if all { sequences += 1 }
        }
        return (Double(correct) / Double(max(1, tokens)), Double(sequences) / Double(max(1, n)))
    }
}
