import Foundation
import Testing
import RecurrentKernels

/// The sixteen-lane gate passes against their scalar references run in Float64, for widths that leave tails of
/// 1 to 15 lanes (1, 3, 5, 7, 8, 9, 10, 15) or none, and values that saturate the gates; in AVX2 registers and,
/// where the CPU has it, in AVX-512 registers.
@Suite struct GatePassTests {
    static let hiddenSizes = [1, 3, 7, 8, 9, 15, 16, 21, 26, 31, 33, 64]
    static let vectorWidths = GEMMTests.vectorWidths

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

    /// The tanh RNN's step over three rows spread at strides as in the sequence kernel: tanh(p + b) in the gate
    /// rows, the outputs and the states, against Float64, and the same bits in AVX2 and AVX-512 registers.
    @Test(arguments: hiddenSizes, vectorWidths)
    func rnnTanhStepMatchesReference(hidden: Int, avx512: Bool) {
        let rows = 3, gatesStride = hidden + 5, outputStride = 2 * hidden + 1, stateStride = hidden
        let data = row(hidden: 3 * hidden, seed: UInt64(100 + hidden)).gates, bias = row(hidden: hidden, seed: UInt64(200 + hidden)).gates
        func run(avx512: Bool) -> (gates: [Float], output: [Float], state: [Float]) {
            var gates = [Float](repeating: .nan, count: rows * gatesStride)
            for r in 0..<rows { for j in 0..<hidden { gates[r * gatesStride + j] = data[r * hidden + j] } }
            var output = [Float](repeating: .nan, count: rows * outputStride), state = [Float](repeating: .nan, count: rows * stateStride)
            RNNTanhStep.forwardRows(rows, gates: &gates, gatesStride: gatesStride, bias: bias, output: &output, outputStride: outputStride,
                                    state: &state, stateStride: stateStride, hidden: hidden, avx512: avx512)
            return (gates, output, state)
        }
        let result = run(avx512: avx512)
        for r in 0..<rows {
            let expected = (0..<hidden).map { Foundation.tanh(Double(data[r * hidden + $0]) + Double(bias[$0])) }
            expectClose(Array(result.gates[(r * gatesStride)...].prefix(hidden)), expected, "p row \(r)", hidden: hidden)
            expectClose(Array(result.output[(r * outputStride)...].prefix(hidden)), expected, "output row \(r)", hidden: hidden)
            expectClose(Array(result.state[(r * stateStride)...].prefix(hidden)), expected, "state row \(r)", hidden: hidden)
            // Nothing written between the rows.
            let gap = result.output[(r * outputStride + hidden)..<(r * outputStride + outputStride)].filter { !$0.isNaN }
            #expect(gap.isEmpty, "written between output rows at H = \(hidden)")
        }
        let narrow = run(avx512: false)
        let same = result.gates.map(\.bitPattern) == narrow.gates.map(\.bitPattern) && result.output.map(\.bitPattern) == narrow.output.map(\.bitPattern)
            && result.state.map(\.bitPattern) == narrow.state.map(\.bitPattern)
        #expect(same, "AVX-512 and AVX2 differ at H = \(hidden)")
    }

