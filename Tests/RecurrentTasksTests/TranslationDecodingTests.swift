import Testing
import RecurrentTasks
import RecurrentTensor

/// Evaluation decodes held-out sentences in batches of like length; a sentence's translation must not depend on
/// which others share its batch. Padding that leaked into a shorter source's encoder state or attention, or a
/// finished row that kept steering the others, would show here as a batched result that differs from the
/// sentence decoded alone.
@Suite struct TranslationDecodingTests {
    /// Sources of lengths 1…9 from an untrained (seeded) model: its outputs are arbitrary but deterministic, and
    /// ties in its logits, which rounding could break either way, are vanishingly unlikely.
    static let sources: [[Int]] = (1...9).map { length in (0..<length).map { 4 + ($0 * 7 + length * 3) % 26 } }

    @Test(arguments: [true, false])
    func greedyInABatchMatchesEachSentenceAlone(attention: Bool) throws {
        let model = TranslationModel(sourceVocabulary: 30, targetVocabulary: 25, embeddingSize: 16, hiddenSize: 24, attention: attention, seed: 5)
        let batched = try model.greedy(Self.sources, maxLength: 12)
        #expect(batched.contains { !$0.isEmpty }, "the untrained model should emit some words")
        for (index, source) in Self.sources.enumerated() {
            #expect(try batched[index] == model.greedy([source], maxLength: 12)[0], "source \(source)")
        }
    }

    @Test(arguments: [true, false])
    func beamSearchInABatchMatchesEachSentenceAlone(attention: Bool) throws {
        let model = TranslationModel(sourceVocabulary: 30, targetVocabulary: 25, embeddingSize: 16, hiddenSize: 24, attention: attention, seed: 6)
        let batched = try model.beam(Self.sources, width: 3, maxLength: 12)
        #expect(batched.contains { !$0.isEmpty }, "the untrained model should emit some words")
        for (index, source) in Self.sources.enumerated() {
            #expect(try batched[index] == model.beam(source, width: 3, maxLength: 12), "source \(source)")
        }
    }
}
