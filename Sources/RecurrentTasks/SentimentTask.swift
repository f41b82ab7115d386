// Many-to-one: a sentence in, its sentiment out. Word embeddings → (bi)LSTM over the padded batch with
// lengths → dense → one logit; a bag-of-words logistic regression trained on the same split beside it.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining
import RecurrentIO

/// Embedding → LSTM → dense(1), reading each sentence's final state (at its own length).
///
///     e[b, t] = E[token[b, t]]          E (V, D), row 0 = padding (zero, never updated)
///     h = LSTM(e, lengths).lastHidden   (B, H) or (B, 2H) bidirectional
///     logit[b] = w·h[b] + c             P(positive) = σ(logit)
///
/// Parameters: `embedding.weight`, `lstm.*` (PyTorch's names), `output.weight`, `output.bias`.
public final class SentenceClassifier: Layer {
    public let embedding: Embedding
    public let lstm: RecurrentLayer
    public let output: Dense

    public init(vocabularySize: Int, embeddingSize: Int, hiddenSize: Int, bidirectional: Bool, seed: UInt64) {
        embedding = Embedding(vocabularySize: vocabularySize, dimension: embeddingSize, paddingIndex: Vocabulary.padding, seed: seed &+ 1)
        lstm = RecurrentLayer(.lstm, inputSize: embeddingSize, hiddenSize: hiddenSize, bidirectional: bidirectional, seed: seed &+ 2)
        output = Dense(inputSize: lstm.outputSize, outputSize: 1, seed: seed &+ 3)
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        embedding.visitParameters { visit("embedding." + $0, &$1) }
        lstm.visitParameters { visit("lstm." + $0, &$1) }
        output.visitParameters { visit("output." + $0, &$1) }
    }

    public func visitSublayers(_ visit: (Layer) -> Void) { visit(embedding); visit(lstm); visit(output) }

    /// Logits (B) for token sequences (padded here to the longest).
    public func callAsFunction(_ sequences: [[Int]]) -> Tensor {
        let steps = sequences.map(\.count).max() ?? 1
        let padded = sequences.flatMap { $0 + Array(repeating: Vocabulary.padding, count: steps - $0.count) }
        let embedded = embedding(padded, shape: [sequences.count, steps])
        let result = lstm(embedded, lengths: sequences.map(\.count))
        return output(result.lastHidden).reshaped([sequences.count])
    }
}

public enum SentimentTask {
    public static let name = "sentiment"
    public static let models = ["lstm", "bilstm"]

    struct Data {
        var sentences: [[String]]
        var labels: [Int]
    }

    static func load(_ path: String?, seed: UInt64, limit: Int?) throws -> Data {
        let examples = try path.map { try readLabeledSentences($0) } ?? GeneratedSentiment.make(count: 1200, seed: seed)
        let kept = examples.prefix(limited(examples.count, limit))
        return Data(sentences: kept.map { WordTokenizer.tokens($0.text) }, labels: kept.map(\.label))
    }

    static func split(_ data: Data, seed: UInt64) -> (training: [Int], validation: [Int]) {
        Batching.stratifiedSplit(labels: data.labels, validationFraction: 0.2, seed: seed &+ 1)
    }

    static func makeModel(_ settings: RunSettings, vocabularySize: Int) -> SentenceClassifier {
        SentenceClassifier(vocabularySize: vocabularySize, embeddingSize: settings.integer("embedding", default: 64),
                           hiddenSize: settings.integer("hidden", default: 64), bidirectional: settings.model == "bilstm", seed: settings.seed &+ 2)
    }

    static func configuration(_ settings: RunSettings, vocabularySize: Int) -> String {
        "sentiment \(settings.model) vocabulary \(vocabularySize) embedding \(settings.integer("embedding", default: 64)) hidden \(settings.integer("hidden", default: 64))"
    }

