// Decoding a sequence from a model that gives next-token log-probabilities: greedy (beam width 1) and beam
// search, shared by captioning and translation.

import Foundation
import RecurrentKernels
import RecurrentTensor

public enum BeamSearch {
    /// The best sequence (without the begin and end markers) under the model.
    ///
    /// Keeps the `beamWidth` best partial sequences by summed log-probability; a sequence that emits `end` is
    /// finished and ranked by its mean log-probability per token (end included), so longer sequences are not
    /// punished merely for being longer. Each step the best `beamWidth` extensions go on; stops when `beamWidth`
    /// sequences have finished, none is left, or after `maxLength` tokens. Width 1 is greedy decoding.
    ///
    /// `step(lastTokens, state)` returns log-probabilities (one row per live beam) and the next state, or throws
    /// (which ends the search); `select(state, rows)` keeps the given rows of a state, in order (rows may repeat).
    public static func decode<State>(
        initial: State, beamWidth: Int, maxLength: Int, begin: Int, end: Int,
        step: ([Int], State) throws -> (logProbabilities: [[Double]], state: State),
        select: (State, [Int]) -> State
    ) rethrows -> [Int] {
        try decode(sequences: 1, initial: initial, beamWidth: beamWidth, maxLength: maxLength, begin: begin, end: end,
               step: { tokens, _, state in try step(tokens, state) }, select: select)[0]
    }

    /// The best sequence for each of `sequences` inputs, all searched together: one model step serves every live
    /// beam of every input, so a held-out set costs a few hundred wide steps instead of thousands of narrow ones.
    /// Each input's search is the one `decode` describes, and ends on its own.
    ///
    /// `initial` has one row per input. `step(lastTokens, inputOfRow, state)` gets one row per live beam, grouped
    /// by input in order (`inputOfRow` names each row's input), and returns log-probabilities for those rows and
    /// the next state, or throws (which ends the search); `select(state, rows)` keeps the given rows of a state, in
    /// order (rows may repeat).
    public static func decode<State>(
        sequences: Int, initial: State, beamWidth: Int, maxLength: Int, begin: Int, end: Int,
        step: ([Int], [Int], State) throws -> (logProbabilities: [[Double]], state: State),
        select: (State, [Int]) -> State
    ) rethrows -> [[Int]] {
        try decode(sequences: sequences, initial: initial, beamWidth: beamWidth, maxLength: maxLength, begin: begin, end: end,
               candidates: { tokens, inputOfRow, state in
                   let (logProbabilities, next) = try step(tokens, inputOfRow, state)
                   return (logProbabilities.map { row in topIndices(row, count: beamWidth).map { (token: $0, logProbability: row[$0]) } }, next)
               },
               select: select)
    }

    /// A next token and its log-probability.
    public typealias Candidate = (token: Int, logProbability: Double)

