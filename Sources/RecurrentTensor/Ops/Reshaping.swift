// Ops that move elements without arithmetic: reshape, permute/transpose, slice, concatenate, stack.
// Tensors are always contiguous, so every op but reshape copies.

import RecurrentKernels

extension Tensor {
    /// The same elements in a new shape; one dimension may be -1 and is then inferred.
    public func reshaped(_ dimensions: [Int]) -> Tensor {
        var resolved = dimensions
        let inferred = dimensions.indices.filter { dimensions[$0] == -1 }
        require(inferred.count <= 1 && dimensions.allSatisfy { $0 >= -1 }, "reshape: invalid target \(dimensions) for shape \(shape)")
        if let position = inferred.first {
            let known = dimensions.filter { $0 != -1 }.reduce(1, *)
            require(known > 0 && elementCount % known == 0, "reshape: cannot reshape \(shape) (\(elementCount) elements) to \(dimensions)")
            resolved[position] = elementCount / known
        }
        let target = Shape(resolved)
        require(target.elementCount == elementCount, "reshape: cannot reshape \(shape) (\(elementCount) elements) to \(target) (\(target.elementCount) elements)")
        if target == shape { return self }
        let inputShape = shape
        return Tensor.record("reshape", result: sharingStorage(as: target), inputs: [self]) { grad in
            [grad.reshaped(inputShape.dimensions)]
        }
    }

    /// Inserts an axis of size 1 at `axis`.
    public func expandingDimension(at axis: Int) -> Tensor {
        let position = axis < 0 ? axis + rank + 1 : axis
        require((0...rank).contains(position), "expandingDimension: axis \(axis) out of range for shape \(shape)")
        var dimensions = shape.dimensions
        dimensions.insert(1, at: position)
        return reshaped(dimensions)
    }

    /// Removes an axis of size 1.
    public func squeezingDimension(at axis: Int) -> Tensor {
        let axis = resolvedAxis(axis, "squeeze")
        require(shape[axis] == 1, "squeeze: axis \(axis) of shape \(shape) has size \(shape[axis]), not 1")
        var dimensions = shape.dimensions
        dimensions.remove(at: axis)
        return reshaped(dimensions)
    }

    /// The axes reordered: result axis i is input axis `axes[i]`.
    public func permuted(_ axes: [Int]) -> Tensor {
        require(axes.count == rank && Set(axes) == Set(0..<rank), "permute: \(axes) is not a permutation of the \(rank) axes of \(shape)")
        if axes == Array(0..<rank) { return self }
        let outputShape = Shape(axes.map { shape[$0] })
        let inputStrides = shape.strides
        let strides = axes.map { inputStrides[$0] }
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(outputShape, T.self) { y in
                let count = outputShape.elementCount
                guard count > 0 else { return }
                var index = [Int](repeating: 0, count: rank)
                var offset = 0
                let last = rank - 1, lastSize = outputShape[last], lastStride = strides[last]
                var written = 0
                while written < count {
                    for j in 0..<lastSize { y[written + j] = x[offset + j * lastStride] }
                    written += lastSize
                    var axis = last - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < outputShape[axis] { break }
                        offset -= strides[axis] * outputShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        let result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        var inverse = [Int](repeating: 0, count: rank)
        for (position, axis) in axes.enumerated() { inverse[axis] = position }
        return Tensor.record("permute", result: result, inputs: [self]) { grad in [grad.permuted(inverse)] }
    }

    /// The last two axes swapped (a matrix transpose, batched over leading axes).
    public func transposed() -> Tensor {
        require(rank >= 2, "transposed: needs rank ≥ 2, got shape \(shape)")
        var axes = Array(0..<rank)
        axes.swapAt(rank - 1, rank - 2)
        return permuted(axes)
    }

    /// Elements `range` along `axis`.
    public func slice(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = resolvedAxis(axis, "slice")
        require(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice: range \(range) out of bounds for axis \(axis) of shape \(shape)")
        let (outer, size, inner) = shape.split(at: axis)
        var outputShape = shape
        outputShape[axis] = range.count
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(outputShape, T.self) { y in
                for o in 0..<outer {
                    (y + o * range.count * inner).update(from: x + (o * size + range.lowerBound) * inner, count: range.count * inner)
                }
            }
        }
        let result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        let inputShape = shape
        return Tensor.record("slice", result: result, inputs: [self]) { grad in
            // The slice's gradient lands where it came from; elsewhere zero.
            var pieces: [Tensor] = []
            if range.lowerBound > 0 {
                var before = inputShape; before[axis] = range.lowerBound
                pieces.append(Tensor.zeros(before, dtype: grad.dtype))
            }
            pieces.append(grad)
            if range.upperBound < inputShape[axis] {
                var after = inputShape; after[axis] = inputShape[axis] - range.upperBound
                pieces.append(Tensor.zeros(after, dtype: grad.dtype))
            }
            return [Tensor.concatenate(pieces, alongAxis: axis)]
        }
    }

    /// Tensors joined along an existing axis; all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
        require(!tensors.isEmpty, "concatenate: no tensors given")
        let first = tensors[0]
        let axis = first.resolvedAxis(axis, "concatenate")
        for (position, tensor) in tensors.enumerated() {
            var expected = first.shape.dimensions, actual = tensor.shape.dimensions
            if actual.count == expected.count { expected[axis] = 0; actual[axis] = 0 }
            require(expected == actual, "concatenate: tensor \(position) has shape \(tensor.shape), incompatible with \(first.shape) along axis \(axis)")
        }
        let dtype = tensors.dropFirst().reduce(first.dtype) { DType.promoted($0, $1.dtype) }
        let sizes = tensors.map { $0.shape[axis] }
        var outputShape = first.shape
        outputShape[axis] = sizes.reduce(0, +)
        let (outer, total, inner) = outputShape.split(at: axis)
        let storages = tensors.map { $0.storage.converted(to: dtype) }
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            Tensor.make(outputShape, T.self) { y in
                var start = 0
                for (storage, size) in zip(storages, sizes) {
                    let x = storage.pointer(T.self)
                    for o in 0..<outer { (y + (o * total + start) * inner).update(from: x + o * size * inner, count: size * inner) }
                    start += size
                }
            }
        }
        let result = dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
        return record("concatenate", result: result, inputs: tensors) { grad in
            var start = 0
            return zip(tensors, sizes).map { tensor, size in
                defer { start += size }
                return tensor.requiresGradient ? grad.slice(alongAxis: axis, start..<(start + size)) : nil
            }
        }
    }

    /// Tensors of one shape stacked along a new axis.
    public static func stack(_ tensors: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        require(!tensors.isEmpty, "stack: no tensors given")
        for (position, tensor) in tensors.enumerated() {
            require(tensor.shape == tensors[0].shape, "stack: tensor \(position) has shape \(tensor.shape), tensor 0 has \(tensors[0].shape)")
        }
        return concatenate(tensors.map { $0.expandingDimension(at: axis) }, alongAxis: axis)
    }
}