    /// The LSTM's gate pass over five rows at strides, as the sequence kernel runs a step (AVX-512 takes the rows
    /// of H = 16 two at a time): the same bits as the AVX2 pass row by row, and nothing written between rows.
    @Test(arguments: [16, 20, 48])
    func lstmForwardRowsMatchRowByRow(hidden: Int) {
        let rows = 5, gatesStride = 4 * hidden + 3, cellStride = hidden + 1, outputStride = 2 * hidden + 5
        let data = row(hidden: rows * hidden, seed: UInt64(300 + hidden)), bias = row(hidden: hidden, seed: UInt64(400 + hidden)).gates
        var gates = [Float](repeating: .nan, count: rows * gatesStride), cell = [Float](repeating: .nan, count: rows * cellStride)
        for r in 0..<rows {
            for j in 0..<(4 * hidden) { gates[r * gatesStride + j] = data.gates[r * 4 * hidden + j] }
            for j in 0..<hidden { cell[r * cellStride + j] = data.cell[r * hidden + j] }
        }
        var savedCell = [Float](repeating: .nan, count: rows * cellStride), output = [Float](repeating: .nan, count: rows * outputStride)
        var state = [Float](repeating: .nan, count: rows * cellStride)
        Float.lstmGatesForwardRows(rows, gates: &gates, gatesStride: gatesStride, bias: bias, cell: &cell, cellStride: cellStride,
                                   savedCell: &savedCell, savedCellStride: cellStride, output: &output, outputStride: outputStride,
                                   state: &state, stateStride: cellStride, hidden: hidden)
        func bits(_ values: ArraySlice<Float>) -> [UInt32] { values.map(\.bitPattern) }
        for r in 0..<rows {
            var rowGates = Array(data.gates[(r * 4 * hidden)..<((r + 1) * 4 * hidden)]), rowCell = Array(data.cell[(r * hidden)..<((r + 1) * hidden)])
            var rowSaved = [Float](repeating: .nan, count: hidden), rowOutput = rowSaved, rowState = rowSaved
            LSTMGates.forward(gates: &rowGates, bias: bias, cell: &rowCell, savedCell: &rowSaved, output: &rowOutput, state: &rowState,
                              hidden: hidden, avx512: false)
            let label = "H = \(hidden), row \(r)"
            #expect(bits(gates[(r * gatesStride)...].prefix(4 * hidden)) == bits(rowGates[...]), "\(label): gates")
            #expect(bits(cell[(r * cellStride)...].prefix(hidden)) == bits(rowCell[...]), "\(label): cell")
            #expect(bits(savedCell[(r * cellStride)...].prefix(hidden)) == bits(rowSaved[...]), "\(label): saved cell")
            #expect(bits(output[(r * outputStride)...].prefix(hidden)) == bits(rowOutput[...]), "\(label): output")
            #expect(bits(state[(r * cellStride)...].prefix(hidden)) == bits(rowState[...]), "\(label): state")
            let pastGates = gates[(r * gatesStride + 4 * hidden)..<((r + 1) * gatesStride)].filter { !$0.isNaN }
            let pastOutput = output[(r * outputStride + hidden)..<((r + 1) * outputStride)].filter { !$0.isNaN }
            #expect(pastGates.isEmpty && pastOutput.isEmpty, "\(label): written past the row's gates or output")
        }
    }

