// Dropout: each element kept with probability 1 − p and scaled by 1/(1 − p), so the expected value is
// unchanged and evaluation needs no rescaling. The mask comes from the caller's seeded generator.

import RecurrentKernels

extension Tensor {
    /// Zeroes each element with probability `probability`, scaling the rest by 1/(1 − probability).
    /// Backward multiplies by the same mask.
    public func dropout(probability: Double, using generator: inout SeededGenerator) -> Tensor {
        require((0..<1).contains(probability), "dropout: probability \(probability) is outside [0, 1)")
        if probability == 0 { return self }
        let scale = 1 / (1 - probability)
        // Float32 masks are made as Float32: no Float64 array to convert (a translation step draws ~0.5 M of them).
        let mask = dtype == .float32
            ? Tensor(shape: shape, scalars: (0..<elementCount).map { _ in generator.nextUniform() < probability ? 0 : Float(scale) })
            : Tensor(shape: shape, doubles: (0..<elementCount).map { _ in generator.nextUniform() < probability ? 0 : scale }, dtype: dtype)
        return self * mask
    }
}
