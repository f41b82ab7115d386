import Foundation
import Testing
import RecurrentKernels

/// The sixteen-lane gate passes against their scalar references run in Float64, for widths that leave tails of
/// 1 to 15 lanes (1, 3, 5, 7, 8, 9, 10, 15) or none, and values that saturate the gates.
@Suite struct GatePassTests {
    struct Row {
        var gates: [Float], cell: [Float], previousCell: [Float], hiddenGradient: [Float], cellGradient: [Float]
    }

    func row(hidden: Int, seed: UInt64) -> Row {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next(_ scale: Float) -> Float {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return (Float(state % 20_001) / 10_000 - 1) * scale
        }
        return Row(gates: (0..<(4 * hidden)).map { _ in next(6) }, cell: (0..<hidden).map { _ in next(3) },
                   previousCell: (0..<hidden).map { _ in next(3) }, hiddenGradient: (0..<hidden).map { _ in next(1) },
                   cellGradient: (0..<hidden).map { _ in next(1) })
    }

    func expectClose(_ actual: [Float], _ expected: [Double], _ what: String, hidden: Int) {
        for (index, (a, e)) in zip(actual, expected).enumerated() {
            #expect(Swift.abs(Double(a) - e) <= 2e-6 * Swift.max(1, Swift.abs(e)), "\(what)[\(index)] at H = \(hidden): \(a) vs \(e)")
        }
    }

    @Test(arguments: [1, 3, 7, 8, 9, 15, 16, 21, 26, 31, 33, 64])
    func forwardMatchesReference(hidden: Int) {
        let data = row(hidden: hidden, seed: UInt64(hidden)), bias = row(hidden: hidden, seed: UInt64(50 + hidden)).gates
        var gates = data.gates, cell = data.cell, output = [Float](repeating: .nan, count: hidden)
        LSTMGates.forward(gates: &gates, cell: &cell, output: &output, hidden: hidden)
        var gates64 = data.gates.map(Double.init), cell64 = data.cell.map(Double.init), output64 = [Double](repeating: .nan, count: hidden)
        LSTMGates.forwardReference(gates: &gates64, cell: &cell64, output: &output64, hidden: hidden)
        expectClose(gates, gates64, "gates", hidden: hidden)
        expectClose(cell, cell64, "cell", hidden: hidden)
        expectClose(output, output64, "h", hidden: hidden)

        // The sequence kernel's form: the bias added first, c' and h' also copied out.
        var biased = data.gates, biasedCell = data.cell, biasedOutput = [Float](repeating: .nan, count: hidden)
        var savedCell = [Float](repeating: .nan, count: hidden), state = [Float](repeating: .nan, count: hidden)
        LSTMGates.forward(gates: &biased, bias: bias, cell: &biasedCell, savedCell: &savedCell, output: &biasedOutput, state: &state, hidden: hidden)
        var biased64 = zip(data.gates, bias).map { Double($0) + Double($1) }, biasedCell64 = data.cell.map(Double.init)
        var biasedOutput64 = [Double](repeating: .nan, count: hidden)
        LSTMGates.forwardReference(gates: &biased64, cell: &biasedCell64, output: &biasedOutput64, hidden: hidden)
        expectClose(biased, biased64, "biased gates", hidden: hidden)
        expectClose(biasedCell, biasedCell64, "biased cell", hidden: hidden)
        expectClose(savedCell, biasedCell64, "saved cell", hidden: hidden)
        expectClose(biasedOutput, biasedOutput64, "biased h", hidden: hidden)
        expectClose(state, biasedOutput64, "state", hidden: hidden)
        // And the reference's own bias and copies.
        var referenceGates = data.gates.map(Double.init), referenceCell = data.cell.map(Double.init)
        var referenceOutput = [Double](repeating: .nan, count: hidden), referenceSavedCell = referenceOutput, referenceState = referenceOutput
        LSTMGates.forwardReference(gates: &referenceGates, bias: bias.map(Double.init), cell: &referenceCell, savedCell: &referenceSavedCell,
                                   output: &referenceOutput, state: &referenceState, hidden: hidden)
        #expect(referenceGates == biased64 && referenceCell == biasedCell64 && referenceSavedCell == biasedCell64)
        #expect(referenceOutput == biasedOutput64 && referenceState == biasedOutput64)
    }

