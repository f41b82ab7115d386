// Words: the tokenizer shared by sentiment and translation, vocabularies with reserved entries, and corpus BLEU.

import Foundation

/// Lower-cases, then cuts text into runs of letters, runs of digits, and every other non-space character on
/// its own: "C'est 42€!" → ["c", "'", "est", "42", "€", "!"]. The same rule on both sides of a translation
/// and in BLEU, so scores compare with other tools that tokenize this way.
public enum WordTokenizer {
    public static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var currentIsLetters = false
        func flush() {
            if !current.isEmpty { tokens.append(current); current = "" }
        }
        for character in text.lowercased() {
            if character.isWhitespace {
                flush()
            } else if character.isLetter {
                if !currentIsLetters { flush() }
                currentIsLetters = true
                current.append(character)
            } else if character.isWholeNumber {
                if currentIsLetters { flush() }
                currentIsLetters = false
                current.append(character)
            } else {
                flush()
                tokens.append(String(character))
            }
        }
        flush()
        return tokens
    }
}

/// Tokens ↔ indices. Indices 0…3 are reserved: padding, unknown (out-of-vocabulary), begin and end of sequence.
public struct Vocabulary: Sendable, Equatable {
    public static let padding = 0, unknown = 1, begin = 2, end = 3
    public static let reserved = ["<pad>", "<unk>", "<bos>", "<eos>"]

    public let tokens: [String]
    private let index: [String: Int]

    public var count: Int { tokens.count }

    public init(tokens: [String]) {
        self.tokens = tokens
        var index: [String: Int] = [:]
        for (position, token) in tokens.enumerated() where index[token] == nil { index[token] = position }
        self.index = index
    }

    /// The reserved entries, then every token seen at least `minimumCount` times, most frequent first (ties in
    /// code-point order, so the same text always gives the same vocabulary).
    public init(counting sequences: some Sequence<[String]>, minimumCount: Int = 1, limit: Int? = nil) {
        var counts: [String: Int] = [:]
        for sequence in sequences { for token in sequence { counts[token, default: 0] += 1 } }
        var kept = counts.filter { $0.value >= minimumCount && !Self.reserved.contains($0.key) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
            .map(\.key)
        if let limit { kept = Array(kept.prefix(Swift.max(0, limit - Self.reserved.count))) }
        self.init(tokens: Self.reserved + kept)
    }

    public func encode(_ tokens: [String]) -> [Int] { tokens.map { index[$0] ?? Self.unknown } }

    /// Tokens of `indices`, stopping at the end marker and leaving out padding and begin markers.
    public func decode(_ indices: [Int]) -> [String] {
        var words: [String] = []
        for position in indices {
            if position == Self.end { break }
            if position == Self.padding || position == Self.begin { continue }
            words.append(tokens.indices.contains(position) ? tokens[position] : Self.reserved[Self.unknown])
        }
        return words
    }

    public func contains(_ token: String) -> Bool { index[token] != nil }

    public static func == (a: Vocabulary, b: Vocabulary) -> Bool { a.tokens == b.tokens }
}

/// Joins tokens back into readable text: no space before closing punctuation or after an apostrophe.
public func detokenize(_ tokens: [String]) -> String {
    var text = ""
    for token in tokens {
        let attaches = [".", ",", "!", "?", ":", ";", ")", "'", "’"].contains(token) || text.hasSuffix("'") || text.hasSuffix("’") || text.hasSuffix("(")
        if !text.isEmpty && !attaches { text += " " }
        text += token
    }
    return text
}

/// Corpus BLEU (Papineni et al. 2002) with up to 4-grams, on the 0–100 scale.
///
///     BLEU = BP · exp(Σₙ ¼ log pₙ),   pₙ = Σ clipped n-gram matches / Σ candidate n-grams (summed over the corpus)
///     BP = 1 if c > r, else exp(1 − r/c)    c = candidate tokens, r = reference tokens (the closest length per
///                                           sentence when there are several references)
///
/// A matched n-gram counts at most as often as it occurs in the one reference where it occurs most.
/// Any pₙ = 0 gives 0 (no smoothing), as in the standard corpus score.
public enum BLEU {
    public static func corpusScore(candidates: [[String]], references: [[[String]]], maximumOrder: Int = 4) -> Double {
        precondition(candidates.count == references.count, "BLEU: \(candidates.count) candidates for \(references.count) reference sets")
        var matches = [Int](repeating: 0, count: maximumOrder), totals = [Int](repeating: 0, count: maximumOrder)
        var candidateLength = 0, referenceLength = 0
        for (candidate, sentenceReferences) in zip(candidates, references) {
            candidateLength += candidate.count
            referenceLength += closestReferenceLength(sentenceReferences.map(\.count), to: candidate.count)
            for order in 1...maximumOrder {
                let candidateGrams = ngramCounts(candidate, order)
                var maximumReferenceCounts: [ArraySlice<String>: Int] = [:]
                for reference in sentenceReferences {
                    for (gram, count) in ngramCounts(reference, order) { maximumReferenceCounts[gram] = Swift.max(maximumReferenceCounts[gram] ?? 0, count) }
                }
                for (gram, count) in candidateGrams { matches[order - 1] += Swift.min(count, maximumReferenceCounts[gram] ?? 0) }
                totals[order - 1] += Swift.max(0, candidate.count - order + 1)
            }
        }
        guard candidateLength > 0, matches.allSatisfy({ $0 > 0 }) else { return 0 }
        let logPrecision = zip(matches, totals).map { Foundation.log(Double($0) / Double($1)) }.reduce(0, +) / Double(maximumOrder)
        let brevity = candidateLength > referenceLength ? 1 : Foundation.exp(1 - Double(referenceLength) / Double(candidateLength))
        return 100 * brevity * Foundation.exp(logPrecision)
    }

    /// The reference length nearest the candidate's; the shorter one on a tie.
    static func closestReferenceLength(_ lengths: [Int], to length: Int) -> Int {
        var best = lengths.first ?? 0
        for candidate in lengths.dropFirst() {
            let distance = abs(candidate - length), bestDistance = abs(best - length)
            if distance < bestDistance || (distance == bestDistance && candidate < best) { best = candidate }
        }
        return best
    }

    static func ngramCounts(_ tokens: [String], _ order: Int) -> [ArraySlice<String>: Int] {
        var counts: [ArraySlice<String>: Int] = [:]
        guard tokens.count >= order else { return counts }
        for start in 0...(tokens.count - order) { counts[tokens[start..<(start + order)], default: 0] += 1 }
        return counts
    }
}
