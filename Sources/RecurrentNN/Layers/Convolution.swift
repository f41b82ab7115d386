// Convolution and pooling layers for images (NCHW).

import RecurrentKernels
import RecurrentTensor

/// 2-D convolution.
///
///     y[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, c]       (cross-correlation, stride s, zero padding p)
///
/// Shapes: x (N, C, H, W) → y (N, O, (H + 2p − kh)/s + 1, (W + 2p − kw)/s + 1).
/// Parameters: `weight` (O, C, kh, kw), `bias` (O) — PyTorch's layout and names.
/// Initialization: uniform in ±1/√(C·kh·kw), as PyTorch's nn.Conv2d.
public final class Conv2D: Module {
    public let inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int
    public var weight: Tensor
    public var bias: Tensor?

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true, seed: UInt64 = 0, dtype: DType = .float32) {
        require(inputChannels > 0 && outputChannels > 0 && kernelSize > 0, "Conv2D: channels and kernel size must be positive")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        var generator = SeededGenerator(seed: seed)
        let bound = 1 / Double(inputChannels * kernelSize * kernelSize).squareRoot()
        weight = Tensor.uniform([outputChannels, inputChannels, kernelSize, kernelSize], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient()
        self.bias = bias ? Tensor.uniform([outputChannels], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient() : nil
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        visit("weight", &weight)
        if bias != nil { visit("bias", &bias!) }
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        Tensor.convolution2D(input, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// Max pooling over k×k windows every `stride` (default k): (N, C, H, W) → (N, C, (H − k)/s + 1, (W − k)/s + 1).
public final class MaxPool2D: Module {
    public let kernelSize: Int, stride: Int
    public init(kernelSize: Int, stride: Int? = nil) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }
    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {}
    public func callAsFunction(_ input: Tensor) -> Tensor { input.maxPool2D(kernel: kernelSize, stride: stride) }
}
