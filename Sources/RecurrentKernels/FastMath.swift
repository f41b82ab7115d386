// Vectorised exp, sigmoid and tanh for Float32, sixteen lanes at a time: the gate passes of the recurrent kernels
// spend most of their non-GEMM time in these, and the C library evaluates them one element at a time.
// Their references are the C library's expf/tanhf (see FastMathTests for the measured error).
//
//   exp(x):  0 below −88; else x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two parts so n·ln2 is exact), e^r by a degree-6
//            polynomial (Cephes' expf coefficients), times 2ⁿ built in the exponent bits. ≤ 2 ulp.
//   sigmoid: 1 / (1 + e^−x); exp's input is clamped, so ±∞ and huge |x| give exactly 0 or 1, never NaN.
//   tanh:    x·P(x²)/Q(x²), P of degree 5 and Q of degree 3 in x², x clamped to ±9 (beyond it Float32's tanh is
//            ±1); coefficients fitted for relative error by Scripts/math/fit_tanh.py, which also measures the
//            Float32 evaluation at every float in [1e-4, 9]: ≤ 3.9e-7 relative (≤ 7 ulp just below 1).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if arch(x86_64) && RECURRENT_X86_FMA
import _Builtin_intrinsics.intel
#endif

public enum FastMath {
    /// Sixteen lanes, two AVX2 registers: every operation on a Vector compiles to two independent instructions
    /// side by side. The polynomials are long dependency chains, and eight lanes left the core waiting on each
    /// step's latency; with two chains interleaved the LSTM's forward gate pass runs about 1.3 times faster
    /// (`bench gates`, same run). Thirty-two lanes spilled registers and ran far slower.
    public typealias Vector = SIMD16<Float>
    public static var lanes: Int { @_transparent get { Vector.scalarCount } }

    // Multiply-adds go through `multiplyAdd`, not `a.addingProduct(b, c)`: the standard library spells the latter
    // as a loop of scalar FMAs, one per lane, for LLVM to re-vectorise, and in these long chains it re-vectorised
    // only some lanes (the eight-lane exp compiled to 77 instructions, 14 of them scalar). Swift never fuses `a * b + c` by itself, so on
    // x86-64 the FMA instruction is asked for by name: the LSTM's forward gate pass, five of these polynomials per
    // unit, runs about a fifth faster than with a multiply and an add (`bench gates`, same run).
    // (A reciprocal estimate with Newton steps in place of sigmoid's division was slower once exact at 0.5 and 1.)

    // These four are @_transparent, not @inline(__always): the optimiser took the latter as a hint and left
    // sigmoidLanes and tanhLanes as calls in the gate passes, each passing its vector as two halves and reloading
    // its constants (`bench gates`, same run: forward passes about a quarter faster inlined; backward unchanged).