    public static func train(_ request: TrainRequest) throws -> TrainReport {
        let started = monotonicSeconds()
        let (settings, resuming) = try resolveSettings(request, defaultModel: "lstm", models: models, defaultEpochs: 15)
        let data = try load(settings.data, seed: settings.seed, limit: settings.limit)
        let (trainingRows, validationRows) = split(data, seed: settings.seed)
        try requireSplit(training: trainingRows.count, heldOut: validationRows.count, source: settings.data ?? "generated sentences")
        let vocabulary = Vocabulary(counting: trainingRows.map { data.sentences[$0] }, minimumCount: settings.integer("min-count", default: 2))
        // Training batches of 32; validation chunks of 256.
        try MemoryBudget.require(.sentenceClassifier(vocabulary: vocabulary.count, embedding: settings.integer("embedding", default: 64),
                                                     hidden: settings.integer("hidden", default: 64), directions: settings.model == "bilstm" ? 2 : 1,
                                                     batch: MemoryEstimate.largestBatch(training: 32, validation: 256), length: data.sentences.map(\.count).max() ?? 1),
                                 task: name, lower: "--set embedding or hidden, or leave out the longest sentences")
        let folder = RunDirectory(request.output)
        let encoded = data.sentences.map { vocabulary.encode($0) }
        let model = makeModel(settings, vocabularySize: vocabulary.count)
        let trainer = try runTrainingSession(
            folder: folder, settings: settings, resuming: resuming, files: [.vocabulary("words.vocab", vocabulary)], showProgress: request.showProgress,
            configuration: configuration(settings, vocabularySize: vocabulary.count), model: model,
            optimizer: Adam(learningRate: settings.number("learning-rate", default: 1e-3)), batchSize: 32, best: .highestAccuracy,
            count: trainingRows.count,
            batch: { positions in
                let rows = positions.map { trainingRows[$0] }
                return batchResult(model, rows.map { encoded[$0] }, rows.map { data.labels[$0] })
            },
            validate: { metrics(model, validationRows.map { encoded[$0] }, validationRows.map { data.labels[$0] }) })
        // The order-blind baseline on the same split, trained from scratch each time (it takes well under a second).
        let bagOfWords = BagOfWordsClassifier(vocabularySize: vocabulary.count, seed: settings.seed &+ 5)
        bagOfWords.fit(trainingRows.map { encoded[$0] }, trainingRows.map { data.labels[$0] }, epochs: 15, seed: settings.seed &+ 6)
        try bagOfWords.save(to: folder.file("bag-of-words.safetensors"))
        let evaluation = try evaluate(directory: request.output, data: nil)
        return TrainReport(directory: request.output, epochs: trainer.epoch, seconds: monotonicSeconds() - started, evaluation: evaluation, notes: [])
    }

    static func batchResult(_ model: SentenceClassifier, _ sequences: [[Int]], _ labels: [Int]) -> BatchResult {
        let logits = model(sequences)
        let targets = Tensor(shape: [labels.count], scalars: labels.map(Float.init))
        let correct = zip(logits.scalars, labels).filter { ($0 > 0 ? 1 : 0) == $1 }.count
        return BatchResult(loss: Loss.binaryCrossEntropy(logits: logits, targets: targets), examples: labels.count, correct: correct)
    }

    static func metrics(_ model: SentenceClassifier, _ sequences: [[Int]], _ labels: [Int]) -> Metrics {
        model.setTraining(false)
        return Metrics.measure(Array(sequences.indices), chunk: 256) { rows in
            batchResult(model, rows.map { sequences[$0] }, rows.map { labels[$0] })
        }
    }

    struct Trained {
        var settings: RunSettings
        var vocabulary: Vocabulary
        var model: SentenceClassifier
        var bagOfWords: BagOfWordsClassifier?
    }

    /// The run's model and vocabulary, and (with `baseline`, for evaluation) its bag-of-words baseline.
    static func loadTrained(_ directory: String, model saved: SavedModel = .last, baseline: Bool = true) throws -> Trained {
        let folder = RunDirectory(directory)
        let settings = try folder.trainedSettings(for: name)
        let vocabulary = try folder.readVocabulary(name: "words.vocab")
        let model = makeModel(settings, vocabularySize: vocabulary.count)
        try Checkpoint.loadModel(from: folder.checkpoint(saved), model: model, configuration: configuration(settings, vocabularySize: vocabulary.count), run: settings.run)
        // The baseline is written after training, so a run stopped before its end has none; one that is there
        // but damaged is refused like any other file of the run.
        let baselinePath = folder.file("bag-of-words.safetensors")
        let bagOfWords = baseline && FileManager.default.fileExists(atPath: baselinePath) ? try BagOfWordsClassifier.load(from: baselinePath, vocabularySize: vocabulary.count) : nil
        return Trained(settings: settings, vocabulary: vocabulary, model: model, bagOfWords: bagOfWords)
    }

    /// The LSTM's accuracy (and the bag-of-words baseline's as `bag_of_words_accuracy`) on `data`, or on the
    /// run's own held-out split.
    public static func evaluate(directory: String, data path: String?, model saved: SavedModel = .last) throws -> Evaluation {
        let trained = try loadTrained(directory, model: saved)
        let data = try path.map { try load($0, seed: 0, limit: nil) } ?? load(trained.settings.data, seed: trained.settings.seed, limit: trained.settings.limit)
        let rows = path == nil ? split(data, seed: trained.settings.seed).validation : Array(0..<data.labels.count)
        let sequences = rows.map { trained.vocabulary.encode(data.sentences[$0]) }, labels = rows.map { data.labels[$0] }
        let result = metrics(trained.model, sequences, labels)
        try NonFiniteScores.check(result, checkpoint: RunDirectory(directory).checkpoint(saved))
        var extra: [String: Double] = [:]
        if let bagOfWords = trained.bagOfWords {
            extra["bag_of_words_accuracy"] = try NonFiniteScores.naming(RunDirectory(directory).file("bag-of-words.safetensors")) { try bagOfWords.accuracy(sequences, labels) }
        }
        return Evaluation(task: name, metric: "accuracy", value: result.accuracy ?? 0, examples: result.examples, extra: extra)
    }

