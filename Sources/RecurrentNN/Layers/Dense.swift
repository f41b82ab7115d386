// Fully connected layer.

import RecurrentKernels
import RecurrentTensor

/// A layer that takes (…, I) to (…, O) with one GEMM.
///
///     y = x·Wᵀ + b
///
/// Shapes: x (…, I) — any leading axes, folded into one GEMM; y (…, O).
/// Parameters: `weight` (O, I) — PyTorch's layout, so `fc.weight` loads as is; `bias` (O).
/// Initialization: W and b uniform in ±1/√I, as PyTorch's nn.Linear.
public final class Dense: Module {
    public let inputSize: Int
    public let outputSize: Int
    public var weight: Tensor
    public var bias: Tensor?

    public init(inputSize: Int, outputSize: Int, bias: Bool = true, seed: UInt64 = 0, dtype: DType = .float32) {
        require(inputSize > 0 && outputSize > 0, "Dense: sizes must be positive, got \(inputSize) → \(outputSize)")
        self.inputSize = inputSize
        self.outputSize = outputSize
        var generator = SeededGenerator(seed: seed)
        let bound = 1 / Double(inputSize).squareRoot()
        weight = Tensor.uniform([outputSize, inputSize], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient()
        self.bias = bias ? Tensor.uniform([outputSize], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient() : nil
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        visit("weight", &weight)
        if bias != nil { visit("bias", &bias!) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        require(x.rank >= 1 && x.shape[x.rank - 1] == inputSize, "Dense: input has shape \(x.shape), expected (…, \(inputSize))")
        return x.linear(weight: weight, bias: bias)
    }
}
