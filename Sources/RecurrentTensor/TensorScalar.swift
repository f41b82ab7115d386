// The element types a tensor can hold. Float32 is the working type; Float64 exists so that gradient checks
// can run every op in double precision (finite differences in Float32 cannot resolve a wrong derivative from
// rounding noise). Each op is written once, generically, and dispatched on the tensor's dtype.

import RecurrentKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

/// Float or Double, with the math each op needs.
public protocol TensorScalar: GEMMScalar {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { tanhf(x) }
    @inlinable public static func sqrt(_ x: Float) -> Float { x.squareRoot() }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    @inlinable public static func exp(_ x: Double) -> Double { libmExp(x) }
    @inlinable public static func log(_ x: Double) -> Double { libmLog(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { libmTanh(x) }
    @inlinable public static func sqrt(_ x: Double) -> Double { x.squareRoot() }
}

// The C library's double-precision functions, named apart from the protocol requirements they implement.
@usableFromInline func libmExp(_ x: Double) -> Double { exp(x) }
@usableFromInline func libmLog(_ x: Double) -> Double { log(x) }
@usableFromInline func libmTanh(_ x: Double) -> Double { tanh(x) }
@usableFromInline func libmCos(_ x: Double) -> Double { cos(x) }
