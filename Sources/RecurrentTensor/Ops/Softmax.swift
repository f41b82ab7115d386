import RecurrentKernels

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
                        if inner == 1 {
                            // Contiguous line: vectorised for Float.
                            let (maximum, total) = T.shiftedExpSum(x + base, count: size)
                            if logarithm {
                                let logTotal = T.log(total)
                                for s in 0..<size { y[base + s] = (x[base + s] - maximum) - logTotal }
                            } else {
                                T.scaledExp(x + base, count: size, shift: maximum, scale: 1 / total, into: y + base)
                            }
                            continue
                        }
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

extension Tensor {
    /// Softmax cross-entropy of logits (N, C) against one target class per row, in one fused op: the mean over
    /// counted rows of
    ///
    ///     ℓ_r = (1 − ε)·(lse_r − z_r,t) + ε·(lse_r − mean_c z_rc),    lse_r = m_r + log Σ_c e^(z_rc − m_r)
    ///     ∂ℓ/∂z_rc = (softmax(z_r)_c − (1 − ε)·[c = t] − ε/C) / (counted rows)
    ///
    /// Rows whose target is `ignoreIndex` count for nothing. No (N, C) intermediate is kept: backward recomputes
    /// the softmax from each row's saved maximum and exponential sum, so a large vocabulary costs two passes over the logits, not ten.
    public func softmaxCrossEntropy(targets: [Int], ignoreIndex: Int? = nil, labelSmoothing: Double = 0) -> Tensor {
        require(rank == 2, "softmaxCrossEntropy: logits must be (rows, classes), got \(shape)")
        let (rows, classes) = (shape[0], shape[1])
        require(targets.count == rows, "softmaxCrossEntropy: \(targets.count) targets for \(rows) rows of logits \(shape)")
        let counted = targets.map { target in ignoreIndex.map { target != $0 } ?? true }
        for (row, target) in targets.enumerated() where counted[row] {
            require((0..<classes).contains(target), "softmaxCrossEntropy: target \(target) of row \(row) outside 0..<\(classes)")
        }
        let countedRows = counted.filter { $0 }.count
        // Per row: the maximum m and 1 / Σ e^(z − m), for backward.
        let rowShifts = TensorStorage(dtype: .float64, count: Swift.max(1, rows)), rowScales = TensorStorage(dtype: .float64, count: Swift.max(1, rows))
        let parts = splitRanges(count: rows, parts: rows * classes >= 1 << 16 ? ComputeSettings.threads : 1, granularity: 1)
        func forward<T: TensorScalar>(_: T.Type) -> Tensor {
            let z = UncheckedSendable(storage.pointer(T.self))
            let shifts = UncheckedSendable(rowShifts.pointer(Double.self)), scales = UncheckedSendable(rowScales.pointer(Double.self))
            var partials = [Double](repeating: 0, count: parts.count)
            partials.withUnsafeMutableBufferPointer { partialSums in
                let sums = UncheckedSendable(partialSums.baseAddress!)
                parallelFor(parts: parts.count) { part in
                    var total = 0.0
                    for row in parts[part] where counted[row] {
                        let line = z.value + row * classes
                        let (maximum, sum) = T.shiftedExpSum(line, count: classes)
                        let lse = Double(maximum) + Double(T.log(sum))
                        shifts.value[row] = Double(maximum)
                        scales.value[row] = 1 / Double(sum)
                        var mean = 0.0
                        if labelSmoothing != 0 { for c in 0..<classes { mean += Double(line[c]) } }
                        total += (1 - labelSmoothing) * (lse - Double(line[targets[row]])) + labelSmoothing * (lse - mean / Double(classes))
                    }
                    sums.value[part] = total
                }
            }
            let loss = partials.reduce(0, +) / Double(Swift.max(1, countedRows))
            return Tensor(shape: [], doubles: [loss], dtype: T.dtype)
        }
        let result = dtype == .float32 ? forward(Float.self) : forward(Double.self)
        let inputType = dtype, inputShape = shape
        return Tensor.record("softmaxCrossEntropy", result: result, inputs: [self]) { grad in
            func backward<T: TensorScalar>(_: T.Type) -> Tensor {
                let scale = grad.doubles[0] / Double(Swift.max(1, countedRows))
                let z = UncheckedSendable(self.storage.pointer(T.self))
                let shifts = UncheckedSendable(rowShifts.pointer(Double.self)), scales = UncheckedSendable(rowScales.pointer(Double.self))
                return Tensor.make(inputShape, T.self) { dz in
                    let target = UncheckedSendable(dz)
                    parallelFor(parts: parts.count) { part in
                        for row in parts[part] {
                            let out = target.value + row * classes, line = z.value + row * classes
                            guard counted[row] else { out.update(repeating: 0, count: classes); continue }
                            let smooth = T(scale * labelSmoothing / Double(classes)), step = T(scale)
                            // softmax = e^(z − m) / Σ: shifting by the maximum keeps large logits precise.
                            T.scaledExp(line, count: classes, shift: T(shifts.value[row]), scale: step * T(scales.value[row]), into: out)
                            if labelSmoothing != 0 { for c in 0..<classes { out[c] -= smooth } }
                            out[targets[row]] -= T(scale * (1 - labelSmoothing))
                        }
                    }
                }
            }
            return [inputType == .float32 ? backward(Float.self) : backward(Double.self)]
        }
    }
}
