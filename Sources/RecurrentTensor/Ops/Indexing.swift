// Selecting by index: rows of an embedding table, and one element per row (a label's log-probability).
// Backward scatters the gradient back, adding where an index repeats.

import RecurrentKernels

extension Tensor {
    /// The slices at `indices` along `axis`. With `indexShape`, that axis is replaced by the index shape:
    /// an embedding table (V, D) looked up with indices of shape (B, T) gives (B, T, D).
    public func indexSelect(_ indices: [Int], alongAxis axis: Int = 0, indexShape: Shape? = nil) -> Tensor {
        let axis = resolvedAxis(axis, "indexSelect")
        let indexShape = indexShape ?? Shape([indices.count])
        require(indexShape.elementCount == indices.count, "indexSelect: index shape \(indexShape) holds \(indexShape.elementCount) indices, \(indices.count) given")
        let (outer, size, inner) = shape.split(at: axis)
        for (position, index) in indices.enumerated() where !(0..<size).contains(index) {
            fatalError("indexSelect: index \(index) at position \(position) is out of range 0..<\(size) for axis \(axis) of shape \(shape)")
        }
        let outputShape = Shape(Array(shape.dimensions[..<axis]) + indexShape.dimensions + Array(shape.dimensions[(axis + 1)...]))
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(outputShape, T.self) { y in
                for o in 0..<outer {
                    for (position, index) in indices.enumerated() {
                        (y + (o * indices.count + position) * inner).update(from: x + (o * size + index) * inner, count: inner)
                    }
                }
            }
        }
        let result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        let inputShape = shape, inputType = dtype
        return Tensor.record("indexSelect", result: result, inputs: [self]) { grad in
            // Scatter-add: a slice chosen twice receives both gradients.
            func backward<T: TensorScalar>(_: T.Type) -> Tensor {
                let g = grad.storage.pointer(T.self)
                var dx = Tensor.zeros(inputShape, dtype: inputType)
                dx.withUnsafeMutableBuffer(as: T.self) { d in
                    for o in 0..<outer {
                        for (position, index) in indices.enumerated() {
                            let target = d.baseAddress! + (o * size + index) * inner
                            let source = g + (o * indices.count + position) * inner
                            for i in 0..<inner { target[i] += source[i] }
                        }
                    }
                }
                return dx
            }
            return [inputType == .float32 ? backward(Float.self) : backward(Double.self)]
        }
    }

    /// For a tensor (…, C), the element `indices[r]` of each row r (rows in row-major order over the leading
    /// axes): shape (…). Picks each example's class score or log-probability.
    public func gather(lastAxisIndices indices: [Int]) -> Tensor {
        require(rank >= 1, "gather: needs rank ≥ 1, got a scalar")
        let classes = shape[rank - 1], rows = elementCount / Swift.max(1, classes)
        require(indices.count == rows, "gather: \(indices.count) indices for \(rows) rows of shape \(shape)")
        for (row, index) in indices.enumerated() where !(0..<classes).contains(index) {
            fatalError("gather: index \(index) for row \(row) is out of range 0..<\(classes) (shape \(shape))")
        }
        let outputShape = Shape(Array(shape.dimensions.dropLast()))
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(outputShape, T.self) { y in
                for row in 0..<rows { y[row] = x[row * classes + indices[row]] }
            }
        }
        let result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        let inputShape = shape, inputType = dtype
        return Tensor.record("gather", result: result, inputs: [self]) { grad in
            func backward<T: TensorScalar>(_: T.Type) -> Tensor {
                let g = grad.storage.pointer(T.self)
                var dx = Tensor.zeros(inputShape, dtype: inputType)
                dx.withUnsafeMutableBuffer(as: T.self) { d in
                    for row in 0..<rows { d[row * classes + indices[row]] += g[row] }
                }
                return dx
            }
            return [inputType == .float32 ? backward(Float.self) : backward(Double.self)]
        }
    }
}
