import Testing
import RecurrentTensor

/// Compares a tensor with expected values; on failure names the shapes, the worst element and its index.
func expectClose(
    _ actual: Tensor, _ expected: [Double], shape: Shape? = nil, tolerance: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if let shape {
        #expect(actual.shape == shape, "shape \(actual.shape), expected \(shape)", sourceLocation: sourceLocation)
    }
    let values = actual.doubles
    guard values.count == expected.count else {
        Issue.record("\(values.count) elements (shape \(actual.shape)), expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var worst = (index: -1, error: 0.0)
    for (index, (a, e)) in zip(values, expected).enumerated() {
        let error = Swift.abs(a - e) / Swift.max(1, Swift.abs(e))
        if !(error <= worst.error) || (a.isNaN != e.isNaN) { worst = (index, error.isNaN ? .infinity : error) }
    }
    if worst.index >= 0 && worst.error > tolerance {
        Issue.record("shape \(actual.shape): worst element \(worst.index): \(values[worst.index]) vs expected \(expected[worst.index]) (relative error \(worst.error) > \(tolerance))", sourceLocation: sourceLocation)
    }
}

/// A seeded random tensor with values in [-1, 1), as Float64 for gradient checks.
func random(_ shape: Shape, seed: UInt64, low: Double = -1, high: Double = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, dtype: .float64, using: &generator)
}

/// Runs a gradient check and records its report when it fails.
func expectGradientsCorrect(
    _ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation, _ function: ([Tensor]) -> Tensor
) {
    let result = GradientCheck.check(inputs, function)
    #expect(result.passed, "\(result)", sourceLocation: sourceLocation)
    #expect(result.checkedElements == inputs.reduce(0) { $0 + Swift.min($1.elementCount, 512) }, sourceLocation: sourceLocation)
}
