// The tensor: an n-dimensional array of Float32 (or Float64 for gradient checks), row-major and contiguous,
// with value semantics. Copies share storage until one of them is written to.

import RecurrentKernels

/// An n-dimensional array with value semantics and reverse-mode differentiation.
///
/// ```swift
/// let x = Tensor([[1, 2], [3, 4]])                 // (2, 2) Float32
/// let w = Tensor.ones([2, 3]).requiringGradient()
/// let loss = x.matmul(w).tanh().sum()
/// loss.backward()
/// print(w.grad!)                                    // ∂loss/∂w, shape (2, 3)
/// ```
public struct Tensor: CustomStringConvertible {
    public private(set) var shape: Shape
    var storage: TensorStorage
    var node: AutodiffNode?

    init(shape: Shape, storage: TensorStorage) {
        require(shape.elementCount == storage.count, "internal: shape \(shape) over \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    public var dtype: DType { storage.dtype }
    public var rank: Int { shape.rank }
    public var elementCount: Int { shape.elementCount }

    // MARK: - Making tensors

    /// A tensor of the given shape and values (row-major), as Float32 unless `dtype` says otherwise.
    public init(shape: Shape, scalars: [Float], dtype: DType = .float32) {
        require(scalars.count == shape.elementCount, "Tensor(shape:scalars:): \(scalars.count) values for shape \(shape), which holds \(shape.elementCount)")
        let storage = TensorStorage(dtype: .float32, count: scalars.count)
        _ = scalars.withUnsafeBufferPointer { storage.buffer(Float.self).initialize(fromContentsOf: $0) }
        self.init(shape: shape, storage: storage.converted(to: dtype))
    }

    /// A tensor of the given shape and Float64 values, stored as `dtype` (Float64 by default).
    public init(shape: Shape, doubles: [Double], dtype: DType = .float64) {
        require(doubles.count == shape.elementCount, "Tensor(shape:doubles:): \(doubles.count) values for shape \(shape), which holds \(shape.elementCount)")
        let storage = TensorStorage(dtype: .float64, count: doubles.count)
        _ = doubles.withUnsafeBufferPointer { storage.buffer(Double.self).initialize(fromContentsOf: $0) }
        self.init(shape: shape, storage: storage.converted(to: dtype))
    }

    /// A scalar (rank 0).
    public init(_ value: Float, dtype: DType = .float32) { self.init(shape: [], scalars: [value], dtype: dtype) }

    /// A vector.
    public init(_ values: [Float], dtype: DType = .float32) { self.init(shape: [values.count], scalars: values, dtype: dtype) }

    /// A matrix from rows of equal length.
    public init(_ rows: [[Float]], dtype: DType = .float32) {
        let columns = rows.first?.count ?? 0
        require(rows.allSatisfy { $0.count == columns }, "Tensor(rows): rows have different lengths \(rows.map(\.count))")
        self.init(shape: [rows.count, columns], scalars: rows.flatMap { $0 }, dtype: dtype)
    }

    /// All elements `value`.
    public static func full(_ shape: Shape, _ value: Double, dtype: DType = .float32) -> Tensor {
        let storage = TensorStorage(dtype: dtype, count: shape.elementCount)
        switch dtype {
        case .float32: storage.buffer(Float.self).initialize(repeating: Float(value))
        case .float64: storage.buffer(Double.self).initialize(repeating: value)
        }
        return Tensor(shape: shape, storage: storage)
    }

    public static func zeros(_ shape: Shape, dtype: DType = .float32) -> Tensor {
        Tensor(shape: shape, storage: .zeros(dtype: dtype, count: shape.elementCount))
    }

    public static func ones(_ shape: Shape, dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }

    /// start, start + step, … up to but excluding `end`, as a vector.
    public static func arange(_ start: Double = 0, to end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        require(step != 0 && step.isFinite && start.isFinite && end.isFinite, "arange: start \(start), end \(end) and step \(step) must be finite, step non-zero")
        let count = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor(shape: [count], doubles: (0..<count).map { start + Double($0) * step }, dtype: dtype)
    }

    /// `count` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) -> Tensor {
        require(count >= 0, "linspace: negative count \(count)")
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        return Tensor(shape: [count], doubles: (0..<count).map { start + Double($0) * step }, dtype: dtype)
    }

    /// The identity matrix.
    public static func eye(_ size: Int, dtype: DType = .float32) -> Tensor {
        var values = [Double](repeating: 0, count: size * size)
        for i in 0..<size { values[i * size + i] = 1 }
        return Tensor(shape: [size, size], doubles: values, dtype: dtype)
    }

    // MARK: - Reading values

    /// The elements in row-major order, as Float32.
    public var scalars: [Float] {
        let converted = storage.converted(to: .float32)
        return Array(converted.buffer(Float.self))
    }

    /// The elements in row-major order, as Float64.
    public var doubles: [Double] {
        let converted = storage.converted(to: .float64)
        return Array(converted.buffer(Double.self))
    }

    /// The value of a one-element tensor.
    public var item: Float {
        require(elementCount == 1, "item: tensor of shape \(shape) has \(elementCount) elements, not 1")
        return scalars[0]
    }

    /// The element at a full index (one position per dimension).
    public subscript(index: Int...) -> Double {
        require(index.count == rank, "subscript: \(index.count) indices for a tensor of rank \(rank) \(shape)")
        var offset = 0
        for (axis, position) in index.enumerated() {
            require((0..<shape[axis]).contains(position), "subscript: index \(position) out of range for axis \(axis) of \(shape)")
            offset = offset * shape[axis] + position
        }
        switch dtype {
        case .float32: return Double(storage.pointer(Float.self)[offset])
        case .float64: return storage.pointer(Double.self)[offset]
        }
    }

    /// This tensor as `dtype`; differentiable (the gradient converts back).
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return self }
        let result = Tensor(shape: shape, storage: storage.converted(to: target))
        let sourceType = dtype
        return Tensor.record("convert(\(target))", result: result, inputs: [self]) { grad in [grad.converted(to: sourceType)] }
    }

    // MARK: - Raw access

    /// Calls `body` with the elements, which must be of type `T` (matching `dtype`).
    public func withUnsafeBuffer<T: TensorScalar, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        require(T.dtype == dtype, "withUnsafeBuffer: tensor holds \(dtype), asked for \(T.dtype)")
        return try body(UnsafeBufferPointer(storage.buffer(T.self)))
    }

    /// Calls `body` with writable elements, copying the storage first if another tensor shares it. Writing
    /// this way is not recorded for differentiation.
    public mutating func withUnsafeMutableBuffer<T: TensorScalar, R>(as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        require(T.dtype == dtype, "withUnsafeMutableBuffer: tensor holds \(dtype), asked for \(T.dtype)")
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try body(storage.buffer(T.self))
    }

    /// A tensor of `shape` whose elements `fill` writes (every one of them).
    static func make<T: TensorScalar>(_ shape: Shape, _: T.Type, fill: (UnsafeMutablePointer<T>) -> Void) -> Tensor {
        let storage = TensorStorage(dtype: T.dtype, count: shape.elementCount)
        fill(storage.pointer(T.self))
        return Tensor(shape: shape, storage: storage)
    }

    /// The same elements under another shape of the same element count (no copy, not recorded).
    func sharingStorage(as newShape: Shape) -> Tensor { Tensor(shape: newShape, storage: storage) }

    // MARK: - Printing

    public var description: String {
        let values = doubles
        func format(_ value: Double) -> String {
            if value == value.rounded(), Swift.abs(value) < 1e7 { return String(Int(value)) }
            return String(Float(value))
        }
        func render(_ axis: Int, _ offset: Int) -> String {
            if axis == rank { return format(values[offset]) }
            let stride = shape.dimensions[(axis + 1)...].reduce(1, *)
            let count = shape[axis]
            let shown = count > 8 ? Array(0..<3) + [-1] + Array((count - 3)..<count) : Array(0..<count)
            let parts = shown.map { $0 < 0 ? "…" : render(axis + 1, offset + $0 * stride) }
            return "[" + parts.joined(separator: axis == rank - 1 ? ", " : ",\n" + String(repeating: " ", count: axis + 1)) + "]"
        }
        let body = elementCount == 0 ? "[]" : render(0, 0)
        return "Tensor\(shape) \(dtype)\(requiresGradient ? " requires-grad" : "")\n\(body)"
    }
}
