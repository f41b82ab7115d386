// Softmax and log-softmax along an axis, computed stably: the row maximum is subtracted before exponentiating,
// so logits of ±1e4 neither overflow nor turn into NaN.
//
//   softmax(x)_i    = e^(x_i − m) / Σ_j e^(x_j − m),                 m = max_j x_j
//   logSoftmax(x)_i = x_i − m − log Σ_j e^(x_j − m)
//   backward:  softmax:    dx = y ⊙ (g − Σ_j g_j y_j)
//              logSoftmax: dx = g − softmax(x) · Σ_j g_j

extension Tensor {
    /// Shared kernel: writes softmax (or log-softmax) of each (outer, ·, inner) line.
    private func softmaxKernel(axis: Int, logarithm: Bool) -> Tensor {
        let (outer, size, inner) = shape.split(at: axis)
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(shape, T.self) { y in
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * size * inner + i
                        var maximum = -T.infinity
                        for s in 0..<size { maximum = Swift.max(maximum, x[base + s * inner]) }
                        // A row of -inf (everything masked) has no finite max: treat it as 0 so the row gives NaN-free zeros/−inf.
                        if !maximum.isFinite { maximum = maximum.isNaN ? maximum : 0 }
                        var total: T = 0
                        for s in 0..<size { total += T.exp(x[base + s * inner] - maximum) }
                        if logarithm {
                            // (x − m) − log Σ: subtracting the large m first keeps the small result precise.
                            let logTotal = T.log(total)
                            for s in 0..<size { y[base + s * inner] = (x[base + s * inner] - maximum) - logTotal }
                        } else {
                            for s in 0..<size { y[base + s * inner] = T.exp(x[base + s * inner] - maximum) / total }
                        }
                    }
                }
            }
        }
        return dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
    }

    /// Softmax along `axis` (the last by default).
    public func softmax(alongAxis axis: Int = -1) -> Tensor {
        let axis = resolvedAxis(axis, "softmax")
        let result = softmaxKernel(axis: axis, logarithm: false)
        return Tensor.record("softmax", result: result, inputs: [self]) { grad in
            // dx = y ⊙ (g − Σ g ⊙ y)
            let y = result.detached()
            return [y * (grad - (grad * y).sum(alongAxis: axis, keepingDimension: true))]
        }
    }

    /// Log-softmax along `axis` (the last by default).
    public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
        let axis = resolvedAxis(axis, "logSoftmax")
        let result = softmaxKernel(axis: axis, logarithm: true)
        return Tensor.record("logSoftmax", result: result, inputs: [self]) { grad in
            // dx = g − softmax(x) · Σ g
            [grad - result.detached().exp() * grad.sum(alongAxis: axis, keepingDimension: true)]
        }
    }
}