    /// a·b + c. On x86-64 one FMA instruction per eight-lane half (one rounding); elsewhere `a * b + c`.
    @_transparent
    static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        #if arch(x86_64) && RECURRENT_X86_FMA
        return Vector(lowHalf: _mm256_fmadd_ps(a.lowHalf, b.lowHalf, c.lowHalf), highHalf: _mm256_fmadd_ps(a.highHalf, b.highHalf, c.highHalf))
        #else
        return a * b + c
        #endif
    }

    @_transparent
    static func expLanes(_ x: Vector) -> Vector {
        let low = Vector(repeating: -88.0), high = Vector(repeating: 88.0)
        let clamped = x.replacing(with: low, where: .!(x .>= low)).replacing(with: high, where: x .> high)   // NaN → −88
        // n = round(x / ln2) by the 1.5·2²³ trick: adding it leaves n in the low mantissa bits, so both the float
        // n and the integer n come without a conversion (Swift's SIMD float↔int conversions go lane by lane).
        let shifted = (clamped + clamped * Vector(repeating: 0.442_695_04)) + 12_582_912.0
        let n = shifted - 12_582_912.0
        var r = multiplyAdd(n, Vector(repeating: -0.693_359_375), clamped)
        r = multiplyAdd(n, Vector(repeating: 2.121_944_4e-4), r)
        var p = Vector(repeating: 1.987_569_15e-4)
        p = multiplyAdd(p, r, Vector(repeating: 1.398_199_95e-3))
        p = multiplyAdd(p, r, Vector(repeating: 8.333_451_9e-3))
        p = multiplyAdd(p, r, Vector(repeating: 4.166_579_59e-2))
        p = multiplyAdd(p, r, Vector(repeating: 1.666_666_55e-1))
        p = multiplyAdd(p, r, Vector(repeating: 5.000_000_1e-1))
        let y = multiplyAdd(p, r * r, r) + 1
        // 2ⁿ: n + 127 in the exponent field (n ∈ [−127, 127] after the clamp).
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let exponent = (integer &+ 127) &<< 23
        // Below −88 the true value is under 2⁻¹²⁶ (a denormal or 0 in expf): 0, so masked logits weigh nothing.
        return (y * unsafeBitCast(exponent, to: Vector.self)).replacing(with: 0, where: x .< low)
    }

    /// Below −88 the result would be a denormal at most (e⁸⁸ is clamped): exactly 0 there, as the C library's
    /// exp gives, so saturated gates hold no denormals to slow the arithmetic after them.
    @_transparent
    static func sigmoidLanes(_ x: Vector) -> Vector { (1 / (1 + expLanes(-x))).replacing(with: 0, where: x .< -88) }

    /// One rational function over the whole range — no exp, no branch to blend — so the LSTM's two tanh per
    /// element cost about a third of what the exp form did.
    @_transparent
    static func tanhLanes(_ x: Vector) -> Vector {
        let limit = Vector(repeating: 9)
        let clamped = x.replacing(with: limit, where: x .> limit).replacing(with: -limit, where: x .< -limit)   // NaN stays
        let s = clamped * clamped
        var p = Vector(repeating: 1.841_850_630e-11)
        p = multiplyAdd(p, s, Vector(repeating: -1.285_408_935e-8))
        p = multiplyAdd(p, s, Vector(repeating: 9.295_388_736e-6))
        p = multiplyAdd(p, s, Vector(repeating: 2.924_130_298e-3))
        p = multiplyAdd(p, s, Vector(repeating: 1.292_249_858e-1))
        p = multiplyAdd(p, s, Vector(repeating: 1))
        var q = Vector(repeating: 2.285_468_945e-4)
        q = multiplyAdd(q, s, Vector(repeating: 2.377_735_078e-2))
        q = multiplyAdd(q, s, Vector(repeating: 4.625_579_715e-1))
        q = multiplyAdd(q, s, Vector(repeating: 1))
        // Rounding can carry the ratio up to 2 ulp past ±1 near the clamp. (`pointwiseMin` would be a call here.)
        let ratio = clamped * p / q
        return ratio.replacing(with: 1, where: ratio .> 1).replacing(with: -1, where: ratio .< -1)
    }

    // The public forms are calls, never inlined: their bodies use an x86-64-v3 instruction (FMA by name), which
    // only code compiled for that target may contain — inlined into a module built without
    // `-march=x86-64-v3`, the compiler stops. This module's own loops use the `…Lanes` forms, inlined.

    /// e^x for sixteen lanes (see the file's header for the method and error).
    @inline(never) public static func exp(_ x: Vector) -> Vector { expLanes(x) }
    /// σ(x) for sixteen lanes.
    @inline(never) public static func sigmoid(_ x: Vector) -> Vector { sigmoidLanes(x) }
    /// tanh(x) for sixteen lanes.
    @inline(never) public static func tanh(_ x: Vector) -> Vector { tanhLanes(x) }

    /// Applies `function` to `count` floats at `source`, writing `target` (which may be `source`).
    @inline(__always)
    public static func apply(
        _ count: Int, _ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, _ function: (Vector) -> Vector
    ) {
        var j = 0
        while j + lanes <= count {
            let value = UnsafeRawPointer(source + j).loadUnaligned(as: Vector.self)
            UnsafeMutableRawPointer(target + j).storeBytes(of: function(value), as: Vector.self)
            j += lanes
        }
        if j < count {
            var tail = Vector()
            for lane in 0..<(count - j) { tail[lane] = source[j + lane] }
            let result = function(tail)
            for lane in 0..<(count - j) { target[j + lane] = result[lane] }
        }
    }
}

extension FastMath {
    /// The row maximum m and Σ e^(x_i − m) over `count` floats (so log-sum-exp = m + log Σ without overflow).
    /// A row whose maximum is ±∞ gets m = 0, as the scalar softmax does; NaN stays NaN.
    public static func shiftedExpSum(_ x: UnsafePointer<Float>, count: Int) -> (maximum: Float, sum: Float) {
        // A compare and a blend per half, NaNs noted apart: the standard library's pointwiseMax went lane by lane
        // through the stack, and made this pass the slowest part of a translation model's loss.
        var maxima = Vector(repeating: -.infinity)
        var sawNaN = SIMDMask<SIMD16<Int32>>(repeating: false)
        var j = 0
        while j + lanes <= count {
            let values = UnsafeRawPointer(x + j).loadUnaligned(as: Vector.self)
            maxima = maxima.replacing(with: values, where: values .> maxima)
            sawNaN = sawNaN .| (values .!= values)
            j += lanes
        }
        var maximum = maxima.max()
        for tail in j..<count {
            if x[tail].isNaN { sawNaN = .init(repeating: true) }
            maximum = Swift.max(maximum, x[tail])
        }
        if any(sawNaN) { maximum = .nan }
        if !maximum.isFinite && !maximum.isNaN { maximum = 0 }
        let shift = Vector(repeating: maximum)
        var sums = Vector()
        j = 0
        while j + lanes <= count {
            sums += expLanes(UnsafeRawPointer(x + j).loadUnaligned(as: Vector.self) - shift)
            j += lanes
        }
        var sum = sums.sum()
        for tail in j..<count { sum += expf(x[tail] - maximum) }
        return (maximum, sum)
    }

    /// target_i = scale · e^(x_i − shift) for `count` floats (a softmax row with shift = the row maximum m and
    /// scale = 1 / Σ e^(x − m)).
    public static func scaledExp(_ x: UnsafePointer<Float>, count: Int, shift: Float, scale: Float, into target: UnsafeMutablePointer<Float>) {
        let shiftVector = Vector(repeating: shift), scaleVector = Vector(repeating: scale)
        apply(count, x, target) { scaleVector * expLanes($0 - shiftVector) }
    }
}
