// The bytes behind a tensor: one 64-byte-aligned buffer of Float32 or Float64, shared between tensor values
// until one of them writes (copy-on-write, see `Tensor.withMutableBuffer`).

import RecurrentKernels

final class TensorStorage: @unchecked Sendable {
    let dtype: DType
    let count: Int
    let raw: UnsafeMutableRawPointer

    /// Uninitialised storage; every caller fills it before the tensor is seen.
    init(dtype: DType, count: Int) {
        self.dtype = dtype
        self.count = count
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * dtype.byteSize, alignment: 64)
    }

    /// Zero-filled storage.
    static func zeros(dtype: DType, count: Int) -> TensorStorage {
        let storage = TensorStorage(dtype: dtype, count: count)
        storage.raw.initializeMemory(as: UInt8.self, repeating: 0, count: count * dtype.byteSize)
        return storage
    }

    deinit { raw.deallocate() }

    func copy() -> TensorStorage {
        let clone = TensorStorage(dtype: dtype, count: count)
        clone.raw.copyMemory(from: raw, byteCount: count * dtype.byteSize)
        return clone
    }

    /// The elements as `T`; `T` must match `dtype`.
    func pointer<T: TensorScalar>(_: T.Type) -> UnsafeMutablePointer<T> {
        require(T.dtype == dtype, "internal: reading \(dtype) storage as \(T.dtype)")
        return raw.assumingMemoryBound(to: T.self)
    }

    func buffer<T: TensorScalar>(_: T.Type) -> UnsafeMutableBufferPointer<T> {
        UnsafeMutableBufferPointer(start: pointer(T.self), count: count)
    }

    /// A copy converted to `target` (the same object when the type already matches).
    func converted(to target: DType) -> TensorStorage {
        if target == dtype { return self }
        let result = TensorStorage(dtype: target, count: count)
        switch target {
        case .float64:
            let source = pointer(Float.self), destination = result.pointer(Double.self)
            for i in 0..<count { destination[i] = Double(source[i]) }
        case .float32:
            let source = pointer(Double.self), destination = result.pointer(Float.self)
            for i in 0..<count { destination[i] = Float(source[i]) }
        }
        return result
    }
}
