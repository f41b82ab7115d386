import Testing
import RecurrentKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The vectorised functions against the C library, over a dense sweep: relative error within a few ulp,
/// and exact saturation (no NaN, no overflow) at the ends.
@Suite struct FastMathTests {
    /// Every 1/1024 over [-30, 30], plus tiny and huge magnitudes.
    static let inputs: [Float] = (-30_720...30_720).map { Float($0) / 1024 } + [1e-30, -1e-30, 1e-6, -1e-6, 88, -88, 100, -100, 1e4, -1e4, .infinity, -.infinity]

    func worstRelativeError(_ function: (FastMath.Vector) -> FastMath.Vector, _ reference: (Double) -> Double) -> (error: Double, at: Float) {
        var worst = (error: 0.0, at: Float(0))
        for start in stride(from: 0, to: Self.inputs.count, by: FastMath.lanes) {
            var vector = FastMath.Vector()
            for lane in 0..<FastMath.lanes { vector[lane] = Self.inputs[min(start + lane, Self.inputs.count - 1)] }
            let result = function(vector)
            for lane in 0..<FastMath.lanes {
                let x = vector[lane], expected = reference(Double(x))
                let error = expected == 0 ? Double(Swift.abs(result[lane])) : Swift.abs(Double(result[lane]) - expected) / Swift.abs(expected)
                if !(error <= worst.error) { worst = (error.isNaN ? .infinity : error, x) }
            }
        }
        return worst
    }

    /// `values` in the first lanes, zero after.
    func vector(_ values: Float...) -> FastMath.Vector {
        var vector = FastMath.Vector()
        for (lane, value) in values.enumerated() { vector[lane] = value }
        return vector
    }

    @Test func expWithinFourUlp() {
        // Inputs beyond ±88 are clamped: compare where Float's exp is finite and normal.
        let worst = worstRelativeError(FastMath.exp) { x in x > 88 ? exp(88) : (x < -87 ? 0 : exp(x)) }
        #expect(worst.error < 4.8e-7 || worst.at < -87, "worst relative error \(worst.error) at \(worst.at)")
    }

    @Test func sigmoidWithinFourUlp() {
        let worst = worstRelativeError(FastMath.sigmoid) { x in x < -87 ? 0 : 1 / (1 + exp(-x)) }
        #expect(worst.error < 4.8e-7, "worst relative error \(worst.error) at \(worst.at)")
        let ends = FastMath.sigmoid(vector(-.infinity, .infinity, -1e4, 1e4, 0, -100, 100, 1))
        #expect(ends[0] >= 0 && ends[0] < 1e-37 && ends[1] == 1 && ends[3] == 1 && ends[4] == 0.5)
    }

    @Test func tanhWithinFourUlp() {
        let worst = worstRelativeError(FastMath.tanh) { tanh($0) }
        #expect(worst.error < 4.8e-7, "worst relative error \(worst.error) at \(worst.at)")
        let ends = FastMath.tanh(vector(-.infinity, .infinity, -1e4, 1e4, 0, 1e-30, -1e-30, 0.4))
        #expect(ends[0] == -1 && ends[1] == 1 && ends[2] == -1 && ends[3] == 1 && ends[4] == 0 && ends[5] == 1e-30 && ends[6] == -1e-30)
    }

    @Test func applyHandlesTails() {
        // One full vector and a tail of five.
        let source: [Float] = (0..<21).map { Float($0) / 8 - 1 }
        var target = [Float](repeating: .nan, count: 21)
        source.withUnsafeBufferPointer { s in target.withUnsafeMutableBufferPointer { t in FastMath.apply(21, s.baseAddress!, t.baseAddress!, FastMath.tanh) } }
        for (x, y) in zip(source, target) { #expect(Swift.abs(Double(y) - tanh(Double(x))) < 1e-6) }
    }

    /// The row maximum and Σ e^(x − max) against Float64, at widths that end in every tail length, with the
    /// maximum in a vector or in the tail; a NaN anywhere makes the maximum NaN, and an all −∞ row shifts by 0.
    @Test func shiftedExpSumMatchesFloat64() {
        for count in [1, 5, 15, 16, 17, 31, 32, 33, 47, 100] {
            for peak in [0, count / 2, count - 1] {
                var row: [Float] = (0..<count).map { Float(($0 * 37) % 23) / 4 - 3 }
                row[peak] = 9.5
                let (maximum, sum) = row.withUnsafeBufferPointer { FastMath.shiftedExpSum($0.baseAddress!, count: count) }
                let expected = row.map { exp(Double($0) - 9.5) }.reduce(0, +)
                #expect(maximum == 9.5, "count \(count), peak at \(peak): maximum \(maximum)")
                #expect(Swift.abs(Double(sum) - expected) / expected < 1e-6, "count \(count), peak at \(peak): sum \(sum), expected \(expected)")
                for poisoned in [0, peak, count - 1] {
                    var withNaN = row
                    withNaN[poisoned] = .nan
                    let result = withNaN.withUnsafeBufferPointer { FastMath.shiftedExpSum($0.baseAddress!, count: count) }
                    #expect(result.maximum.isNaN, "count \(count): NaN at \(poisoned) gave maximum \(result.maximum)")
                }
            }
            let empty = [Float](repeating: -.infinity, count: count)
            #expect(empty.withUnsafeBufferPointer { FastMath.shiftedExpSum($0.baseAddress!, count: count) }.maximum == 0)
        }
    }
}