    /// P(positive) for a sentence.
    public static func predict(directory: String, sentence: String) throws -> (label: Int, probability: Double, unknownWords: [String]) {
        let trained = try loadTrained(directory, baseline: false)
        let tokens = try typedSentenceTokens(sentence)
        let logit = noGrad { () -> Double in trained.model.setTraining(false); return trained.model([trained.vocabulary.encode(tokens)]).doubles[0] }
        guard logit.isFinite else { throw NonFiniteScores(checkpoint: RunDirectory(directory).lastCheckpoint) }
        let positive = 1 / (1 + exp(-logit))
        return (positive >= 0.5 ? 1 : 0, positive >= 0.5 ? positive : 1 - positive, tokens.filter { !trained.vocabulary.contains($0) })
    }
}

/// Logistic regression on which words a sentence contains (order thrown away): the lecture's order-blind ★.
///
///     x[v] = 1 if word v occurs, else 0;   P(positive) = σ(w·x + c)
public final class BagOfWordsClassifier: Layer {
    public let vocabularySize: Int
    public var output: Dense

    public init(vocabularySize: Int, seed: UInt64) {
        self.vocabularySize = vocabularySize
        output = Dense(inputSize: vocabularySize, outputSize: 1, seed: seed)
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) { output.visitParameters(visit) }

    func features(_ sequences: [[Int]]) -> Tensor {
        var values = [Float](repeating: 0, count: sequences.count * vocabularySize)
        for (row, sequence) in sequences.enumerated() {
            // The reserved entries (padding, unknown, markers) carry no word.
            for token in sequence where token >= Vocabulary.reserved.count { values[row * vocabularySize + token] = 1 }
        }
        return Tensor(shape: [sequences.count, vocabularySize], scalars: values)
    }

    public func logits(_ sequences: [[Int]]) -> Tensor { output(features(sequences)).reshaped([sequences.count]) }

    /// Adam 1e-2 with a little weight decay, batches of 32.
    public func fit(_ sequences: [[Int]], _ labels: [Int], epochs: Int, seed: UInt64) {
        let optimizer = Adam(learningRate: 1e-2, weightDecay: 1e-4)
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<epochs {
            for batch in Batching.shuffledBatches(count: sequences.count, batchSize: 32, using: &generator) {
                zeroGradients()
                let targets = Tensor(shape: [batch.count], scalars: batch.map { Float(labels[$0]) })
                Loss.binaryCrossEntropy(logits: logits(batch.map { sequences[$0] }), targets: targets).backward()
                optimizer.step(self)
            }
        }
    }

    /// Throws `NonFiniteScores` when the weights overflow.
    public func accuracy(_ sequences: [[Int]], _ labels: [Int]) throws -> Double {
        let scores = noGrad { logits(sequences) }
        try NonFiniteScores.check(scores)
        return Double(zip(scores.scalars, labels).filter { ($0 > 0 ? 1 : 0) == $1 }.count) / Double(max(1, labels.count))
    }

    public func save(to path: String) throws {
        try saveParameters(to: path)
    }

    public static func load(from path: String, vocabularySize: Int) throws -> BagOfWordsClassifier {
        let classifier = BagOfWordsClassifier(vocabularySize: vocabularySize, seed: 0)
        try classifier.loadParameters(contentsOf: path)
        return classifier
    }
}

/// Short reviews from a small grammar, labelled by their words *and* their order: "not" flips the
/// adjective after it, and "but" makes the second clause decide. A bag of words cannot see either.
public enum GeneratedSentiment {
    static let subjects = ["the food", "the service", "this phone", "the movie", "the battery", "our waiter", "the room", "this place", "the screen", "the staff"]
    static let verbs = ["was", "is", "seemed", "felt"]
    static let positive = ["good", "great", "excellent", "friendly", "fast", "lovely", "tasty", "perfect"]
    static let negative = ["bad", "awful", "slow", "rude", "terrible", "boring", "cold", "broken"]
    static let intensifiers = ["", "", "really ", "very ", "quite "]

    public static func make(count: Int, seed: UInt64) -> [LabeledSentence] {
        var generator = SeededGenerator(seed: seed ^ 0x5E47)
        func clause() -> (String, Int) {
            let good = Bool.random(using: &generator), negated = Int.random(in: 0..<3, using: &generator) == 0
            let adjective = (good ? positive : negative).randomElement(using: &generator)!
            let text = "\(subjects.randomElement(using: &generator)!) \(verbs.randomElement(using: &generator)!) \(negated ? "not " : "")\(intensifiers.randomElement(using: &generator)!)\(adjective)"
            return (text, good != negated ? 1 : 0)
        }
        return (0..<count).map { _ in
            let (first, firstLabel) = clause()
            guard Int.random(in: 0..<3, using: &generator) == 0 else { return LabeledSentence(label: firstLabel, text: first + ".") }
            var (second, secondLabel) = clause()
            while secondLabel == firstLabel { (second, secondLabel) = clause() }
            return LabeledSentence(label: secondLabel, text: "\(first), but \(second).")
        }
    }
}
