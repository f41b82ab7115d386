import Foundation
import Testing
import RecurrentTasks
import RecurrentTensor

/// Beam search on toy models whose next-token log-probabilities are fixed functions of the input, the step and
/// the last token: vocabulary 0 = begin, 1 = end, 2… words.
@Suite struct BeamSearchTests {
    /// A row of the toy state: which input it decodes and how many tokens it has emitted.
    struct Row: Equatable { var input: Int, length: Int }

    /// Log-softmax of pseudo-random logits drawn from (input, length, last token); `end` grows likelier with length.
    static func logProbabilities(input: Int, length: Int, last: Int, vocabulary: Int) -> [Double] {
        var seed = UInt64(truncatingIfNeeded: input &* 7919 &+ length &* 104_729 &+ last &* 1_299_709) | 1
        let logits = (0..<vocabulary).map { token -> Double in
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
            return Double(seed % 1000) / 250 + (token == 1 ? Double(length) / 2 - 2 : 0)
        }
        let top = logits.max()!, total = logits.map { exp($0 - top) }.reduce(0, +)
        return logits.map { $0 - top - log(total) }
    }

    static func decodeAlone(_ input: Int, width: Int, vocabulary: Int = 9) -> [Int] {
        BeamSearch.decode(
            initial: [Row(input: input, length: 0)], beamWidth: width, maxLength: 12, begin: 0, end: 1,
            step: { tokens, rows in
                (zip(tokens, rows).map { logProbabilities(input: $1.input, length: $1.length, last: $0, vocabulary: vocabulary) },
                 rows.map { Row(input: $0.input, length: $0.length + 1) })
            },
            select: { rows, kept in kept.map { rows[$0] } })
    }

    @Test func widthOneIsGreedy() {
        for input in 0..<20 {
            var greedy: [Int] = [], last = 0
            for length in 0..<12 {
                let row = Self.logProbabilities(input: input, length: length, last: last, vocabulary: 9)
                last = row.indices.max { row[$0] < row[$1] }!
                if last == 1 { break }
                greedy.append(last)
            }
            #expect(Self.decodeAlone(input, width: 1) == greedy, "input \(input)")
        }
    }

    /// Greedy takes the likelier first word and is then stuck with a poor second; a beam of two keeps the other.
    @Test func aWiderBeamFindsTheBetterSequence() {
        // After begin: word 2 (0.6) or word 3 (0.4). After 2: end at 0.3, or anything. After 3: end at 0.95.
        func step(_ tokens: [Int], _ rows: [Row]) -> ([[Double]], [Row]) {
            let rowsOut = tokens.map { last -> [Double] in
                switch last {
                case 0: [1e-9, 1e-9, 0.6, 0.4].map(log)
                case 2: [1e-9, 0.3, 0.35, 0.35].map(log)
                default: [1e-9, 0.95, 0.025, 0.025].map(log)
                }
            }
            return (rowsOut, rows)
        }
        let greedy = BeamSearch.decode(initial: [Row(input: 0, length: 0)], beamWidth: 1, maxLength: 2, begin: 0, end: 1, step: step, select: { rows, kept in kept.map { rows[$0] } })
        let beam = BeamSearch.decode(initial: [Row(input: 0, length: 0)], beamWidth: 2, maxLength: 2, begin: 0, end: 1, step: step, select: { rows, kept in kept.map { rows[$0] } })
        #expect(greedy.first == 2)
        #expect(beam == [3], "0.4 · 0.95 beats 0.6 · 0.35 and 0.6 · 0.3")
    }

    /// The best tokens of each row are the log-softmax's largest entries, with its values to the last bit, in Float
    /// and Double, on rows split over the cores (the larger table) and not; equal logits keep token order.
    @Test(arguments: [(DType.float32, 37, 300), (.float32, 70, 1000), (.float64, 70, 1000)])
    func bestTokensAreTheLogSoftmaxsLargest(dtype: DType, rows: Int, columns: Int) {
        var generator = SeededGenerator(seed: 11)
        var values = (0..<(rows * columns)).map { _ in Double.random(in: -8...8, using: &generator) }
        for row in 0..<rows { values[row * columns + 5] = 9; values[row * columns + 2] = 9 }   // a tie for the best
        let logits = Tensor(shape: [rows, columns], doubles: values, dtype: dtype)
        let table = logits.logSoftmax(alongAxis: 1).doubles
        let best = BeamSearch.bestTokens(logits: logits, count: 4)
        #expect(best.count == rows)
        for row in 0..<rows {
            let line = Array(table[(row * columns)..<((row + 1) * columns)])
            let expected = line.indices.sorted { line[$0] > line[$1] || (line[$0] == line[$1] && $0 < $1) }.prefix(4)
            #expect(best[row].map(\.token) == Array(expected), "row \(row)")
            #expect(best[row].map(\.logProbability) == expected.map { line[$0] }, "row \(row)")
            #expect(best[row].prefix(2).map(\.token) == [2, 5])
        }
    }

    /// Searched together, each input gets exactly what it gets alone — though inputs finish at different steps
    /// and their beams narrow as they end.
    @Test(arguments: [1, 3, 4])
    func batchedSearchMatchesEachInputAlone(width: Int) {
        let inputs = Array(0..<17)
        var widths: [Int] = []
        let together = BeamSearch.decode(
            sequences: inputs.count, initial: inputs.map { Row(input: $0, length: 0) }, beamWidth: width, maxLength: 12, begin: 0, end: 1,
            step: { tokens, inputOfRow, rows in
                #expect(zip(inputOfRow, rows).allSatisfy { $0 == $1.input }, "rows grouped by input, in order")
                widths.append(tokens.count)
                return (zip(tokens, rows).map { Self.logProbabilities(input: $1.input, length: $1.length, last: $0, vocabulary: 9) },
                        rows.map { Row(input: $0.input, length: $0.length + 1) })
            },
            select: { rows, kept in kept.map { rows[$0] } })
        #expect(together == inputs.map { Self.decodeAlone($0, width: width) })
        #expect(widths.first == inputs.count && widths.allSatisfy { $0 <= inputs.count * width })
        #expect(Set(together.map(\.count)).count > 1, "the toy inputs should end at different lengths")
    }
}
