// Random numbers the project owns: the bits-to-values mapping never changes with the Swift version.
// Generator: xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
// Named streams: RandomStream(seed: s, name: "init") and RandomStream(seed: s, name: "shuffle")
// are independent; a stream depends only on (seed, name), so adding a consumer shifts no other.
// Values: uniform Float from the top 24 bits; normal by Box–Muller in Double; shuffle by
// Fisher–Yates with Lemire's unbiased bounded integers.

import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): one step of the mixer, used for seeding.
@inline(__always) public func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// FNV-1a 64-bit hash of a string's UTF-8 bytes: stable across runs and platforms.
public func fnv1a64(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}

public struct RandomStream {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareNormal: Double? = nil

    /// The stream named `name` of base seed `seed`.
    public init(seed: UInt64, name: String = "") {
        var sm = seed ^ fnv1a64(name)
        s0 = splitMix64(&sm); s1 = splitMix64(&sm); s2 = splitMix64(&sm); s3 = splitMix64(&sm)
    }

    /// The generator's full state (for checkpoints): four words, plus the spare normal as a bit pattern (or 0, 0).
    public var state: [UInt64] {
        [s0, s1, s2, s3, spareNormal == nil ? 0 : 1, spareNormal?.bitPattern ?? 0]
    }
    public init(state: [UInt64]) {
        precondition(state.count == 6, "RandomStream state has 6 words")
        s0 = state[0]; s1 = state[1]; s2 = state[2]; s3 = state[3]
        spareNormal = state[4] == 1 ? Double(bitPattern: state[5]) : nil
    }

    /// A child stream: independent of this one and of children with other names.
    public func derive(_ name: String) -> RandomStream {
        var copy = self
        return RandomStream(seed: copy.next() ^ fnv1a64(name), name: name)
    }

    @inline(__always) public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    @inline(__always) public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [low, high).
    @inline(__always) public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * uniform()
    }

    /// Uniform Double in (0, 1]: never zero, safe for log.
    @inline(__always) private mutating func unitOpenZero() -> Double {
        (Double(next() >> 11) + 1.0) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Standard normal (Box–Muller; the second value is kept for the next call).
    public mutating func normal() -> Float {
        if let z = spareNormal { spareNormal = nil; return Float(z) }
        let u1 = unitOpenZero(), u2 = unitOpenZero()
        let r = (-2.0 * Foundation.log(u1)).squareRoot()
        spareNormal = r * Foundation.sin(2.0 * Double.pi * u2)
        return Float(r * Foundation.cos(2.0 * Double.pi * u2))
    }

    /// Uniform integer in 0..<bound, unbiased (Lemire 2019).
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// Fisher–Yates shuffle in place.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = below(i + 1)
            if i != j { a.swapAt(i, j) }
        }
    }

    /// A random permutation of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n); shuffle(&p); return p
    }

    public mutating func fillUniform(_ t: Tensor, _ low: Float, _ high: Float) {
        let p = t.data
        for i in 0..<t.count { p[i] = uniform(low, high) }
    }

    public mutating func fillNormal(_ t: Tensor, mean: Float = 0, std: Float) {
        let p = t.data
        for i in 0..<t.count { p[i] = mean + std * normal() }
    }
}
