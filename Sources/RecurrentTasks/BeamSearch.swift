// Decoding a sequence from a model that gives next-token log-probabilities: greedy (beam width 1) and beam
// search, shared by captioning and translation.

import Foundation

public enum BeamSearch {
    /// The best sequence (without the begin and end markers) under the model.
    ///
    /// Keeps the `beamWidth` best partial sequences by summed log-probability; a sequence that emits `end` is
    /// finished and ranked by its mean log-probability per token (end included), so longer sequences are not
    /// punished merely for being longer. Each step the best `beamWidth` extensions go on; stops when `beamWidth`
    /// sequences have finished, none is left, or after `maxLength` tokens. Width 1 is greedy decoding.
    ///
    /// `step(lastTokens, state)` returns log-probabilities (one row per live beam) and the next state;
    /// `select(state, rows)` keeps the given rows of a state, in order (rows may repeat).
    public static func decode<State>(
        initial: State, beamWidth: Int, maxLength: Int, begin: Int, end: Int,
        step: ([Int], State) -> (logProbabilities: [[Double]], state: State),
        select: (State, [Int]) -> State
    ) -> [Int] {
        decode(sequences: 1, initial: initial, beamWidth: beamWidth, maxLength: maxLength, begin: begin, end: end,
               step: { tokens, _, state in step(tokens, state) }, select: select)[0]
    }

    /// The best sequence for each of `sequences` inputs, all searched together: one model step serves every live
    /// beam of every input, so a held-out set costs a few hundred wide steps instead of thousands of narrow ones.
    /// Each input's search is the one `decode` describes, and ends on its own.
    ///
    /// `initial` has one row per input. `step(lastTokens, inputOfRow, state)` gets one row per live beam, grouped
    /// by input in order (`inputOfRow` names each row's input), and returns log-probabilities for those rows and
    /// the next state; `select(state, rows)` keeps the given rows of a state, in order (rows may repeat).
    public static func decode<State>(
        sequences: Int, initial: State, beamWidth: Int, maxLength: Int, begin: Int, end: Int,
        step: ([Int], [Int], State) -> (logProbabilities: [[Double]], state: State),
        select: (State, [Int]) -> State
    ) -> [[Int]] {
        precondition(beamWidth >= 1 && maxLength >= 1, "BeamSearch: width \(beamWidth) and length \(maxLength) must be ≥ 1")
        typealias Beam = (tokens: [Int], score: Double)
        var live: [[Beam]] = Array(repeating: [([], 0)], count: sequences)
        var finished: [[Beam]] = Array(repeating: [], count: sequences)
        var searching = Array(0..<sequences)   // inputs with live beams, in row order
        var state = initial
        for _ in 0..<maxLength {
            let inputOfRow = searching.flatMap { input in Array(repeating: input, count: live[input].count) }
            let (logProbabilities, next) = step(searching.flatMap { input in live[input].map { $0.tokens.last ?? begin } }, inputOfRow, state)
            var firstRow = 0, rows: [Int] = [], stillSearching: [Int] = []
            for input in searching {
                let beams = live[input]
                var candidates: [(beam: Int, token: Int, score: Double)] = []
                for (beam, current) in beams.enumerated() {
                    let row = logProbabilities[firstRow + beam]
                    // Only each beam's best `beamWidth` tokens can make the input's top `beamWidth`.
                    for token in topIndices(row, count: beamWidth) { candidates.append((beam, token, current.score + row[token])) }
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

    /// Indices of the `count` largest values, largest first, in one pass (vocabularies are large, beams small).
    static func topIndices(_ values: [Double], count: Int) -> [Int] {
        var best: [Int] = []
        best.reserveCapacity(count + 1)
        for index in values.indices {
            guard best.count < count || values[index] > values[best[best.count - 1]] else { continue }
            var position = best.count
            while position > 0 && values[best[position - 1]] < values[index] { position -= 1 }
            best.insert(index, at: position)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}
