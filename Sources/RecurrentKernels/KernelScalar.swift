// The element types kernels are written for: Float (the working type) and Double (for gradient checks).
// Each kernel is written once, generically, and specialised for both.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RecurrentAVX512

/// Float or Double, with the math and the GEMM kernels need.
public protocol KernelScalar: GEMMScalar {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
    /// x ← σ(x) for `count` elements (vectorised for Float).
    static func sigmoid(inPlace x: UnsafeMutablePointer<Self>, count: Int)
    /// target ← tanh(source) for `count` elements; target may equal source (vectorised for Float).
    static func tanh(_ source: UnsafePointer<Self>, into target: UnsafeMutablePointer<Self>, count: Int)
    /// The maximum m of `count` elements (0 when ±∞) and Σ e^(x_i − m) (vectorised for Float).
    static func shiftedExpSum(_ x: UnsafePointer<Self>, count: Int) -> (maximum: Self, sum: Self)
    /// target_i = scale · e^(x_i − shift) for `count` elements (vectorised for Float).
    static func scaledExp(_ x: UnsafePointer<Self>, count: Int, shift: Self, scale: Self, into target: UnsafeMutablePointer<Self>)
    /// One row of the LSTM's forward gate pass, bias and state copies included (see `LSTMGates`; vectorised for Float).
    static func lstmGatesForward(
        gates: UnsafeMutablePointer<Self>, bias: UnsafePointer<Self>, cell: UnsafeMutablePointer<Self>, savedCell: UnsafeMutablePointer<Self>,
        output: UnsafeMutablePointer<Self>, state: UnsafeMutablePointer<Self>, hidden: Int)
    /// `lstmGatesForward` over `rows` rows of one step, row r's buffers r strides after the first (the bias
    /// shared): for Float one call into the vector pass for the whole step.
    static func lstmGatesForwardRows(
        _ rows: Int, gates: UnsafeMutablePointer<Self>, gatesStride: Int, bias: UnsafePointer<Self>, cell: UnsafeMutablePointer<Self>, cellStride: Int,
        savedCell: UnsafeMutablePointer<Self>, savedCellStride: Int, output: UnsafeMutablePointer<Self>, outputStride: Int,
        state: UnsafeMutablePointer<Self>, stateStride: Int, hidden: Int)
    /// The tanh RNN's forward step over `rows` rows: h = tanh(p + bias) into the gate row p, the output and the
    /// state, row r of each `r` strides after the first (one pass for Float with AVX-512).
    static func rnnTanhForwardRows(
        _ rows: Int, gates: UnsafeMutablePointer<Self>, gatesStride: Int, bias: UnsafePointer<Self>, output: UnsafeMutablePointer<Self>,
        outputStride: Int, state: UnsafeMutablePointer<Self>, stateStride: Int, hidden: Int)
    /// One row of the LSTM's backward gate pass (see `LSTMGates`; vectorised for Float).
    static func lstmGatesBackward(
        gates: UnsafePointer<Self>, cell: UnsafePointer<Self>, previousCell: UnsafePointer<Self>, hiddenGradient: UnsafePointer<Self>,
        cellGradient: UnsafeMutablePointer<Self>, gateGradient: UnsafeMutablePointer<Self>, hidden: Int)
    /// One row of the GRU's forward gate pass (see `GRUGates`; vectorised for Float).
    static func gruGatesForward(
        gates: UnsafeMutablePointer<Self>, projection: UnsafePointer<Self>, candidateBias: UnsafePointer<Self>,
        candidate: UnsafeMutablePointer<Self>, state: UnsafeMutablePointer<Self>, output: UnsafeMutablePointer<Self>, hidden: Int)
    /// One row of the GRU's backward gate pass (see `GRUGates`; vectorised for Float).
    static func gruGatesBackward(
        gates: UnsafePointer<Self>, previousHidden: UnsafePointer<Self>, candidate: UnsafePointer<Self>, hiddenGradient: UnsafePointer<Self>,
        gateGradient: UnsafeMutablePointer<Self>, projectionGradient: UnsafeMutablePointer<Self>, previousHiddenGradient: UnsafeMutablePointer<Self>, hidden: Int)
    /// Σ x² over `count` elements, in Float64 (Float sums blocks of eight lanes in Float32 first).
    static func squaredSum(_ x: UnsafePointer<Self>, count: Int) -> Double
    /// op(B) made ready for `uses` products C = A·op(B) (packed once for Float when used more than once; kept as is
    /// otherwise).
    static func prepareRightOperand(transposed: Bool, b: UnsafePointer<Self>, ldb: Int, depth: Int, columns: Int, uses: Int) -> PreparedRightOperand<Self>
    /// C = A·op(B) + beta·C with a prepared op(B); A is (m, depth) with row stride lda. `threads` nil: the settings'.
    static func gemm(m: Int, a: UnsafePointer<Self>, lda: Int, prepared: PreparedRightOperand<Self>, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int, threads: Int?)
    /// GEMM with the active backend, for this element type.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

/// A right-hand GEMM operand prepared for repeated use (see `KernelScalar.prepareRightOperand`).
public struct PreparedRightOperand<T: KernelScalar> {
    let matrix: UnsafePointer<T>
    let ldb: Int
    let transposed: Bool
    let depth: Int
    let columns: Int
    let packed: PackedGEMMOperand?
}

extension KernelScalar {
    /// σ(x) = 1 / (1 + e^-x), without overflow for either sign.
    @inline(__always) public static func sigmoid(_ x: Self) -> Self {
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }
}

// The gate passes default to their scalar references (Double's code); Float overrides them with the
// sixteen-lane sweeps.
extension KernelScalar {
    public static func lstmGatesForward(
        gates: UnsafeMutablePointer<Self>, bias: UnsafePointer<Self>, cell: UnsafeMutablePointer<Self>, savedCell: UnsafeMutablePointer<Self>,
        output: UnsafeMutablePointer<Self>, state: UnsafeMutablePointer<Self>, hidden: Int
    ) {
        LSTMGates.forwardReference(gates: gates, bias: bias, cell: cell, savedCell: savedCell, output: output, state: state, hidden: hidden)
    }
    public static func lstmGatesForwardRows(
        _ rows: Int, gates: UnsafeMutablePointer<Self>, gatesStride: Int, bias: UnsafePointer<Self>, cell: UnsafeMutablePointer<Self>, cellStride: Int,
        savedCell: UnsafeMutablePointer<Self>, savedCellStride: Int, output: UnsafeMutablePointer<Self>, outputStride: Int,
        state: UnsafeMutablePointer<Self>, stateStride: Int, hidden: Int
    ) {
        lstmGatesForwardRowByRow(rows, gates: gates, gatesStride: gatesStride, bias: bias, cell: cell, cellStride: cellStride, savedCell: savedCell,
                                 savedCellStride: savedCellStride, output: output, outputStride: outputStride, state: state, stateStride: stateStride, hidden: hidden)
    }
    /// A bias pass, a tanh pass (`tanh(_:into:count:)`) and two copies per row.
    public static func rnnTanhForwardRows(
        _ rows: Int, gates: UnsafeMutablePointer<Self>, gatesStride: Int, bias: UnsafePointer<Self>, output: UnsafeMutablePointer<Self>,
        outputStride: Int, state: UnsafeMutablePointer<Self>, stateStride: Int, hidden: Int
    ) {
        for r in 0..<rows {
            let p = gates + r * gatesStride
            for j in 0..<hidden { p[j] += bias[j] }
            tanh(p, into: p, count: hidden)
            (state + r * stateStride).update(from: p, count: hidden)
            (output + r * outputStride).update(from: p, count: hidden)
        }
    }
    /// `lstmGatesForwardRows` as one `lstmGatesForward` call per row.
    static func lstmGatesForwardRowByRow(
        _ rows: Int, gates: UnsafeMutablePointer<Self>, gatesStride: Int, bias: UnsafePointer<Self>, cell: UnsafeMutablePointer<Self>, cellStride: Int,
        savedCell: UnsafeMutablePointer<Self>, savedCellStride: Int, output: UnsafeMutablePointer<Self>, outputStride: Int,
        state: UnsafeMutablePointer<Self>, stateStride: Int, hidden: Int
    ) {
        for r in 0..<rows {
            lstmGatesForward(gates: gates + r * gatesStride, bias: bias, cell: cell + r * cellStride, savedCell: savedCell + r * savedCellStride,
                             output: output + r * outputStride, state: state + r * stateStride, hidden: hidden)
        }
    }
    public static func lstmGatesBackward(
        gates: UnsafePointer<Self>, cell: UnsafePointer<Self>, previousCell: UnsafePointer<Self>, hiddenGradient: UnsafePointer<Self>,
        cellGradient: UnsafeMutablePointer<Self>, gateGradient: UnsafeMutablePointer<Self>, hidden: Int
    ) {
        LSTMGates.backwardReference(gates: gates, cell: cell, previousCell: previousCell, hiddenGradient: hiddenGradient,
                                    cellGradient: cellGradient, gateGradient: gateGradient, hidden: hidden)
    }
    public static func gruGatesForward(
        gates: UnsafeMutablePointer<Self>, projection: UnsafePointer<Self>, candidateBias: UnsafePointer<Self>,
        candidate: UnsafeMutablePointer<Self>, state: UnsafeMutablePointer<Self>, output: UnsafeMutablePointer<Self>, hidden: Int
    ) {
        GRUGates.forwardReference(gates: gates, projection: projection, candidateBias: candidateBias, candidate: candidate, state: state, output: output, hidden: hidden)
    }
    public static func gruGatesBackward(
        gates: UnsafePointer<Self>, previousHidden: UnsafePointer<Self>, candidate: UnsafePointer<Self>, hiddenGradient: UnsafePointer<Self>,
        gateGradient: UnsafeMutablePointer<Self>, projectionGradient: UnsafeMutablePointer<Self>, previousHiddenGradient: UnsafeMutablePointer<Self>, hidden: Int
    ) {
        GRUGates.backwardReference(gates: gates, previousHidden: previousHidden, candidate: candidate, hiddenGradient: hiddenGradient,
                                   gateGradient: gateGradient, projectionGradient: projectionGradient, previousHiddenGradient: previousHiddenGradient, hidden: hidden)
    }
}

extension Float: KernelScalar {
    // Recurrent steps multiply the same weight by a small batch T times: the Swift kernel with the weight packed
    // once beats any BLAS call, which repacks it every time, so Float prepares it for the Swift kernel. A single
    // step (a decoder fed one token at a time) would pack the whole weight for one product: it is left as is.
    public static func prepareRightOperand(transposed: Bool, b: UnsafePointer<Float>, ldb: Int, depth: Int, columns: Int, uses: Int) -> PreparedRightOperand<Float> {
        PreparedRightOperand(matrix: b, ldb: ldb, transposed: transposed, depth: depth, columns: columns,
                             packed: uses > 1 ? PackedGEMMOperand(transposed: transposed, b: b, ldb: ldb, depth: depth, columns: columns) : nil)
    }
    public static func gemm(m: Int, a: UnsafePointer<Float>, lda: Int, prepared: PreparedRightOperand<Float>, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int?) {
        if let packed = prepared.packed {
            GEMM.multiply(m: m, a: a, lda: lda, packed: packed, beta: beta, c: c, ldc: ldc, threads: threads)
        } else {
            GEMM.multiply(transposeA: false, transposeB: prepared.transposed, m: m, n: prepared.columns, k: prepared.depth, alpha: 1,
                          a: a, lda: lda, b: prepared.matrix, ldb: prepared.ldb, beta: beta, c: c, ldc: ldc, threads: threads)
        }
    }
    public static func sigmoid(inPlace x: UnsafeMutablePointer<Float>, count: Int) {
        if usesWideGates(nil) { recurrent_avx512_sigmoid(count, x, x) } else { FastMath.apply(count, x, x, FastMath.sigmoidLanes) }
    }
    public static func tanh(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        if usesWideGates(nil) { recurrent_avx512_tanh(count, source, target) } else { FastMath.apply(count, source, target, FastMath.tanhLanes) }
    }
    public static func shiftedExpSum(_ x: UnsafePointer<Float>, count: Int) -> (maximum: Float, sum: Float) { FastMath.shiftedExpSum(x, count: count) }
    public static func gruGatesForward(
        gates: UnsafeMutablePointer<Float>, projection: UnsafePointer<Float>, candidateBias: UnsafePointer<Float>,
        candidate: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        GRUGates.forward(gates: gates, projection: projection, candidateBias: candidateBias, candidate: candidate, state: state, output: output, hidden: hidden)
    }
    public static func gruGatesBackward(
        gates: UnsafePointer<Float>, previousHidden: UnsafePointer<Float>, candidate: UnsafePointer<Float>, hiddenGradient: UnsafePointer<Float>,
        gateGradient: UnsafeMutablePointer<Float>, projectionGradient: UnsafeMutablePointer<Float>, previousHiddenGradient: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        GRUGates.backward(gates: gates, previousHidden: previousHidden, candidate: candidate, hiddenGradient: hiddenGradient,
                          gateGradient: gateGradient, projectionGradient: projectionGradient, previousHiddenGradient: previousHiddenGradient, hidden: hidden)
    }
    public static func lstmGatesForward(
        gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, cell: UnsafeMutablePointer<Float>, savedCell: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        LSTMGates.forward(gates: gates, bias: bias, cell: cell, savedCell: savedCell, output: output, state: state, hidden: hidden)
    }
    public static func lstmGatesForwardRows(
        _ rows: Int, gates: UnsafeMutablePointer<Float>, gatesStride: Int, bias: UnsafePointer<Float>, cell: UnsafeMutablePointer<Float>, cellStride: Int,
        savedCell: UnsafeMutablePointer<Float>, savedCellStride: Int, output: UnsafeMutablePointer<Float>, outputStride: Int,
        state: UnsafeMutablePointer<Float>, stateStride: Int, hidden: Int
    ) {
        if usesWideGates(nil) {
            recurrent_avx512_lstm_forward_rows(rows, gates, gatesStride, bias, cell, cellStride, savedCell, savedCellStride, output, outputStride,
                                               state, stateStride, hidden)
            return
        }
        lstmGatesForwardRowByRow(rows, gates: gates, gatesStride: gatesStride, bias: bias, cell: cell, cellStride: cellStride, savedCell: savedCell,
                                 savedCellStride: savedCellStride, output: output, outputStride: outputStride, state: state, stateStride: stateStride, hidden: hidden)
    }
    public static func rnnTanhForwardRows(
        _ rows: Int, gates: UnsafeMutablePointer<Float>, gatesStride: Int, bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        outputStride: Int, state: UnsafeMutablePointer<Float>, stateStride: Int, hidden: Int
    ) {
        RNNTanhStep.forwardRows(rows, gates: gates, gatesStride: gatesStride, bias: bias, output: output, outputStride: outputStride,
                                state: state, stateStride: stateStride, hidden: hidden)
    }
    public static func lstmGatesBackward(
        gates: UnsafePointer<Float>, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>, hiddenGradient: UnsafePointer<Float>,
        cellGradient: UnsafeMutablePointer<Float>, gateGradient: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        LSTMGates.backward(gates: gates, cell: cell, previousCell: previousCell, hiddenGradient: hiddenGradient, cellGradient: cellGradient, gateGradient: gateGradient, hidden: hidden)
    }
    public static func squaredSum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0, start = 0
        // Blocks of 256: eight Float32 lanes of 32 squares each, then Float64 (relative error near 1e-6).
        while start < count {
            let end = Swift.min(count, start + 256)
            var lanes = SIMD8<Float>()
            var j = start
            while j + 8 <= end {
                let value = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
                lanes = lanes.addingProduct(value, value)
                j += 8
            }
            var block = Double(lanes.sum())
            while j < end { block += Double(x[j]) * Double(x[j]); j += 1 }
            if !block.isFinite {
                // A square beyond Float32's range (|x| > 1.8e19) is still finite: redo the block in Float64.
                block = 0
                for k in start..<end { block += Double(x[k]) * Double(x[k]) }
            }
            total += block
            start = end
        }
        return total
    }
    public static func scaledExp(_ x: UnsafePointer<Float>, count: Int, shift: Float, scale: Float, into target: UnsafeMutablePointer<Float>) {
        FastMath.scaledExp(x, count: count, shift: shift, scale: scale, into: target)
    }
    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { tanhf(x) }
    @inlinable public static func sqrt(_ x: Float) -> Float { x.squareRoot() }
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}

