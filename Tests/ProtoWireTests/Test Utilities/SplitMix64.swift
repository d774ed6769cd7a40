/// A small, fixed-seed PRNG (SplitMix64) so random tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SplitMix64 {
    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }

    mutating func int<T: FixedWidthInteger>(_: T.Type = T.self) -> T {
        // Favour edge values and small numbers, which exercise more encodings than uniform noise.
        switch Int.random(in: 0..<6, using: &self) {
        case 0: return 0
        case 1: return [T.min, T.max, T.min + 1, T.max - 1, 1, 0 &- 1].randomElement(using: &self)!
        case 2: return T(truncatingIfNeeded: Int.random(in: -300...300, using: &self))
        default: return T(truncatingIfNeeded: next())
        }
    }

    mutating func string(maxLength: Int = 12) -> String {
        let alphabet: [Character] = ["a", "b", "z", "0", " ", "é", "ß", "日", "本", "☃", "👩‍👩‍👧", "\u{0}", "\""]
        let count = Int.random(in: 0...maxLength, using: &self)
        return String((0..<count).map { _ in alphabet.randomElement(using: &self)! })
    }

    mutating func bytes(maxLength: Int = 12) -> [UInt8] {
        (0..<Int.random(in: 0...maxLength, using: &self)).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    mutating func float() -> Float {
        chance(0.5)
            ? [0, -0.0, 1, -1, .nan, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude].randomElement(using: &self)!
            : Float(bitPattern: UInt32(truncatingIfNeeded: next()))
    }

    mutating func double() -> Double {
        chance(0.5)
            ? [0, -0.0, 1, -1, .nan, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude].randomElement(using: &self)!
            : Double(bitPattern: next())
    }

    mutating func array<T>(maxCount: Int = 5, _ element: (inout SplitMix64) -> T) -> [T] {
        (0..<Int.random(in: 0...maxCount, using: &self)).map { _ in element(&self) }
    }
}
