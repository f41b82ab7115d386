// Seeded randomness and the standard initializers. Every initializer takes its generator explicitly, so one
// seed fixes a whole run, bit for bit, on any machine.

import RecurrentKernels

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64 so that nearby seeds give unrelated streams.
/// Its four-word state can be saved and restored (checkpoints do, to resume runs exactly).
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var splitMix = seed
        func nextSplitMix() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (nextSplitMix(), nextSplitMix(), nextSplitMix(), nextSplitMix())
    }

    /// The generator for one training step of a layer seeded with `seed`: every (seed, step) pair starts its own
    /// stream, so masks drawn at a step do not depend on what was drawn before it.
    public init(seed: UInt64, step: Int) {
        self.init(seed: seed ^ (UInt64(truncatingIfNeeded: step) &+ 1) &* 0xD6E8_FEB8_6659_FD93)
    }

    /// Restores a saved state; an all-zero state (which would only ever give zeros) is refused.
    public init?(state: (UInt64, UInt64, UInt64, UInt64)) {
        guard state != (0, 0, 0, 0) else { return nil }
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool { a.state == b.state }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal, by the Box–Muller transform (one of the pair is used, so each call costs two draws).
    public mutating func nextNormal() -> Double {
        let u1 = 1 - nextUniform()   // (0, 1]: log(u1) is finite
        let u2 = nextUniform()
        return (-2 * Double.log(u1)).squareRoot() * Double.cos2pi(u2)
    }
}

extension Double {
    static func cos2pi(_ x: Double) -> Double { libmCos(2 * Double.pi * x) }
}

extension Tensor {
    /// Independent draws from U(low, high).
    public static func uniform(_ shape: Shape, low: Double = 0, high: Double = 1, dtype: DType = .float32, using generator: inout SeededGenerator) -> Tensor {
        require(low <= high && low.isFinite && high.isFinite, "uniform: need finite low ≤ high, got \(low), \(high)")
        return Tensor(shape: shape, doubles: (0..<shape.elementCount).map { _ in low + (high - low) * generator.nextUniform() }, dtype: dtype)
    }

    /// Independent draws from N(mean, std²).
    public static func normal(_ shape: Shape, mean: Double = 0, standardDeviation: Double = 1, dtype: DType = .float32, using generator: inout SeededGenerator) -> Tensor {
        require(standardDeviation >= 0 && standardDeviation.isFinite, "normal: standard deviation must be finite and ≥ 0, got \(standardDeviation)")
        return Tensor(shape: shape, doubles: (0..<shape.elementCount).map { _ in mean + standardDeviation * generator.nextNormal() }, dtype: dtype)
    }

    /// (fan in, fan out) of a weight: a matrix (out, in) has fan in = in, fan out = out; a convolution kernel
    /// (out, in, kh, kw) multiplies both by kh·kw, as PyTorch and Keras do.
    public static func fans(of shape: Shape) -> (fanIn: Int, fanOut: Int) {
        require(shape.rank >= 2, "fans: a weight needs rank ≥ 2, got \(shape)")
        let receptive = shape.dimensions.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Glorot/Xavier uniform: U(−a, a) with a = gain·√(6 / (fan in + fan out)).
    public static func glorotUniform(_ shape: Shape, gain: Double = 1, dtype: DType = .float32, using generator: inout SeededGenerator) -> Tensor {
        let (fanIn, fanOut) = fans(of: shape)
        let limit = gain * (6 / Double(fanIn + fanOut)).squareRoot()
        return uniform(shape, low: -limit, high: limit, dtype: dtype, using: &generator)
    }

    /// Glorot/Xavier normal: N(0, σ²) with σ = gain·√(2 / (fan in + fan out)).
    public static func glorotNormal(_ shape: Shape, gain: Double = 1, dtype: DType = .float32, using generator: inout SeededGenerator) -> Tensor {
        let (fanIn, fanOut) = fans(of: shape)
        return normal(shape, standardDeviation: gain * (2 / Double(fanIn + fanOut)).squareRoot(), dtype: dtype, using: &generator)
    }

    /// A (semi-)orthogonal matrix (Saxe et al. 2014): the Q of the QR decomposition of a standard normal
    /// matrix, with signs fixed by R's diagonal so the result is uniformly distributed. Shape (rows, …) is
    /// treated as (rows, product of the rest); rows are orthonormal when rows ≤ columns, columns otherwise.
    public static func orthogonal(_ shape: Shape, gain: Double = 1, dtype: DType = .float32, using generator: inout SeededGenerator) -> Tensor {
        require(shape.rank >= 2, "orthogonal: needs rank ≥ 2, got \(shape)")
        let rows = shape[0], columns = shape.elementCount / Swift.max(1, rows)
        // Work on a tall matrix (tall ≥ wide) and transpose back if needed.
        let tall = Swift.max(rows, columns), wide = Swift.min(rows, columns)
        var matrix = (0..<(tall * wide)).map { _ in generator.nextNormal() }   // (tall, wide), row-major
        let q = householderQ(&matrix, rows: tall, columns: wide)             // (tall, wide), orthonormal columns
        var values = [Double](repeating: 0, count: rows * columns)
        for i in 0..<rows {
            for j in 0..<columns {
                values[i * columns + j] = gain * (rows >= columns ? q[i * wide + j] : q[j * wide + i])
            }
        }
        return Tensor(shape: shape, doubles: values, dtype: dtype)
    }

    /// Q (tall × wide, orthonormal columns) of the Householder QR of `a`, with Q's columns multiplied by the
    /// signs of R's diagonal.
    static func householderQ(_ a: inout [Double], rows m: Int, columns n: Int) -> [Double] {
        var reflectors: [[Double]] = []
        var diagonalSigns = [Double](repeating: 1, count: n)
        for j in 0..<n {
            var v = (j..<m).map { a[$0 * n + j] }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let alpha = v[0] >= 0 ? -norm : norm           // R[j][j] = alpha
            diagonalSigns[j] = alpha >= 0 ? 1 : -1
            v[0] -= alpha
            let vNorm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if vNorm > 0 { v = v.map { $0 / vNorm } }
            reflectors.append(v)
            // A ← (I − 2vvᵀ)A on rows j..<m, columns j..<n.
            for column in j..<n {
                var dot = 0.0
                for r in j..<m { dot += v[r - j] * a[r * n + column] }
                for r in j..<m { a[r * n + column] -= 2 * v[r - j] * dot }
            }
        }
        // Q = H0 H1 … H(n−1) applied to the first n columns of the identity.
        var q = [Double](repeating: 0, count: m * n)
        for j in 0..<n { q[j * n + j] = 1 }
        for j in stride(from: n - 1, through: 0, by: -1) {
            let v = reflectors[j]
            for column in 0..<n {
                var dot = 0.0
                for r in j..<m { dot += v[r - j] * q[r * n + column] }
                for r in j..<m { q[r * n + column] -= 2 * v[r - j] * dot }
            }
        }
        for r in 0..<m { for column in 0..<n { q[r * n + column] *= diagonalSigns[column] } }
        return q
    }
}