extension Double: KernelScalar {
    public static func prepareRightOperand(transposed: Bool, b: UnsafePointer<Double>, ldb: Int, depth: Int, columns: Int, uses: Int) -> PreparedRightOperand<Double> {
        PreparedRightOperand(matrix: b, ldb: ldb, transposed: transposed, depth: depth, columns: columns, packed: nil)
    }
    public static func gemm(m: Int, a: UnsafePointer<Double>, lda: Int, prepared: PreparedRightOperand<Double>, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int, threads: Int?) {
        GEMM.multiply(transposeA: false, transposeB: prepared.transposed, m: m, n: prepared.columns, k: prepared.depth, alpha: 1,
                      a: a, lda: lda, b: prepared.matrix, ldb: prepared.ldb, beta: beta, c: c, ldc: ldc, threads: threads)
    }
    // Float64 is for gradient checks: the C library's functions, one element at a time.
    public static func sigmoid(inPlace x: UnsafeMutablePointer<Double>, count: Int) {
        for j in 0..<count { x[j] = sigmoid(x[j]) }
    }
    public static func tanh(_ source: UnsafePointer<Double>, into target: UnsafeMutablePointer<Double>, count: Int) {
        for j in 0..<count { target[j] = libmTanh(source[j]) }
    }
    public static func shiftedExpSum(_ x: UnsafePointer<Double>, count: Int) -> (maximum: Double, sum: Double) {
        var maximum = -Double.infinity
        for j in 0..<count { maximum = Swift.max(maximum, x[j]) }
        if !maximum.isFinite && !maximum.isNaN { maximum = 0 }
        var sum = 0.0
        for j in 0..<count { sum += libmExp(x[j] - maximum) }
        return (maximum, sum)
    }
    public static func squaredSum(_ x: UnsafePointer<Double>, count: Int) -> Double {
        var total = 0.0
        for j in 0..<count { total += x[j] * x[j] }
        return total
    }
    public static func scaledExp(_ x: UnsafePointer<Double>, count: Int, shift: Double, scale: Double, into target: UnsafeMutablePointer<Double>) {
        for j in 0..<count { target[j] = scale * libmExp(x[j] - shift) }
    }
    @inlinable public static func exp(_ x: Double) -> Double { libmExp(x) }
    @inlinable public static func log(_ x: Double) -> Double { libmLog(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { libmTanh(x) }
    @inlinable public static func sqrt(_ x: Double) -> Double { x.squareRoot() }
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}

// The C library's double-precision functions, named apart from the protocol requirements they implement
// (inside `extension Double`, a bare `exp` would call the requirement itself).
public func libmExp(_ x: Double) -> Double { exp(x) }
@usableFromInline func libmLog(_ x: Double) -> Double { log(x) }
@usableFromInline func libmTanh(_ x: Double) -> Double { tanh(x) }
public func libmCos(_ x: Double) -> Double { cos(x) }