    @Test(arguments: hiddenSizes, vectorWidths)
    func forwardMatchesReference(hidden: Int, avx512: Bool) {
        let data = row(hidden: hidden, seed: UInt64(hidden)), bias = row(hidden: hidden, seed: UInt64(50 + hidden)).gates
        var gates = data.gates, cell = data.cell, output = [Float](repeating: .nan, count: hidden)
        LSTMGates.forward(gates: &gates, cell: &cell, output: &output, hidden: hidden, avx512: avx512)
        var gates64 = data.gates.map(Double.init), cell64 = data.cell.map(Double.init), output64 = [Double](repeating: .nan, count: hidden)
        LSTMGates.forwardReference(gates: &gates64, cell: &cell64, output: &output64, hidden: hidden)
        expectClose(gates, gates64, "gates", hidden: hidden)
        expectClose(cell, cell64, "cell", hidden: hidden)
        expectClose(output, output64, "h", hidden: hidden)

        // The sequence kernel's form: the bias added first, c' and h' also copied out.
        var biased = data.gates, biasedCell = data.cell, biasedOutput = [Float](repeating: .nan, count: hidden)
        var savedCell = [Float](repeating: .nan, count: hidden), state = [Float](repeating: .nan, count: hidden)
        LSTMGates.forward(gates: &biased, bias: bias, cell: &biasedCell, savedCell: &savedCell, output: &biasedOutput, state: &state, hidden: hidden, avx512: avx512)
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

    @Test(arguments: hiddenSizes, vectorWidths)
    func backwardMatchesReference(hidden: Int, avx512: Bool) {
        let data = row(hidden: hidden, seed: UInt64(100 + hidden))
        var activated = data.gates, scratchCell = data.previousCell, scratchOutput = [Float](repeating: 0, count: hidden)
        LSTMGates.forwardReference(gates: &activated, cell: &scratchCell, output: &scratchOutput, hidden: hidden)
        var cellGradient = data.cellGradient, gateGradient = [Float](repeating: .nan, count: 4 * hidden)
        LSTMGates.backward(gates: activated, cell: data.cell, previousCell: data.previousCell, hiddenGradient: data.hiddenGradient,
                           cellGradient: &cellGradient, gateGradient: &gateGradient, hidden: hidden, avx512: avx512)
        var cellGradient64 = data.cellGradient.map(Double.init), gateGradient64 = [Double](repeating: .nan, count: 4 * hidden)
        LSTMGates.backwardReference(gates: activated.map(Double.init), cell: data.cell.map(Double.init), previousCell: data.previousCell.map(Double.init),
                                    hiddenGradient: data.hiddenGradient.map(Double.init), cellGradient: &cellGradient64, gateGradient: &gateGradient64, hidden: hidden)
        expectClose(gateGradient, gateGradient64, "dp", hidden: hidden)
        expectClose(cellGradient, cellGradient64, "dc", hidden: hidden)
    }

    @Test(arguments: hiddenSizes, vectorWidths)
    func gruForwardMatchesReference(hidden: Int, avx512: Bool) {
        let data = row(hidden: hidden, seed: UInt64(200 + hidden)), other = row(hidden: hidden, seed: UInt64(300 + hidden))
        let projection = Array(other.gates.prefix(3 * hidden)), bias = other.cell
        var gates = Array(data.gates.prefix(3 * hidden)), state = data.cell
        var candidate = [Float](repeating: .nan, count: hidden), output = [Float](repeating: .nan, count: hidden)
        GRUGates.forward(gates: &gates, projection: projection, candidateBias: bias, candidate: &candidate, state: &state, output: &output, hidden: hidden, avx512: avx512)
        var gates64 = gates.indices.map { Double(data.gates[$0]) }, state64 = data.cell.map(Double.init)
        var candidate64 = [Double](repeating: .nan, count: hidden), output64 = [Double](repeating: .nan, count: hidden)
        GRUGates.forwardReference(gates: &gates64, projection: projection.map(Double.init), candidateBias: bias.map(Double.init),
                                  candidate: &candidate64, state: &state64, output: &output64, hidden: hidden)
        expectClose(gates, gates64, "gates", hidden: hidden)
        expectClose(candidate, candidate64, "candidate", hidden: hidden)
        expectClose(state, state64, "h", hidden: hidden)
        expectClose(output, output64, "output", hidden: hidden)
    }

    @Test(arguments: hiddenSizes, vectorWidths)
    func gruBackwardMatchesReference(hidden: Int, avx512: Bool) {
        let data = row(hidden: hidden, seed: UInt64(400 + hidden))
        // Activated gates in (0, 1) for r, z and (−1, 1) for n, as the forward pass leaves them.
        let activated = (0..<(3 * hidden)).map { index -> Float in
            let x = data.gates[index]
            return index < 2 * hidden ? 1 / (1 + Float(Foundation.exp(Double(-x)))) : Float(Foundation.tanh(Double(x)))
        }
        var dp = [Float](repeating: .nan, count: 3 * hidden), dq = dp, next = [Float](repeating: .nan, count: hidden)
        GRUGates.backward(gates: activated, previousHidden: data.cell, candidate: data.previousCell, hiddenGradient: data.hiddenGradient,
                          gateGradient: &dp, projectionGradient: &dq, previousHiddenGradient: &next, hidden: hidden, avx512: avx512)
        var dp64 = [Double](repeating: .nan, count: 3 * hidden), dq64 = dp64, next64 = [Double](repeating: .nan, count: hidden)
        GRUGates.backwardReference(gates: activated.map(Double.init), previousHidden: data.cell.map(Double.init), candidate: data.previousCell.map(Double.init),
                                   hiddenGradient: data.hiddenGradient.map(Double.init), gateGradient: &dp64, projectionGradient: &dq64,
                                   previousHiddenGradient: &next64, hidden: hidden)
        expectClose(dp, dp64, "dp", hidden: hidden)
        expectClose(dq, dq64, "dq", hidden: hidden)
        expectClose(next, next64, "dh", hidden: hidden)
    }

    /// The AVX-512 passes do the AVX2 passes' operations in the same order, so they must give the same bits, for
    /// ordinary values and for the ones that take the clamps and saturations (±100, ±1e30, ±∞, NaN, ±0); a NaN
    /// stays a NaN.
    @Test(arguments: [1, 5, 8, 13, 16, 17, 40, 128])
    func avx512PassesEqualAVX2BitForBit(hidden: Int) throws {
        guard KernelInfo.avx512Usable else { return }
        let special: [Float] = [100, -100, 1e30, -1e30, .infinity, -.infinity, .nan, 0, -0.0, 88.5, -88.5, 9.5, -9.5]
        func values(_ count: Int, seed: UInt64) -> [Float] {
            let base = row(hidden: count, seed: seed).gates
            return (0..<count).map { $0 % 5 == 4 ? special[($0 / 5 + Int(seed)) % special.count] : base[$0] }
        }
        // Every NaN counts as one value: x86 passes on the first operand's NaN, sign included, and which operand
        // comes first is the compiler's choice in Swift and in C alike.
        func bits(_ values: [Float]) -> [UInt32] { values.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }
        func same(_ a: [Float], _ b: [Float], _ what: String) {
            #expect(bits(a) == bits(b), "\(what) at H = \(hidden)")
        }
        let gates = values(4 * hidden, seed: 1), bias = values(4 * hidden, seed: 2), cell = values(hidden, seed: 3)
        let previous = values(hidden, seed: 4), dh = values(hidden, seed: 5), dc = values(hidden, seed: 6)
        var results: [[[Float]]] = []
        for wide in [false, true] {
            var g = gates, c = cell, saved = [Float](repeating: 1, count: hidden), h = saved, state = saved
            LSTMGates.forward(gates: &g, bias: bias, cell: &c, savedCell: &saved, output: &h, state: &state, hidden: hidden, avx512: wide)
            var cellGradient = dc, gateGradient = [Float](repeating: 1, count: 4 * hidden)
            LSTMGates.backward(gates: g, cell: c, previousCell: previous, hiddenGradient: dh, cellGradient: &cellGradient, gateGradient: &gateGradient,
                               hidden: hidden, avx512: wide)
            var r = Array(gates.prefix(3 * hidden)), candidate = [Float](repeating: 1, count: hidden), s = cell, output = candidate
            GRUGates.forward(gates: &r, projection: Array(bias.prefix(3 * hidden)), candidateBias: previous, candidate: &candidate, state: &s, output: &output,
                             hidden: hidden, avx512: wide)
            var dp = [Float](repeating: 1, count: 3 * hidden), dq = dp, next = candidate
            GRUGates.backward(gates: r, previousHidden: cell, candidate: candidate, hiddenGradient: dh, gateGradient: &dp, projectionGradient: &dq,
                              previousHiddenGradient: &next, hidden: hidden, avx512: wide)
            results.append([g, c, saved, h, state, cellGradient, gateGradient, r, candidate, s, output, dp, dq, next])
        }
        let names = ["lstm gates", "lstm cell", "lstm saved cell", "lstm h", "lstm state", "lstm dc", "lstm dp",
                     "gru gates", "gru candidate", "gru state", "gru output", "gru dp", "gru dq", "gru dh"]
        for (index, name) in names.enumerated() { same(results[0][index], results[1][index], name) }

        // The RNN's activations, sixteen lanes at a time as FastMath computes them.
        guard ComputeSettings.usesAVX512 else { return }
        let padded = (gates.count + 15) / 16 * 16
        let lanes = gates + [Float](repeating: 0, count: padded - gates.count)
        var expectedTanh: [Float] = [], expectedSigmoid: [Float] = []
        for start in stride(from: 0, to: padded, by: 16) {
            let vector = FastMath.Vector(lanes[start..<(start + 16)])
            for lane in 0..<16 { expectedTanh.append(FastMath.tanh(vector)[lane]); expectedSigmoid.append(FastMath.sigmoid(vector)[lane]) }
        }
        var tanhResult = [Float](repeating: 1, count: gates.count), sigmoidResult = gates
        Float.tanh(gates, into: &tanhResult, count: gates.count)
        Float.sigmoid(inPlace: &sigmoidResult, count: gates.count)
        same(tanhResult, Array(expectedTanh.prefix(gates.count)), "tanh")
        same(sigmoidResult, Array(expectedSigmoid.prefix(gates.count)), "sigmoid")
    }
}
