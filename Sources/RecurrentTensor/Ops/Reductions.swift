// Reductions: sum, mean, max (with the position of the max for backward), argmax, and broadcasting a smaller
// tensor back up, which is what the backward of a reduction needs.
//
// Every along-an-axis kernel sees the input as (outer, size, inner): the axis in the middle, contiguous blocks
// of `inner` elements on each side.

import RecurrentKernels

/// Returns the first argument: broadcasting with it stretches a tensor to a shape.
enum FirstArgumentFunction: BinaryFunction {
    @inline(__always) static func value<T: TensorScalar>(_ a: T, _ b: T) -> T { a }
}

extension Tensor {
    func resolvedAxis(_ axis: Int, _ op: String) -> Int {
        guard let resolved = shape.normalizedAxis(axis) else {
            fatalError("\(op): axis \(axis) out of range for a tensor of shape \(shape)")
        }
        return resolved
    }

    /// This tensor repeated along the axes where `target` is larger (NumPy broadcasting).
    public func broadcasted(to target: Shape) -> Tensor {
        if shape == target { return self }
        require(Shape.broadcast(shape, target) == target, "broadcasted(to:): shape \(shape) cannot be broadcast to \(target)")
        // One value everywhere (the gradient of a sum, a loss's seed): a fill, not a broadcast against zeros, which
        // wrote the zeros first and then ran the general kernel over them (~3 % of a training step at RNN c).
        func filled<T: TensorScalar>(_: T.Type) -> Tensor {
            let value = storage.pointer(T.self)[0]
            return Tensor.make(target, T.self) { $0.update(repeating: value, count: target.elementCount) }
        }
        let result = elementCount == 1
            ? (dtype == .float32 ? filled(Float.self) : filled(Double.self))
            : Tensor.broadcasting("broadcast", self, Tensor.zeros(target, dtype: dtype), FirstArgumentFunction.self)
        let sourceShape = shape
        return Tensor.record("broadcast", result: result, inputs: [self]) { grad in [grad.summed(toShape: sourceShape)] }
    }

