// The element types a tensor can hold. Float32 is the working type; Float64 exists so that gradient checks
// can run every op in double precision (finite differences in Float32 cannot resolve a wrong derivative from
// rounding noise). Each op is written once, generically, and dispatched on the tensor's dtype.

import RecurrentKernels


/// A tensor's element type.
public enum DType: String, Sendable, CustomStringConvertible {
    case float32
    case float64

    public var description: String { rawValue }

    /// Bytes per element.
    public var byteSize: Int { self == .float32 ? 4 : 8 }

    /// The wider of two types: mixing Float32 and Float64 computes in Float64.
    static func promoted(_ a: DType, _ b: DType) -> DType { a == .float64 || b == .float64 ? .float64 : .float32 }
}

/// Float or Double: a kernel scalar with its dtype.
public protocol TensorScalar: KernelScalar {
    static var dtype: DType { get }
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
}