    @Test(arguments: [1, 3, 7, 8, 9, 15, 16, 21, 26, 31, 33, 64])
    func backwardMatchesReference(hidden: Int) {
        let data = row(hidden: hidden, seed: UInt64(100 + hidden))
        var activated = data.gates, scratchCell = data.previousCell, scratchOutput = [Float](repeating: 0, count: hidden)
        LSTMGates.forwardReference(gates: &activated, cell: &scratchCell, output: &scratchOutput, hidden: hidden)
        var cellGradient = data.cellGradient, gateGradient = [Float](repeating: .nan, count: 4 * hidden)
        LSTMGates.backward(gates: activated, cell: data.cell, previousCell: data.previousCell, hiddenGradient: data.hiddenGradient,
                           cellGradient: &cellGradient, gateGradient: &gateGradient, hidden: hidden)
        var cellGradient64 = data.cellGradient.map(Double.init), gateGradient64 = [Double](repeating: .nan, count: 4 * hidden)
        LSTMGates.backwardReference(gates: activated.map(Double.init), cell: data.cell.map(Double.init), previousCell: data.previousCell.map(Double.init),
                                    hiddenGradient: data.hiddenGradient.map(Double.init), cellGradient: &cellGradient64, gateGradient: &gateGradient64, hidden: hidden)
        expectClose(gateGradient, gateGradient64, "dp", hidden: hidden)
        expectClose(cellGradient, cellGradient64, "dc", hidden: hidden)
    }

    @Test(arguments: [1, 3, 7, 8, 9, 15, 16, 21, 26, 31, 33, 64])
    func gruForwardMatchesReference(hidden: Int) {
        let data = row(hidden: hidden, seed: UInt64(200 + hidden)), other = row(hidden: hidden, seed: UInt64(300 + hidden))
        let projection = Array(other.gates.prefix(3 * hidden)), bias = other.cell
        var gates = Array(data.gates.prefix(3 * hidden)), state = data.cell
        var candidate = [Float](repeating: .nan, count: hidden), output = [Float](repeating: .nan, count: hidden)
        GRUGates.forward(gates: &gates, projection: projection, candidateBias: bias, candidate: &candidate, state: &state, output: &output, hidden: hidden)
        var gates64 = gates.indices.map { Double(data.gates[$0]) }, state64 = data.cell.map(Double.init)
        var candidate64 = [Double](repeating: .nan, count: hidden), output64 = [Double](repeating: .nan, count: hidden)
        GRUGates.forwardReference(gates: &gates64, projection: projection.map(Double.init), candidateBias: bias.map(Double.init),
                                  candidate: &candidate64, state: &state64, output: &output64, hidden: hidden)
        expectClose(gates, gates64, "gates", hidden: hidden)
        expectClose(candidate, candidate64, "candidate", hidden: hidden)
        expectClose(state, state64, "h", hidden: hidden)
        expectClose(output, output64, "output", hidden: hidden)
    }

    @Test(arguments: [1, 3, 7, 8, 9, 15, 16, 21, 26, 31, 33, 64])
    func gruBackwardMatchesReference(hidden: Int) {
        let data = row(hidden: hidden, seed: UInt64(400 + hidden))
        // Activated gates in (0, 1) for r, z and (−1, 1) for n, as the forward pass leaves them.
        let activated = (0..<(3 * hidden)).map { index -> Float in
            let x = data.gates[index]
            return index < 2 * hidden ? 1 / (1 + Float(Foundation.exp(Double(-x)))) : Float(Foundation.tanh(Double(x)))
        }
        var dp = [Float](repeating: .nan, count: 3 * hidden), dq = dp, next = [Float](repeating: .nan, count: hidden)
        GRUGates.backward(gates: activated, previousHidden: data.cell, candidate: data.previousCell, hiddenGradient: data.hiddenGradient,
                          gateGradient: &dp, projectionGradient: &dq, previousHiddenGradient: &next, hidden: hidden)
        var dp64 = [Double](repeating: .nan, count: 3 * hidden), dq64 = dp64, next64 = [Double](repeating: .nan, count: hidden)
        GRUGates.backwardReference(gates: activated.map(Double.init), previousHidden: data.cell.map(Double.init), candidate: data.previousCell.map(Double.init),
                                   hiddenGradient: data.hiddenGradient.map(Double.init), gateGradient: &dp64, projectionGradient: &dq64,
                                   previousHiddenGradient: &next64, hidden: hidden)
        expectClose(dp, dp64, "dp", hidden: hidden)
        expectClose(dq, dq64, "dq", hidden: hidden)
        expectClose(next, next64, "dh", hidden: hidden)
    }
}