    /// The sum of all elements, as a scalar.
    public func sum() -> Tensor {
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            var total: T = 0
            for i in 0..<elementCount { total += x[i] }
            return Tensor.make([], T.self) { $0[0] = total }
        }
        let result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        let inputShape = shape
        return Tensor.record("sum", result: result, inputs: [self]) { grad in [grad.broadcasted(to: inputShape)] }
    }

    /// The sum along one axis; the axis is removed unless `keepingDimension`.
    public func sum(alongAxis axis: Int, keepingDimension: Bool = false) -> Tensor {
        let axis = resolvedAxis(axis, "sum")
        let (outer, size, inner) = shape.split(at: axis)
        var kept = shape
        kept[axis] = 1
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(kept, T.self) { y in
                for o in 0..<outer {
                    let target = y + o * inner
                    target.update(repeating: 0, count: inner)
                    for s in 0..<size {
                        let source = x + (o * size + s) * inner
                        for i in 0..<inner { target[i] += source[i] }
                    }
                }
            }
        }
        var result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        if !keepingDimension { result = result.sharingStorage(as: kept.removing(axis: axis)) }
        let inputShape = shape
        return Tensor.record("sum", result: result, inputs: [self]) { grad in
            // Every summed element receives the gradient of its sum.
            [grad.reshaped(kept.dimensions).broadcasted(to: inputShape)]
        }
    }

    /// The mean of all elements, as a scalar.
    public func mean() -> Tensor { sum() / Double(Swift.max(1, elementCount)) }

    /// The mean along one axis.
    public func mean(alongAxis axis: Int, keepingDimension: Bool = false) -> Tensor {
        let axis = resolvedAxis(axis, "mean")
        return sum(alongAxis: axis, keepingDimension: keepingDimension) / Double(Swift.max(1, shape[axis]))
    }

    /// For each (outer, inner) position, the index along the axis of the largest element (the first one when
    /// several tie; NaN counts as largest, as in PyTorch).
    func argmaxKernel(axis: Int) -> [Int] {
        let (outer, size, inner) = shape.split(at: axis)
        require(size > 0, "max/argmax: axis \(axis) of shape \(shape) is empty")
        func kernel<T: TensorScalar>(_: T.Type) -> [Int] {
            let x = storage.pointer(T.self)
            var positions = [Int](repeating: 0, count: outer * inner)
            for o in 0..<outer {
                for i in 0..<inner {
                    var best = x[o * size * inner + i], bestIndex = 0
                    if !best.isNaN {
                        for s in 1..<size {
                            let value = x[(o * size + s) * inner + i]
                            if value > best || value.isNaN {
                                best = value
                                bestIndex = s
                                if value.isNaN { break }
                            }
                        }
                    }
                    positions[o * inner + i] = bestIndex
                }
            }
            return positions
        }
        return dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
    }

    /// Indices of the largest element along `axis`, row-major over the remaining axes.
    public func argmax(alongAxis axis: Int = -1) -> [Int] { argmaxKernel(axis: resolvedAxis(axis, "argmax")) }

    /// The largest element along one axis. Its gradient goes to the (first) largest element.
    public func max(alongAxis axis: Int, keepingDimension: Bool = false) -> Tensor {
        let axis = resolvedAxis(axis, "max")
        let positions = argmaxKernel(axis: axis)
        let (outer, size, inner) = shape.split(at: axis)
        var kept = shape
        kept[axis] = 1
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(kept, T.self) { y in
                for o in 0..<outer { for i in 0..<inner { y[o * inner + i] = x[(o * size + positions[o * inner + i]) * inner + i] } }
            }
        }
        var result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        if !keepingDimension { result = result.sharingStorage(as: kept.removing(axis: axis)) }
        let inputShape = shape, inputType = dtype
        return Tensor.record("max", result: result, inputs: [self]) { grad in
            // d max = d x[argmax]
            func backward<T: TensorScalar>(_: T.Type) -> Tensor {
                let g = grad.storage.pointer(T.self)
                var dx = Tensor.zeros(inputShape, dtype: T.dtype)
                dx.withUnsafeMutableBuffer(as: T.self) { d in
                    for o in 0..<outer { for i in 0..<inner { d[(o * size + positions[o * inner + i]) * inner + i] = g[o * inner + i] } }
                }
                return dx
            }
            return [inputType == .float32 ? backward(Float.self) : backward(Double.self)]
        }
    }

    /// Whether every element is finite (no NaN, no infinity); not recorded. Read in place, no copy.
    public var isFinite: Bool {
        // Float32 squares summed in Float64 cannot overflow, so the vectorised, threaded squared sum answers it;
        // a finite Float64 value can square to infinity, so Float64 is checked element by element.
        if dtype == .float32 { return squaredSum.isFinite }
        let x = storage.pointer(Double.self)
        for i in 0..<elementCount where !x[i].isFinite { return false }
        return true
    }

    /// Σ x², accumulated in Float64 per block; not recorded (gradient norms for clipping).
    public var squaredSum: Double {
        func kernel<T: TensorScalar>(_: T.Type) -> Double {
            let x = UncheckedSendable(storage.pointer(T.self))
            let ranges = splitRanges(count: elementCount, parts: elementCount >= 1 << 17 ? ComputeSettings.threads : 1, granularity: 1024)
            var partials = [Double](repeating: 0, count: ranges.count)
            partials.withUnsafeMutableBufferPointer { partials in
                let target = UncheckedSendable(partials.baseAddress!)
                parallelFor(parts: ranges.count) { part in
                    target.value[part] = T.squaredSum(x.value + ranges[part].lowerBound, count: ranges[part].count)
                }
            }
            return partials.reduce(0, +)
        }
        return dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
    }

    /// The largest element, as a scalar.
    public func max() -> Tensor { reshaped([-1]).max(alongAxis: 0) }
}
