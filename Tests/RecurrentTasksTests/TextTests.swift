import Testing
import Foundation
import RecurrentTasks

@Suite struct TextTests {
    /// A byte-order mark at the start of a UTF-8 file is not text: the first label reads as 1, not as '\u{FEFF}1'.
    /// A label with a character no terminal shows (a stray carriage return) is quoted with it escaped.
    @Test func byteOrderMarkIsDroppedAndHiddenCharactersAreShown() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-bom-\(UUID().uuidString).tsv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try (Data([0xEF, 0xBB, 0xBF]) + Data("1\tgood\n0\tbad\n".utf8)).write(to: URL(fileURLWithPath: path))
        let read = try readLabeledSentences(path)
        #expect(read.map(\.label) == [1, 0] && read.map(\.text) == ["good", "bad"], "\(read)")
        try Data("1\tgood\n1\r\tbad\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try readLabeledSentences(path) } throws: { "\($0)".contains(":2: label \"1\\r\" is not an integer") }
    }

    @Test func tokenizerSplitsLettersDigitsAndPunctuation() {
        #expect(WordTokenizer.tokens("C'est 42€, très BIEN!") == ["c", "'", "est", "42", "€", ",", "très", "bien", "!"])
        #expect(WordTokenizer.tokens("  Va !  ") == ["va", "!"])
        #expect(WordTokenizer.tokens("abc123def") == ["abc", "123", "def"])
        #expect(WordTokenizer.tokens("") == [])
    }

    @Test func vocabularyKeepsFrequentTokensDeterministically() {
        let vocabulary = Vocabulary(counting: [["b", "a", "c"], ["a", "b"], ["d"]], minimumCount: 2)
        #expect(vocabulary.tokens == Vocabulary.reserved + ["a", "b"])
        #expect(vocabulary.encode(["a", "zzz", "b"]) == [4, Vocabulary.unknown, 5])
        #expect(vocabulary.decode([Vocabulary.begin, 4, 5, Vocabulary.end, 4]) == ["a", "b"])
    }

    @Test func bleuMatchesHandComputedValues() {
        let sentence = "the cat sat on the mat".split(separator: " ").map(String.init)
        #expect(abs(BLEU.corpusScore(candidates: [sentence], references: [[sentence]]) - 100) < 1e-9)
        // Candidate "the cat sat on the" (5 tokens) against the 6-token reference: every n-gram matches, so
        // precisions are 1 and BLEU is the brevity penalty exp(1 − 6/5).
        let short = Array(sentence.prefix(5))
        #expect(abs(BLEU.corpusScore(candidates: [short], references: [[sentence]]) - 100 * exp(1 - 6.0 / 5)) < 1e-9)
        // Clipping: "the the the the" has one matched "the" per reference occurrence (2 of 4) and no 2-gram match.
        #expect(BLEU.corpusScore(candidates: [["the", "the", "the", "the"]], references: [[sentence]]) == 0)
        // A hand-computed case: candidate "the cat sat on a mat" (6) vs the reference: p1 = 5/6, p2 = 3/5,
        // p3 = 2/4, p4 = 1/3, BP = 1 → BLEU = (5/6 · 3/5 · 1/2 · 1/3)^(1/4).
        let candidate = "the cat sat on a mat".split(separator: " ").map(String.init)
        let expected = 100 * pow(5.0 / 6 * 3 / 5 * 1 / 2 * 1 / 3, 0.25)
        #expect(abs(BLEU.corpusScore(candidates: [candidate], references: [[sentence]]) - expected) < 1e-9)
    }

    /// XML 1.0 forbids control characters other than tab and line breaks: a typed one would make the SVG unreadable.
    @Test func svgTextHasNoControlCharacters() {
        let escaped = SVGPlot.escape("a\u{1}b\u{1B}[31m <c> & \"d\"\te")
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" })
        #expect(escaped == "a\u{FFFD}b\u{FFFD}[31m &lt;c&gt; &amp; &quot;d&quot;\te")
    }

    @Test func detokenizeAttachesPunctuation() {
        #expect(detokenize(["je", "suis", "là", "."]) == "je suis là.")
        #expect(detokenize(["c", "'", "est", "bon", "!"]) == "c'est bon!")
    }
}