    /// `decode(sequences:…)` for a step that gives only each row's best tokens — at least `beamWidth` of them
    /// (all, in a smaller vocabulary), best first, ties in token order — as `bestTokens(logits:count:)` finds them.
    /// A wide vocabulary then costs no table of every token's log-probability per row.
    public static func decode<State>(
        sequences: Int, initial: State, beamWidth: Int, maxLength: Int, begin: Int, end: Int,
        candidates step: ([Int], [Int], State) throws -> (best: [[Candidate]], state: State),
        select: (State, [Int]) -> State
    ) rethrows -> [[Int]] {
        precondition(beamWidth >= 1 && maxLength >= 1, "BeamSearch: width \(beamWidth) and length \(maxLength) must be ≥ 1")
        typealias Beam = (tokens: [Int], score: Double)
        var live: [[Beam]] = Array(repeating: [([], 0)], count: sequences)
        var finished: [[Beam]] = Array(repeating: [], count: sequences)
        var searching = Array(0..<sequences)   // inputs with live beams, in row order
        var state = initial
        for _ in 0..<maxLength {
            let inputOfRow = searching.flatMap { input in Array(repeating: input, count: live[input].count) }
            let (best, next) = try step(searching.flatMap { input in live[input].map { $0.tokens.last ?? begin } }, inputOfRow, state)
            var firstRow = 0, rows: [Int] = [], stillSearching: [Int] = []
            for input in searching {
                let beams = live[input]
                var candidates: [(beam: Int, token: Int, score: Double)] = []
                for (beam, current) in beams.enumerated() {
                    // Only each beam's best `beamWidth` tokens can make the input's top `beamWidth`.
                    for candidate in best[firstRow + beam].prefix(beamWidth) {
                        candidates.append((beam, candidate.token, current.score + candidate.logProbability))
                    }
                }
                candidates.sort { $0.score > $1.score }
                // The best `beamWidth` extensions go on; those that ended are finished (the beam narrows).
                var kept: [Beam] = []
                for candidate in candidates.prefix(beamWidth) {
                    let tokens = beams[candidate.beam].tokens
                    if candidate.token == end {
                        finished[input].append((tokens, candidate.score / Double(tokens.count + 1)))
                    } else {
                        kept.append((tokens + [candidate.token], candidate.score))
                        rows.append(firstRow + candidate.beam)
                    }
                }
                firstRow += beams.count
                live[input] = kept
                if finished[input].count >= beamWidth || kept.isEmpty {
                    // Done (its finished sequences decide): its kept extensions leave the batch again.
                    rows.removeLast(kept.count)
                } else {
                    stillSearching.append(input)
                }
            }
            searching = stillSearching
            guard !searching.isEmpty else { break }
            state = select(next, rows)
        }
        return (0..<sequences).map { input in
            if let best = finished[input].max(by: { $0.score < $1.score }) { return best.tokens }
            return live[input].max { $0.score / Double($0.tokens.count) < $1.score / Double($1.tokens.count) }?.tokens ?? []
        }
    }

    /// For each row of `logits` (rows, vocabulary): its `count` likeliest tokens, best first (ties in token order),
    /// with their log-probabilities — the values `logits.logSoftmax(alongAxis: 1)` holds there, to the last bit, as
    /// Doubles. One pass per row over the logits, rows split over the cores; nothing of vocabulary size is kept.
    public static func bestTokens(logits: Tensor, count: Int) -> [[Candidate]] {
        precondition(logits.rank == 2 && count >= 1, "bestTokens: logits must be (rows, vocabulary), got \(logits.shape)")
        let rows = logits.shape[0], columns = logits.shape[1]
        var best = Array(repeating: [Candidate](), count: rows)
        func search<T: TensorScalar>(_ values: UnsafeBufferPointer<T>) {
            let ranges = splitRanges(count: rows, parts: rows * columns >= 1 << 16 ? ComputeSettings.threads : 1, granularity: 1)
            best.withUnsafeMutableBufferPointer { output in
                let output = UncheckedSendable(output)
                parallelFor(parts: ranges.count) { part in
                    for row in ranges[part] {
                        let line = values.baseAddress! + row * columns
                        // As the log-softmax kernel computes it: (x − max) − log Σ exp(x − max).
                        let (maximum, total) = T.shiftedExpSum(line, count: columns)
                        let logTotal = T.log(total)
                        output.value[row] = topIndices(count: count, columns: columns) { (line[$0] - maximum) - logTotal }
                    }
                }
            }
        }
        switch logits.dtype {
        case .float32: logits.withUnsafeBuffer(as: Float.self) { search($0) }
        case .float64: logits.withUnsafeBuffer(as: Double.self) { search($0) }
        }
        return best
    }

    /// The `count` largest of `value(0..<columns)` with their values, largest first, earlier index first on ties.
    @inline(__always)
    static func topIndices<T: BinaryFloatingPoint>(count: Int, columns: Int, _ value: (Int) -> T) -> [Candidate] {
        var best: [(token: Int, value: T)] = []
        best.reserveCapacity(count + 1)
        for index in 0..<columns {
            let current = value(index)
            guard best.count < count || current > best[best.count - 1].value else { continue }
            var position = best.count
            while position > 0 && best[position - 1].value < current { position -= 1 }
            best.insert((index, current), at: position)
            if best.count > count { best.removeLast() }
        }
        return best.map { (token: $0.token, logProbability: Double($0.value)) }
    }

    /// Indices of the `count` largest values, largest first, in one pass (vocabularies are large, beams small).
    static func topIndices(_ values: [Double], count: Int) -> [Int] {
        topIndices(count: count, columns: values.count) { values[$0] }.map(\.token)
    }
}
