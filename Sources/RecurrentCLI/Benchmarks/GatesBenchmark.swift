// The gate-pass benchmark: each recurrent cell's per-row gate pass (the work between two step GEMMs), the
// sixteen-lane Float forms (AVX2, and AVX-512 where the CPU has it) against the scalar reference, checked first, then
// timed in interleaved rounds.

import Foundation
import Recurrent

struct GatesBenchmark {
    enum Cell: String, CaseIterable { case lstm, gru }
    enum Pass: String, CaseIterable { case forward, backward }

    /// The scalar reference, the sixteen-lane pass in two AVX2 registers, and in one AVX-512 register.
    enum Implementation: String, CaseIterable {
        case reference, avx2, avx512

        /// The ones this CPU runs.
        static var available: [Implementation] { KernelInfo.avx512Usable ? allCases : [.reference, .avx2] }
    }

    struct Case: CustomStringConvertible {
        let cell: Cell, pass: Pass, hidden: Int
        var description: String { "\(cell.rawValue) \(pass.rawValue) H=\(hidden)" }
    }

    /// The hidden sizes of `bench rnn`'s shapes: a (16), b (128), c (256), d and e (512).
    static let standardHidden = [16, 128, 256, 512]
    /// Rows per call: one step of a batch of 32, as in shapes a and e.
    static let rows = 32

    /// Every buffer a pass reads or writes, for `rows` rows, filled from a seeded generator.
    final class Buffers {
        let hidden: Int, gateWidth: Int
        let gates: UnsafeMutablePointer<Float>, projection: UnsafeMutablePointer<Float>, candidateBias: UnsafeMutablePointer<Float>
        let bias: UnsafeMutablePointer<Float>
        let cell: UnsafeMutablePointer<Float>, previousCell: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>
        let hiddenGradient: UnsafeMutablePointer<Float>, cellGradient: UnsafeMutablePointer<Float>, cellGradientStart: UnsafeMutablePointer<Float>
        let output: UnsafeMutablePointer<Float>, gateGradient: UnsafeMutablePointer<Float>, projectionGradient: UnsafeMutablePointer<Float>
        private var all: [UnsafeMutableRawPointer] = []

        init(cell: Cell, hidden: Int, seed: UInt64) {
            self.hidden = hidden
            gateWidth = (cell == .lstm ? 4 : 3) * hidden
            var generator = SeededGenerator(seed: seed)
            var made: [UnsafeMutableRawPointer] = []
            func buffer(_ count: Int, _ range: ClosedRange<Float>) -> UnsafeMutablePointer<Float> {
                // 64-byte aligned as tensors and workspaces are: a 16-lane load from a 16-byte aligned row would
                // straddle two cache lines every time and time that instead.
                let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
                let pointer = raw.bindMemory(to: Float.self, capacity: count)
                for index in 0..<count { pointer[index] = Float.random(in: range, using: &generator) }
                made.append(raw)
                return pointer
            }
            let gateCount = GatesBenchmark.rows * gateWidth, unitCount = GatesBenchmark.rows * hidden
            // Pre-activations for a forward pass; for a backward pass, activated gates in (0, 1) and g, n in (−1, 1).
            gates = buffer(gateCount, -3...3)
            projection = buffer(gateCount, -1...1)
            candidateBias = buffer(hidden, -0.1...0.1)
            bias = buffer(gateWidth, -0.5...0.5)
            self.cell = buffer(unitCount, -2...2)
            previousCell = buffer(unitCount, -2...2)
            state = buffer(unitCount, -1...1)
            hiddenGradient = buffer(unitCount, -1...1)
            cellGradient = buffer(unitCount, -1...1)
            cellGradientStart = buffer(unitCount, -1...1)
            output = buffer(unitCount, 0...0)
            gateGradient = buffer(gateCount, 0...0)
            projectionGradient = buffer(gateCount, 0...0)
            all = made
        }

        deinit { for pointer in all { pointer.deallocate() } }

        /// The buffers a pass writes, in one list, to compare two implementations' results.
        func written(_ cell: Cell, _ pass: Pass) -> [(UnsafeMutablePointer<Float>, Int)] {
            let gateCount = GatesBenchmark.rows * gateWidth, unitCount = GatesBenchmark.rows * hidden
            switch (cell, pass) {
            case (.lstm, .forward): return [(gates, gateCount), (self.cell, unitCount), (previousCell, unitCount), (output, unitCount), (state, unitCount)]
            case (.lstm, .backward): return [(gateGradient, gateCount), (cellGradient, unitCount)]
            case (.gru, .forward): return [(gates, gateCount), (cellGradient, unitCount), (state, unitCount), (output, unitCount)]
            case (.gru, .backward): return [(gateGradient, gateCount), (projectionGradient, gateCount), (output, unitCount)]
            }
        }
    }

