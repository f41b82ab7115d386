// Gradient checking: compares the gradients that backward computes with central finite differences, in
// Float64, for any function of tensors. Users check their own ops and layers with it.
//
//   numeric_j = (L(x + h·e_j) − L(x − h·e_j)) / 2h,      L(x) = Σ f(x) ⊙ w
//
// where w is a fixed random projection (so a non-scalar output has every element checked with a different
// weight, and a gradient landing on the wrong element is caught). In Float64 with h = 1e-6 the truncation
// error is ~h²·|L'''| ≈ 1e-12 and the rounding error ~1e-16·|L|/h ≈ 1e-10·|L|, so the default tolerances,
// |analytic − numeric| ≤ 1e-6 + 1e-5·max(|analytic|, |numeric|), leave a wide margin for right gradients
// while any real mistake (a dropped term, a wrong sign, a missing factor) is orders of magnitude above them.

import RecurrentKernels

/// The outcome of a gradient check.
public struct GradientCheckResult: CustomStringConvertible, Sendable {
    /// One compared element.
    public struct Comparison: Sendable, CustomStringConvertible {
        public let input: Int
        /// Position within the input, one entry per dimension.
        public let index: [Int]
        public let analytic: Double
        public let numeric: Double
        public var absoluteError: Double { Swift.abs(analytic - numeric) }
        public var description: String {
            "input \(input) at \(index): analytic \(analytic), numeric \(numeric) (|Δ| = \(absoluteError))"
        }
    }

    public let absoluteTolerance: Double
    public let relativeTolerance: Double
    public let checkedElements: Int
    /// The element with the largest error relative to its allowance.
    public let worst: Comparison?
    /// Elements outside the tolerance (the first 10).
    public let failures: [Comparison]
    public let failureCount: Int

    public var passed: Bool { failureCount == 0 }

    public var description: String {
        let worstText = worst.map { "; worst: \($0)" } ?? ""
        if passed { return "gradient check passed: \(checkedElements) elements within |Δ| ≤ \(absoluteTolerance) + \(relativeTolerance)·|g|\(worstText)" }
        return "gradient check FAILED: \(failureCount) of \(checkedElements) elements outside |Δ| ≤ \(absoluteTolerance) + \(relativeTolerance)·|g|\n  "
            + failures.map(\.description).joined(separator: "\n  ") + worstText
    }
}

public enum GradientCheck {
    /// Checks `function`'s gradients with respect to each of `inputs` against central finite differences.
    ///
    /// The inputs are converted to Float64 leaves; `function` must build its result from them with
    /// differentiable ops (constants it mixes in are promoted to Float64) and be deterministic.
    /// `maxElementsPerInput` limits the finite differences taken per input (a seeded random sample beyond it).
    public static func check(
        _ inputs: [Tensor],
        step: Double = 1e-6,
        absoluteTolerance: Double = 1e-6,
        relativeTolerance: Double = 1e-5,
        maxElementsPerInput: Int = 512,
        seed: UInt64 = 0x5EED,
        _ function: ([Tensor]) -> Tensor
    ) -> GradientCheckResult {
        let leaves = inputs.map { $0.detached().converted(to: .float64).requiringGradient() }
        let output = function(leaves)
        require(output.dtype == .float64, "GradientCheck: the function returned \(output.dtype); it must compute from its (Float64) inputs")
        var generator = SeededGenerator(seed: seed)
        let projection = Tensor.normal(output.shape, dtype: .float64, using: &generator)
        let loss = (output * projection).sum()
        require(loss.requiresGradient, "GradientCheck: the function's result does not depend on any input")
        let analytic = loss.gradients(withRespectTo: leaves)

        func lossValue(_ perturbed: [Tensor]) -> Double {
            noGrad { (function(perturbed) * projection).sum().doubles[0] }
        }

        var comparisons: [GradientCheckResult.Comparison] = []
        var failures: [GradientCheckResult.Comparison] = []
        var failureCount = 0
        var worst: (GradientCheckResult.Comparison, Double)?
        let constants = leaves.map { $0.detached() }
        for (position, input) in constants.enumerated() {
            let gradient = analytic[position].doubles
            var elements = Array(0..<input.elementCount)
            if elements.count > maxElementsPerInput {
                elements.shuffle(using: &generator)
                elements = Array(elements.prefix(maxElementsPerInput)).sorted()
            }
            for element in elements {
                var plus = constants, minus = constants
                plus[position].withUnsafeMutableBuffer(as: Double.self) { $0[element] += step }
                minus[position].withUnsafeMutableBuffer(as: Double.self) { $0[element] -= step }
                let numeric = (lossValue(plus) - lossValue(minus)) / (2 * step)
                let comparison = GradientCheckResult.Comparison(
                    input: position, index: multiIndex(element, in: input.shape), analytic: gradient[element], numeric: numeric)
                let allowance = absoluteTolerance + relativeTolerance * Swift.max(Swift.abs(comparison.analytic), Swift.abs(numeric))
                let ratio = comparison.absoluteError / allowance
                if !(ratio <= 1) {   // NaN fails too
                    failureCount += 1
                    if failures.count < 10 { failures.append(comparison) }
                }
                if worst == nil || !(ratio <= worst!.1) { worst = (comparison, ratio) }
                comparisons.append(comparison)
            }
        }
        return GradientCheckResult(
            absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance,
            checkedElements: comparisons.count, worst: worst?.0, failures: failures, failureCount: failureCount)
    }

    static func multiIndex(_ flat: Int, in shape: Shape) -> [Int] {
        var rest = flat
        return shape.strides.map { stride in
            defer { rest %= stride }
            return rest / stride
        }
    }
}

extension Tensor {
    /// A differentiable op defined by the caller: `forward` computes the value (not recorded), `backward` maps
    /// the gradient of the result to the gradients of the inputs. How users add their own ops; check them
    /// with `GradientCheck`.
    public static func custom(
        _ name: String, inputs: [Tensor], forward: ([Tensor]) -> Tensor, backward: @escaping (_ grad: Tensor, _ inputs: [Tensor]) -> [Tensor?]
    ) -> Tensor {
        let constants = inputs.map { $0.detached() }
        let result = noGrad { forward(constants) }.detached()
        return record(name, result: result, inputs: inputs) { grad in backward(grad, constants) }
    }
}
