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
        precondition(beamWidth >= 1 && maxLength >= 1, "BeamSearch: width \(beamWidth) and length \(maxLength) must be ≥ 1")
        var live: [(tokens: [Int], score: Double)] = [([], 0)]
        var state = initial
        var finished: [(tokens: [Int], score: Double)] = []
        for _ in 0..<maxLength {
            let (logProbabilities, next) = step(live.map { $0.tokens.last ?? begin }, state)
            var candidates: [(beam: Int, token: Int, score: Double)] = []
            for (beam, row) in logProbabilities.enumerated() {
                // Only each beam's best `beamWidth` tokens can make the overall top `beamWidth`.
                for token in topIndices(row, count: beamWidth) { candidates.append((beam, token, live[beam].score + row[token])) }
            }
            candidates.sort { $0.score > $1.score }
            // The best `beamWidth` extensions go on; those that ended are finished (the beam narrows).
            var kept: [(tokens: [Int], score: Double)] = [], rows: [Int] = []
            for candidate in candidates.prefix(beamWidth) {
                let tokens = live[candidate.beam].tokens
                if candidate.token == end {
                    finished.append((tokens, candidate.score / Double(tokens.count + 1)))
                } else {
                    kept.append((tokens + [candidate.token], candidate.score))
                    rows.append(candidate.beam)
                }
            }
            if finished.count >= beamWidth || kept.isEmpty { break }
            live = kept
            state = select(next, rows)
        }
        if let best = finished.max(by: { $0.score < $1.score }) { return best.tokens }
        return live.max { $0.score / Double($0.tokens.count) < $1.score / Double($1.tokens.count) }?.tokens ?? []
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