    /// One call: the pass over all rows. A backward pass first restores dL/dc, which it replaces (left alone, it
    /// would shrink by f at every call into denormals); the forward passes activate their own output again, which
    /// stays in range.
    static func run(_ implementation: Implementation, _ benchmarkCase: Case, _ buffers: Buffers) {
        let hidden = benchmarkCase.hidden, width = buffers.gateWidth, wide = implementation == .avx512
        for row in 0..<rows {
            let g = buffers.gates + row * width, u = row * hidden
            switch (benchmarkCase.cell, benchmarkCase.pass, implementation) {
            case (.lstm, .forward, .reference):
                // As the sequence kernel calls it: the bias added here, c' also saved (into previousCell, which only
                // backward reads) and h' also written to the state.
                LSTMGates.forwardReference(gates: g, bias: buffers.bias, cell: buffers.cell + u, savedCell: buffers.previousCell + u,
                                           output: buffers.output + u, state: buffers.state + u, hidden: hidden)
            case (.lstm, .forward, _):
                LSTMGates.forward(gates: g, bias: buffers.bias, cell: buffers.cell + u, savedCell: buffers.previousCell + u,
                                  output: buffers.output + u, state: buffers.state + u, hidden: hidden, avx512: wide)
            case (.lstm, .backward, _):
                (buffers.cellGradient + u).update(from: buffers.cellGradientStart + u, count: hidden)
                if implementation == .reference {
                    LSTMGates.backwardReference(gates: g, cell: buffers.cell + u, previousCell: buffers.previousCell + u, hiddenGradient: buffers.hiddenGradient + u,
                                                cellGradient: buffers.cellGradient + u, gateGradient: buffers.gateGradient + row * width, hidden: hidden)
                } else {
                    LSTMGates.backward(gates: g, cell: buffers.cell + u, previousCell: buffers.previousCell + u, hiddenGradient: buffers.hiddenGradient + u,
                                       cellGradient: buffers.cellGradient + u, gateGradient: buffers.gateGradient + row * width, hidden: hidden, avx512: wide)
                }
            case (.gru, .forward, .reference):
                GRUGates.forwardReference(gates: g, projection: buffers.projection + row * width, candidateBias: buffers.candidateBias,
                                          candidate: buffers.cellGradient + u, state: buffers.state + u, output: buffers.output + u, hidden: hidden)
            case (.gru, .forward, _):
                GRUGates.forward(gates: g, projection: buffers.projection + row * width, candidateBias: buffers.candidateBias,
                                 candidate: buffers.cellGradient + u, state: buffers.state + u, output: buffers.output + u, hidden: hidden, avx512: wide)
            case (.gru, .backward, .reference):
                GRUGates.backwardReference(gates: g, previousHidden: buffers.state + u, candidate: buffers.previousCell + u, hiddenGradient: buffers.hiddenGradient + u,
                                           gateGradient: buffers.gateGradient + row * width, projectionGradient: buffers.projectionGradient + row * width,
                                           previousHiddenGradient: buffers.output + u, hidden: hidden)
            case (.gru, .backward, _):
                GRUGates.backward(gates: g, previousHidden: buffers.state + u, candidate: buffers.previousCell + u, hiddenGradient: buffers.hiddenGradient + u,
                                  gateGradient: buffers.gateGradient + row * width, projectionGradient: buffers.projectionGradient + row * width,
                                  previousHiddenGradient: buffers.output + u, hidden: hidden, avx512: wide)
            }
        }
    }

    /// The worst difference between a vector pass and the reference, each run once on its own copy of the same
    /// inputs, relative to max(|reference|, 0.1): below 0.1 it is an absolute difference, since c' = f·c + i·g can
    /// cancel to near zero, where a few ulp of f·c become a large relative error.
    static func check(_ benchmarkCase: Case, implementation: Implementation, against expectedImplementation: Implementation = .reference) -> Double {
        let reference = Buffers(cell: benchmarkCase.cell, hidden: benchmarkCase.hidden, seed: 7)
        let candidate = Buffers(cell: benchmarkCase.cell, hidden: benchmarkCase.hidden, seed: 7)
        if benchmarkCase.pass == .backward { activate(reference, benchmarkCase.cell); activate(candidate, benchmarkCase.cell) }
        run(expectedImplementation, benchmarkCase, reference)
        run(implementation, benchmarkCase, candidate)
        var worst = 0.0
        for ((expected, count), (actual, _)) in zip(reference.written(benchmarkCase.cell, benchmarkCase.pass), candidate.written(benchmarkCase.cell, benchmarkCase.pass)) {
            for index in 0..<count {
                let difference = Double(abs(expected[index] - actual[index])) / max(Double(abs(expected[index])), 0.1)
                worst = max(worst, difference.isNaN ? .infinity : difference)
            }
        }
        return worst
    }

    /// Turns the random pre-activations into what a backward pass reads: gates in (0, 1), and g or n in (−1, 1).
    static func activate(_ buffers: Buffers, _ cell: Cell) {
        let hidden = buffers.hidden, width = buffers.gateWidth
        let tanhBlock = 2   // the third block: g of the LSTM's i f g o, n of the GRU's r z n
        for row in 0..<rows {
            for column in 0..<width {
                let value = buffers.gates[row * width + column]
                buffers.gates[row * width + column] = column / hidden == tanhBlock ? Foundation.tanh(value) : 1 / (1 + Foundation.exp(-value))
            }
        }
    }

    /// Median nanoseconds per hidden unit (one row's unit, all its gates) for each implementation, interleaved.
    static func time(_ benchmarkCase: Case, implementations: [Implementation], rounds: Int) -> [Double] {
        let buffers = implementations.map { _ in Buffers(cell: benchmarkCase.cell, hidden: benchmarkCase.hidden, seed: 7) }
        if benchmarkCase.pass == .backward { for each in buffers { activate(each, benchmarkCase.cell) } }
        var repetitions: [Int] = []
        for (index, implementation) in implementations.enumerated() {
            run(implementation, benchmarkCase, buffers[index])
            let start = monotonicSeconds()
            run(implementation, benchmarkCase, buffers[index])
            repetitions.append(max(1, Int((0.02 / max(1e-8, monotonicSeconds() - start)).rounded(.up))))
        }
        var samples = [[Double]](repeating: [], count: implementations.count)
        for _ in 0..<rounds {
            for (index, implementation) in implementations.enumerated() {
                let start = monotonicSeconds()
                for _ in 0..<repetitions[index] { run(implementation, benchmarkCase, buffers[index]) }
                samples[index].append((monotonicSeconds() - start) / Double(repetitions[index]) * 1e9 / Double(rows * benchmarkCase.hidden))
            }
        }
        return samples.map(median)
    }
}
