// Optimizers: each reads the gradients a backward pass left in a layer's parameters (through the one parameter
// walk) and updates the parameters in place. State (moments, step counts) is kept per parameter name.
// The update rules follow PyTorch's, so that its optimizers are the reference (Scripts/reference/optimizer_fixtures.py).

import RecurrentKernels
import RecurrentTensor
import RecurrentNN
#if arch(x86_64) && RECURRENT_X86_FMA
import _Builtin_intrinsics.intel
#endif

/// Something that updates a layer's parameters from their gradients.
public protocol Optimizer: AnyObject {
    var learningRate: Double { get set }
    /// Per parameter name, the named buffers (momentum, moments); saved in checkpoints.
    var buffers: [String: [String: Tensor]] { get set }
    /// Updates taken so far (Adam's bias correction depends on it).
    var steps: Int { get set }
    /// One update of every parameter of `layer` that has a gradient.
    func step(_ layer: Layer)
}

/// Shared plumbing: visit parameters with gradients, update under noGrad, keep named state.
open class ParameterUpdater {
    public var learningRate: Double
    public let weightDecay: Double
    /// Per parameter name: the optimizer's buffers (momentum, moments, sums).
    public var buffers: [String: [String: Tensor]] = [:]
    /// Steps taken (restored from checkpoints with the buffers).
    public var steps = 0

    init(learningRate: Double, weightDecay: Double) {
        require(learningRate >= 0 && learningRate.isFinite, "optimizer: learning rate \(learningRate) must be finite and ≥ 0")
        require(weightDecay >= 0 && weightDecay.isFinite, "optimizer: weight decay \(weightDecay) must be finite and ≥ 0")
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// Calls `update(name, value, gradient)` for each parameter with a gradient and stores what it returns.
    func updateEach(_ layer: Layer, _ update: (String, Tensor, Tensor) -> Tensor) {
        steps += 1
        noGrad {
            layer.visitParameters { name, parameter in
                guard let gradient = parameter.grad else { return }
                parameter.assign(update(name, parameter.detached(), gradient))
            }
        }
    }

    func buffer(_ name: String, _ key: String) -> Tensor? { buffers[name]?[key] }

    /// Updates and returns the buffer `decay`·old + `weight`·value (old = 0 at first), e.g. Adam's moments.
    func accumulate(_ name: String, _ key: String, decay: Double, _ value: Tensor, weight: Double = 1) -> Tensor {
        let scaled = weight == 1 ? value : weight * value
        let updated = buffer(name, key).map { decay * $0 + scaled } ?? scaled
        setBuffer(name, key, updated)
        return updated
    }
    func setBuffer(_ name: String, _ key: String, _ value: Tensor) { buffers[name, default: [:]][key] = value }
}

/// Stochastic gradient descent with momentum (heavy-ball or Nesterov) and L2 weight decay:
///
///     g ← ∇ + λ·p;   b ← μ·b + g (b = g at the first step);   g ← g + μ·b (Nesterov) or b;   p ← p − η·g
public final class SGD: ParameterUpdater, Optimizer {
    public let momentum: Double
    public let nesterov: Bool

    public init(learningRate: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0) {
        require(momentum >= 0 && momentum < 1, "SGD: momentum \(momentum) outside [0, 1)")
        require(!nesterov || momentum > 0, "SGD: Nesterov needs a momentum > 0")
        self.momentum = momentum
        self.nesterov = nesterov
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }

    public func step(_ layer: Layer) {
        updateEach(layer) { name, p, gradient in
            var g = weightDecay > 0 ? gradient + weightDecay * p : gradient
            if momentum > 0 {
                let velocity = accumulate(name, "momentum", decay: momentum, g)
                g = nesterov ? g + momentum * velocity : velocity
            }
            return p - learningRate * g
        }
    }
}

/// Adam (Kingma & Ba) with bias correction; `decoupledWeightDecay` makes it AdamW (Loshchilov & Hutter):
///
///     m ← β₁m + (1 − β₁)g;   v ← β₂v + (1 − β₂)g²;   p ← p − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
///     Adam: g = ∇ + λp.      AdamW: g = ∇ and p ← p·(1 − ηλ) first.
public final class Adam: ParameterUpdater, Optimizer {
    public let beta1: Double, beta2: Double, epsilon: Double
    public let decoupledWeightDecay: Bool

    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        require((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas (\(beta1), \(beta2)) outside [0, 1)")
        require(epsilon > 0, "Adam: epsilon \(epsilon) must be > 0")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.decoupledWeightDecay = decoupledWeightDecay
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }

    /// AdamW: Adam with decoupled weight decay (PyTorch's default decay 0.01).
    public static func adamW(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) -> Adam {
        Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay, decoupledWeightDecay: true)
    }

