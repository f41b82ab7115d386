// A chain of modules, and the parameter-free modules that go in chains.

import RecurrentKernels
import RecurrentTensor

/// Modules applied one after another. Parameters are named by position, as PyTorch's nn.Sequential:
/// "0.weight", "2.bias", ….
public final class Sequential: Module {
    public private(set) var modules: [any Module]

    public init(_ modules: [any Module]) { self.modules = modules }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        for (index, module) in modules.enumerated() {
            module.visitParameters { name, parameter in visit("\(index).\(name)", &parameter) }
        }
    }

    public func visitSublayers(_ visit: (Layer) -> Void) { modules.forEach(visit) }

    public func callAsFunction(_ input: Tensor) -> Tensor { modules.reduce(input) { $1($0) } }
}

/// An elementwise activation as a module.
public final class Activation: Module {
    public enum Function: String, Sendable { case relu, tanh, sigmoid }
    public let function: Function
    public init(_ function: Function) { self.function = function }
    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {}
    public func callAsFunction(_ input: Tensor) -> Tensor {
        switch function {
        case .relu: input.relu()
        case .tanh: input.tanh()
        case .sigmoid: input.sigmoid()
        }
    }
}

/// (N, d1, d2, …) → (N, d1·d2·…).
public final class Flatten: Module {
    public init() {}
    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {}
    public func callAsFunction(_ input: Tensor) -> Tensor {
        require(input.rank >= 1, "Flatten: needs a batch axis, got a scalar")
        return input.reshaped([input.shape[0], -1])
    }
}

/// Zeroes each element with probability p while training, scaling the rest by 1/(1 − p); the identity in
/// evaluation. The mask comes from the layer's own seeded generator, which the trainer reseeds at every step
/// from `seed` and the step's number (see `StepSeeded`).
public final class Dropout: Module, TrainingModeDependent, StepSeeded {
    public let probability: Double
    public var isTraining = true
    private let seed: UInt64
    private var generator: SeededGenerator

    public init(probability: Double, seed: UInt64 = 0) {
        require((0..<1).contains(probability), "Dropout: probability \(probability) outside [0, 1)")
        self.probability = probability
        self.seed = seed
        generator = SeededGenerator(seed: seed)
    }

    public func reseed(forStep step: Int) { generator = SeededGenerator(seed: seed, step: step) }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {}

    public func callAsFunction(_ input: Tensor) -> Tensor {
        isTraining ? input.dropout(probability: probability, using: &generator) : input
    }
}

/// Layer normalization over the last axis (Ba et al. 2016):
///
///     y = (x − μ) / √(σ² + ε) · γ + β,     μ, σ² the mean and (biased) variance of each row
///
/// Shapes: x (…, D) → (…, D). Parameters `weight` γ (D), initialized 1, and `bias` β (D), initialized 0.
public final class LayerNorm: Module {
    public let size: Int
    public let epsilon: Double
    public var weight: Tensor
    public var bias: Tensor

    public init(size: Int, epsilon: Double = 1e-5, dtype: DType = .float32) {
        require(size > 0, "LayerNorm: size must be positive, got \(size)")
        self.size = size
        self.epsilon = epsilon
        weight = Tensor.ones([size], dtype: dtype).requiringGradient()
        bias = Tensor.zeros([size], dtype: dtype).requiringGradient()
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        visit("weight", &weight)
        visit("bias", &bias)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        require(input.rank >= 1 && input.shape[input.rank - 1] == size, "LayerNorm: input has shape \(input.shape), expected (…, \(size))")
        let centered = input - input.mean(alongAxis: -1, keepingDimension: true)
        let variance = centered.squared().mean(alongAxis: -1, keepingDimension: true)
        return centered / (variance + epsilon).sqrt() * weight + bias
    }
}