    public func step(_ layer: Layer) {
        steps += 1
        let t = Double(steps)
        let constants = AdamConstants(
            learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
            decoupled: decoupledWeightDecay, correction1: 1 - power(beta1, t), correction2: 1 - power(beta2, t))
        noGrad {
            layer.visitParameters { name, parameter in
                guard let gradient = parameter.grad else { return }
                // Taken out of the table so each buffer has one owner and is updated in place.
                var m = buffers[name]?["m"] ?? Tensor.zeros(parameter.shape, dtype: parameter.dtype)
                var v = buffers[name]?["v"] ?? Tensor.zeros(parameter.shape, dtype: parameter.dtype)
                buffers[name] = nil
                if parameter.dtype == .float32 {
                    Self.update(Float.self, &parameter, gradient, &m, &v, constants)
                } else {
                    Self.update(Double.self, &parameter, gradient, &m, &v, constants)
                }
                buffers[name] = ["m": m, "v": v]
            }
        }
    }

    struct AdamConstants {
        let learningRate: Double, beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double
        let decoupled: Bool
        let correction1: Double, correction2: Double
    }

    /// The update of one parameter in a single pass, in the order of the formula above (and of PyTorch's
    /// arithmetic, which the optimizer fixtures check to 1e-12).
    static func update<T: TensorScalar>(_: T.Type, _ parameter: inout Tensor, _ gradient: Tensor, _ m: inout Tensor, _ v: inout Tensor, _ c: AdamConstants) {
        let g = gradient.converted(to: T.dtype)
        let beta1 = T(c.beta1), beta2 = T(c.beta2), keep1 = T(1 - c.beta1), keep2 = T(1 - c.beta2)
        let stepSize = T(c.learningRate / c.correction1), correction2 = T(c.correction2), epsilon = T(c.epsilon)
        // Branch-free so the loop vectorises: without coupled decay `decay` is 0 (g + 0·p = g exactly), without
        // decoupled decay `shrink` is 1 (p·1 = p exactly), so both forms share it and stay bit-identical to the
        // formula.
        let decay = T(c.decoupled ? 0 : c.weightDecay), shrink = T(c.decoupled ? 1 - c.learningRate * c.weightDecay : 1)
        g.withUnsafeBuffer(as: T.self) { g in
            m.withUnsafeMutableBuffer(as: T.self) { m in
                v.withUnsafeMutableBuffer(as: T.self) { v in
                    parameter.withUnsafeMutableBuffer(as: T.self) { p in
                        let count = p.count
                        let pointers = UncheckedSendable((g.baseAddress!, m.baseAddress!, v.baseAddress!, p.baseAddress!))
                        // Large tables (embeddings, output layers) are split over the cores; each element is independent.
                        let ranges = splitRanges(count: count, parts: count >= 1 << 17 ? ComputeSettings.threads : 1, granularity: 64)
                        parallelFor(parts: ranges.count) { part in
                            let (g, m, v, p) = pointers.value
                            var start = ranges[part].lowerBound
                            if T.self == Float.self {
                                // Eight lanes at a time: the compiler cannot prove the four buffers apart, so it
                                // does not vectorise the scalar loop by itself.
                                start = Self.updateEightLanes(ranges[part], g, m, v, p, c)
                            }
                            for i in start..<ranges[part].upperBound {
                                let shrunk = p[i] * shrink
                                let gi = g[i] + decay * shrunk
                                let mi = beta1 * m[i] + keep1 * gi, vi = beta2 * v[i] + keep2 * (gi * gi)
                                m[i] = mi
                                v[i] = vi
                                p[i] = shrunk - stepSize * mi / ((vi / correction2).squareRoot() + epsilon)
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Adam {
    /// The Float update of `range` in SIMD8 steps, lane for lane the scalar formula; returns where the tail starts.
    static func updateEightLanes<T: TensorScalar>(_ range: Range<Int>, _ g: UnsafePointer<T>, _ m: UnsafeMutablePointer<T>,
                                                  _ v: UnsafeMutablePointer<T>, _ p: UnsafeMutablePointer<T>, _ c: AdamConstants) -> Int {
        typealias Lanes = SIMD8<Float>
        let (g, m, v, p) = (UnsafeRawPointer(g), UnsafeMutableRawPointer(m), UnsafeMutableRawPointer(v), UnsafeMutableRawPointer(p))
        let beta1 = Lanes(repeating: Float(c.beta1)), beta2 = Lanes(repeating: Float(c.beta2))
        let keep1 = Lanes(repeating: Float(1 - c.beta1)), keep2 = Lanes(repeating: Float(1 - c.beta2))
        let stepSize = Lanes(repeating: Float(c.learningRate / c.correction1)), correction2 = Lanes(repeating: Float(c.correction2))
        let epsilon = Lanes(repeating: Float(c.epsilon))
        let decay = Lanes(repeating: Float(c.decoupled ? 0 : c.weightDecay))
        let shrink = Lanes(repeating: Float(c.decoupled ? 1 - c.learningRate * c.weightDecay : 1))
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let offset = i * 4
            let shrunk = p.loadUnaligned(fromByteOffset: offset, as: Lanes.self) * shrink
            let gi = g.loadUnaligned(fromByteOffset: offset, as: Lanes.self) + decay * shrunk
            let mi = beta1 * m.loadUnaligned(fromByteOffset: offset, as: Lanes.self) + keep1 * gi
            let vi = beta2 * v.loadUnaligned(fromByteOffset: offset, as: Lanes.self) + keep2 * (gi * gi)
            m.storeBytes(of: mi, toByteOffset: offset, as: Lanes.self)
            v.storeBytes(of: vi, toByteOffset: offset, as: Lanes.self)
            p.storeBytes(of: shrunk - stepSize * mi / (squareRoot(vi / correction2) + epsilon), toByteOffset: offset, as: Lanes.self)
            i += 8
        }
        return i
    }

    /// √x lane by lane, correctly rounded as the scalar form. On x86-64 one instruction: the standard library's
    /// SIMD `squareRoot()` compiled to eight scalar roots, each behind a branch.
    @inline(__always)
    static func squareRoot(_ x: SIMD8<Float>) -> SIMD8<Float> {
        #if arch(x86_64) && RECURRENT_X86_FMA
        return _mm256_sqrt_ps(x)
        #else
        return x.squareRoot()
        #endif
    }
}

/// RMSprop (Hinton), PyTorch's form: v ← αv + (1 − α)g²;  p ← p − η·g / (√v + ε)  (with momentum μ:
/// b ← μb + g / (√v + ε), p ← p − ηb).
public final class RMSprop: ParameterUpdater, Optimizer {
    public let alpha: Double, epsilon: Double, momentum: Double

    public init(learningRate: Double = 1e-2, alpha: Double = 0.99, epsilon: Double = 1e-8, momentum: Double = 0, weightDecay: Double = 0) {
        require((0..<1).contains(alpha), "RMSprop: alpha \(alpha) outside [0, 1)")
        self.alpha = alpha
        self.epsilon = epsilon
        self.momentum = momentum
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }

    public func step(_ layer: Layer) {
        updateEach(layer) { name, p, gradient in
            let g = weightDecay > 0 ? gradient + weightDecay * p : gradient
            let v = accumulate(name, "square_average", decay: alpha, g.squared(), weight: 1 - alpha)
            let scaled = g / (v.sqrt() + epsilon)
            if momentum > 0 {
                return p - learningRate * accumulate(name, "momentum", decay: momentum, scaled)
            }
            return p - learningRate * scaled
        }
    }
}

/// Adagrad (Duchi et al.): s ← s + g²;  p ← p − η·g / (√s + ε).
public final class Adagrad: ParameterUpdater, Optimizer {
    public let epsilon: Double

    public init(learningRate: Double = 1e-2, epsilon: Double = 1e-10, weightDecay: Double = 0) {
        self.epsilon = epsilon
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }

    public func step(_ layer: Layer) {
        updateEach(layer) { name, p, gradient in
            let g = weightDecay > 0 ? gradient + weightDecay * p : gradient
            let sum = accumulate(name, "sum", decay: 1, g.squared())
            return p - learningRate * g / (sum.sqrt() + epsilon)
        }
    }
}

/// base^exponent for a whole exponent (bias corrections, decays), without Foundation.
func power(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var remaining = Int(exponent)
    var power = base
    while remaining > 0 {
        if remaining & 1 == 1 { result *= power }
        power *= power
        remaining >>= 1
    }
    return result
}

// MARK: - Gradient clipping

public enum GradientClipping {
    /// Scales all gradients of `layer` together so their global L2 norm is at most `maxNorm` (as PyTorch's
    /// clip_grad_norm_: factor maxNorm / (norm + 1e-6) when the norm exceeds it). Returns the norm before clipping.
    @discardableResult
    public static func clipByGlobalNorm(_ layer: Layer, maxNorm: Double) -> Double {
        require(maxNorm > 0, "clipByGlobalNorm: maxNorm \(maxNorm) must be > 0")
        var total = 0.0
        layer.visitParameters { _, parameter in
            if let g = parameter.grad { total += g.squaredSum }
        }
        let norm = total.squareRoot()
        clip(layer, norm: norm, maxNorm: maxNorm)
        return norm
    }

    /// Scales the gradients of `layer`, whose global L2 norm the caller has measured as `norm`, to at most `maxNorm`.
    public static func clip(_ layer: Layer, norm: Double, maxNorm: Double) {
        require(maxNorm > 0, "clip: maxNorm \(maxNorm) must be > 0")
        if norm > maxNorm { scaleGradients(layer, by: maxNorm / (norm + 1e-6)) }
    }

    /// Clamps every gradient element of `layer` to [−limit, limit].
    public static func clipByValue(_ layer: Layer, limit: Double) {
        require(limit > 0, "clipByValue: limit \(limit) must be > 0")
        layer.visitParameters { _, parameter in
            guard let g = parameter.grad else { return }
            let clipped = Tensor(shape: g.shape, doubles: g.doubles.map { Swift.min(limit, Swift.max(-limit, $0)) }, dtype: g.dtype)
            parameter.replaceGradient(clipped)
        }
    }

    static func scaleGradients(_ layer: Layer, by factor: Double) {
        noGrad {
            layer.visitParameters { _, parameter in
                if let g = parameter.grad { parameter.replaceGradient(g * factor) }
            }
        }
    }
}

// MARK: - Learning-rate schedules

/// The learning rate as a function of the step (0-based).
public protocol LearningRateSchedule {
    func learningRate(at step: Int) -> Double
}

/// Multiplies the rate by `gamma` every `stepSize` steps.
public struct StepDecay: LearningRateSchedule {
    public let initial: Double, stepSize: Int, gamma: Double
    public init(initial: Double, stepSize: Int, gamma: Double = 0.1) {
        require(stepSize > 0, "StepDecay: step size \(stepSize) must be > 0")
        self.initial = initial
        self.stepSize = stepSize
        self.gamma = gamma
    }
    public func learningRate(at step: Int) -> Double { initial * power(gamma, Double(step / stepSize)) }
}

/// Cosine annealing from `initial` to `minimum` over `totalSteps`, then `minimum`.
public struct CosineDecay: LearningRateSchedule {
    public let initial: Double, minimum: Double, totalSteps: Int
    public init(initial: Double, totalSteps: Int, minimum: Double = 0) {
        require(totalSteps > 0, "CosineDecay: total steps \(totalSteps) must be > 0")
        self.initial = initial
        self.minimum = minimum
        self.totalSteps = totalSteps
    }
    public func learningRate(at step: Int) -> Double {
        let progress = Double(Swift.min(step, totalSteps)) / Double(totalSteps)
        return minimum + (initial - minimum) * (1 + libmCos(Double.pi * progress)) / 2
    }
}

/// A linear ramp from 0 over `warmupSteps`, then `schedule` (counted from the end of the warm-up).
public struct LinearWarmup<Base: LearningRateSchedule>: LearningRateSchedule {
    public let warmupSteps: Int
    public let schedule: Base
    public init(warmupSteps: Int, then schedule: Base) {
        self.warmupSteps = warmupSteps
        self.schedule = schedule
    }
    public func learningRate(at step: Int) -> Double {
        step < warmupSteps ? schedule.learningRate(at: 0) * Double(step + 1) / Double(warmupSteps) : schedule.learningRate(at: step - warmupSteps)
    }
}
