// One-to-many: an image in, a sentence out. A small CNN encodes a generated scene into the decoder LSTM's
// initial state; the decoder is trained with teacher forcing and decodes greedily or by beam search.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining
import RecurrentIO

/// Generated scenes: 1–3 shapes (circle, square, triangle; red, green, blue; small, large) on a 24×24 canvas,
/// each in its own third of the width, with the captions that describe them left to right.
public enum GeneratedScenes {
    public static let size = 24
    public static let shapes = ["circle", "square", "triangle"], colours = ["red", "green", "blue"], sizes = ["small", "large"]

    public struct Item: Sendable, Equatable {
        public var shape: Int, colour: Int, large: Bool, x: Double, y: Double
        var phrase: String { "a \(large ? "large" : "small") \(GeneratedScenes.colours[colour]) \(GeneratedScenes.shapes[shape])" }
    }

    public struct Scene: Sendable {
        public var items: [Item]
        public var image: PortableImage
        /// The captions that describe the scene; the first is the one the model learns to say.
        public var captions: [String]
    }

    public static func make(count: Int, seed: UInt64) -> [Scene] {
        var generator = SeededGenerator(seed: seed ^ 0xCA97)
        return (0..<count).map { _ in scene(using: &generator) }
    }

    public static func scene(seed: UInt64) -> Scene {
        var generator = SeededGenerator(seed: seed ^ 0x5CE4E)
        return scene(using: &generator)
    }

    static func scene(using generator: inout SeededGenerator) -> Scene {
        let count = Int.random(in: 1...3, using: &generator)
        let slots = Array([0, 1, 2].shuffled(using: &generator).prefix(count)).sorted()
        let items = slots.map { slot in
            Item(shape: Int.random(in: 0..<3, using: &generator), colour: Int.random(in: 0..<3, using: &generator), large: Bool.random(using: &generator),
                 x: Double(slot * 8) + 4 + Double.random(in: -0.8...0.8, using: &generator), y: Double.random(in: 6...18, using: &generator))
        }
        return Scene(items: items, image: render(items, using: &generator), captions: captions(items))
    }

    static func captions(_ items: [Item]) -> [String] {
        let phrases = items.map(\.phrase)
        switch phrases.count {
        case 1: return [phrases[0], "there is \(phrases[0])"]
        case 2: return ["\(phrases[0]) to the left of \(phrases[1])", "\(phrases[1]) to the right of \(phrases[0])"]
        default: return ["\(phrases[0]) , \(phrases[1]) and \(phrases[2])", "\(phrases[2]) , \(phrases[1]) and \(phrases[0]) from right to left"]
        }
    }

    static func render(_ items: [Item], using generator: inout SeededGenerator) -> PortableImage {
        var values = [Float](repeating: 0, count: size * size * 3)
        for index in values.indices { values[index] = Float.random(in: 0...0.08, using: &generator) }
        for item in items {
            let radius = item.large ? 3.6 : 2.1
            for row in 0..<size {
                for column in 0..<size {
                    let dx = Double(column) - item.x, dy = Double(row) - item.y
                    let inside: Bool
                    switch item.shape {
                    case 0: inside = dx * dx + dy * dy <= radius * radius
                    case 1: inside = abs(dx) <= radius * 0.85 && abs(dy) <= radius * 0.85
                    default: inside = dy <= radius * 0.8 && dy >= -radius && abs(dx) <= (dy + radius) * 0.6
                    }
                    guard inside else { continue }
                    for channel in 0..<3 { values[(row * size + column) * 3 + channel] = channel == item.colour ? 0.9 : 0.1 }
                }
            }
        }
        return PortableImage(width: size, height: size, channels: 3, values: values)
    }
}

/// CNN encoder → LSTM decoder.
///
///     features = relu(conv3×3(3→16)) → maxpool 2 → relu(conv3×3(16→32)) → maxpool 2 → flatten (32·6·6)
///     h₀ = tanh(W_h·features + b_h),  c₀ = W_c·features + b_c
///     h_t = LSTM(E[word_{t−1}], h_{t−1}, c_{t−1});   P(word_t) = softmax(W_o·h_t + b_o),  word₀ = <bos>
///
/// Parameters: `conv1.*`, `conv2.*`, `bridge.*` (W_h, b_h), `cell_bridge.*` (W_c, b_c), `embedding.weight`,
/// `decoder.*`, `output.*`.
public final class CaptionModel: Layer {
    public let conv1: Conv2D, conv2: Conv2D, bridge: Dense, cellBridge: Dense
    public let embedding: Embedding
    public let decoder: RecurrentLayer
    public let output: Dense

    public init(vocabularySize: Int, hiddenSize: Int, embeddingSize: Int, seed: UInt64) {
        conv1 = Conv2D(inputChannels: 3, outputChannels: 16, kernelSize: 3, padding: 1, seed: seed &+ 1)
        conv2 = Conv2D(inputChannels: 16, outputChannels: 32, kernelSize: 3, padding: 1, seed: seed &+ 2)
        let pooled = GeneratedScenes.size / 4
        bridge = Dense(inputSize: 32 * pooled * pooled, outputSize: hiddenSize, seed: seed &+ 3)
        cellBridge = Dense(inputSize: 32 * pooled * pooled, outputSize: hiddenSize, seed: seed &+ 7)
        embedding = Embedding(vocabularySize: vocabularySize, dimension: embeddingSize, paddingIndex: Vocabulary.padding, seed: seed &+ 4)
        decoder = RecurrentLayer(.lstm, inputSize: embeddingSize, hiddenSize: hiddenSize, seed: seed &+ 5)
        output = Dense(inputSize: hiddenSize, outputSize: vocabularySize, seed: seed &+ 6)
    }

    var parts: [(String, Layer)] {
        [("conv1", conv1), ("conv2", conv2), ("bridge", bridge), ("cell_bridge", cellBridge), ("embedding", embedding), ("decoder", decoder), ("output", output)]
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        for (prefix, part) in parts { part.visitParameters { visit(prefix + "." + $0, &$1) } }
    }

    public func visitSublayers(_ visit: (Layer) -> Void) { for (_, part) in parts { visit(part) } }

    /// Images (B, 24, 24, 3) channel-last values → the decoder's initial states.
    public func encode(_ images: [PortableImage]) -> [RecurrentState] {
        let size = GeneratedScenes.size
        var values = [Float](repeating: 0, count: images.count * 3 * size * size)
        for (index, image) in images.enumerated() {
            for pixel in 0..<(size * size) { for channel in 0..<3 { values[((index * 3 + channel) * size * size) + pixel] = image.values[pixel * 3 + channel] } }
        }
        let x = Tensor(shape: [images.count, 3, size, size], scalars: values)
        let features = conv2(conv1(x).relu().maxPool2D(kernel: 2)).relu().maxPool2D(kernel: 2).reshaped([images.count, -1])
        // The cell state carries the scene into the decoder's memory line; h₀ lets the first word see it.
        return [RecurrentState(hidden: bridge(features).tanh(), cell: cellBridge(features))]
    }

    /// Logits (B·T, V) for the words after each input word.
    public func decode(_ inputs: [[Int]], lengths: [Int], states: [RecurrentState]) -> (logits: Tensor, states: [RecurrentState]) {
        let steps = inputs[0].count
        let result = decoder(embedding(inputs.flatMap { $0 }, shape: [inputs.count, steps]), lengths: lengths, initialStates: states)
        return (output(result.output.reshaped([inputs.count * steps, decoder.hiddenSize])), result.finalStates)
    }

    /// The caption's tokens, by beam search of `beamWidth` (1: greedy). Throws `NonFiniteScores` when the decoder's
    /// scores overflow.
    public func caption(_ image: PortableImage, beamWidth: Int, maxLength: Int = 24) throws -> [Int] {
        setTraining(false)
        return try noGrad {
            try BeamSearch.decode(
                sequences: 1, initial: encode([image]), beamWidth: beamWidth, maxLength: maxLength, begin: Vocabulary.begin, end: Vocabulary.end,
                candidates: { tokens, _, states in
                    let (logits, next) = decode(tokens.map { [$0] }, lengths: Array(repeating: 1, count: tokens.count), states: states.map {
                        RecurrentState(hidden: $0.hidden.broadcasted(to: [tokens.count, $0.hidden.shape[1]]), cell: $0.cell?.broadcasted(to: [tokens.count, $0.hidden.shape[1]]))
                    })
                    try NonFiniteScores.check(logits)
                    return (BeamSearch.bestTokens(logits: logits, count: beamWidth), next)
                },
                select: { states, rows in states.map { RecurrentState(hidden: $0.hidden.indexSelect(rows), cell: $0.cell?.indexSelect(rows)) } })[0]
        }
    }
}

public enum CaptionTask {
    public static let name = "caption"
    public static let models = ["cnn-lstm"]

    static func configuration(_ settings: RunSettings, vocabularySize: Int) -> String {
        "caption cnn-lstm vocabulary \(vocabularySize) hidden \(settings.integer("hidden", default: 128))"
    }

    static func makeModel(_ settings: RunSettings, vocabularySize: Int) -> CaptionModel {
        CaptionModel(vocabularySize: vocabularySize, hiddenSize: settings.integer("hidden", default: 128), embeddingSize: 32, seed: settings.seed &+ 2)
    }

    static func scenes(_ settings: RunSettings) throws -> [GeneratedScenes.Scene] {
        if let data = settings.data { throw TaskError("--data \(data): the caption task generates its scenes; it reads no file") }
        return GeneratedScenes.make(count: limited(settings.integer("scenes", default: 3000), settings.limit), seed: settings.seed)
    }

    static func heldOut(_ count: Int) -> Range<Int> { (count - count / 5)..<count }

    public static func train(_ request: TrainRequest) throws -> TrainReport {
        let started = monotonicSeconds()
        let (settings, resuming) = try resolveSettings(request, defaultModel: "cnn-lstm", models: models, defaultEpochs: 15)
        let scenes = try scenes(settings)
        let validation = heldOut(scenes.count), training = 0..<validation.lowerBound
        try requireSplit(training: training.count, heldOut: validation.count, source: "generated scenes (--limit)")
        let vocabulary = Vocabulary(counting: scenes[training].flatMap { $0.captions.map(WordTokenizer.tokens) })
        let folder = RunDirectory(request.output)
        let model = makeModel(settings, vocabularySize: vocabulary.count)
        // Teacher forcing: the decoder reads <bos> w₁ … wₙ and must say w₁ … wₙ <eos>.
        let targetsOf = scenes.map { vocabulary.encode(WordTokenizer.tokens($0.captions[0])) + [Vocabulary.end] }
        func batch(_ rows: [Int]) -> BatchResult {
            let steps = rows.map { targetsOf[$0].count }.max()!
            let inputs = rows.map { row in [Vocabulary.begin] + targetsOf[row].dropLast() + Array(repeating: Vocabulary.padding, count: steps - targetsOf[row].count) }
            let targets = rows.flatMap { row in targetsOf[row] + Array(repeating: Vocabulary.padding, count: steps - targetsOf[row].count) }
            let (logits, _) = model.decode(inputs, lengths: rows.map { targetsOf[$0].count }, states: model.encode(rows.map { scenes[$0].image }))
            return BatchResult(loss: Loss.crossEntropy(logits: logits, targets: targets, ignoreIndex: Vocabulary.padding), examples: rows.count)
        }
        let trainer = try runTrainingSession(
            folder: folder, settings: settings, resuming: resuming, files: [.vocabulary("words.vocab", vocabulary)], showProgress: request.showProgress,
            configuration: configuration(settings, vocabularySize: vocabulary.count), model: model,
            optimizer: Adam(learningRate: 2e-3), batchSize: 32, clipNorm: 5, count: training.count,
            batch: { batch($0) },
            validate: { Metrics.measure(Array(validation), chunk: 128, batch) })
        let evaluation = try evaluate(directory: request.output, data: nil)
        let example = scenes[validation.lowerBound]
        let said = detokenize(vocabulary.decode(try NonFiniteScores.naming(RunDirectory(request.output).lastCheckpoint) { try model.caption(example.image, beamWidth: 3) }))
        return TrainReport(directory: request.output, epochs: trainer.epoch, seconds: monotonicSeconds() - started, evaluation: evaluation,
                           notes: ["a held-out scene: \(example.captions[0]) → \(said)"])
    }

    static func loadTrained(_ directory: String, model saved: SavedModel = .last) throws -> (RunSettings, Vocabulary, CaptionModel) {
        let folder = RunDirectory(directory)
        let settings = try folder.trainedSettings(for: name)
        let vocabulary = try folder.readVocabulary(name: "words.vocab")
        let model = makeModel(settings, vocabularySize: vocabulary.count)
        try Checkpoint.loadModel(from: folder.checkpoint(saved), model: model, configuration: configuration(settings, vocabularySize: vocabulary.count), run: settings.run)
        return (settings, vocabulary, model)
    }

    /// Corpus BLEU-4 (every reference caption of a scene counts) on the run's held-out scenes: by beam search
    /// of width `beam` as the value, greedy as `greedy_bleu4`.
    public static func evaluate(directory: String, data: String?, model saved: SavedModel = .last) throws -> Evaluation {
        if let data { throw TaskError("--data \(data): the caption task evaluates on its own generated scenes") }
        let (settings, vocabulary, model) = try loadTrained(directory, model: saved)
        var generatedSettings = settings
        generatedSettings.data = nil
        let scenes = try scenes(generatedSettings)
        let held = Array(scenes[heldOut(scenes.count)])
        let references = held.map { $0.captions.map(WordTokenizer.tokens) }
        let beam = settings.integer("beam", default: 3)
        let (beamed, greedy) = try NonFiniteScores.naming(RunDirectory(directory).checkpoint(saved)) {
            (try held.map { vocabulary.decode(try model.caption($0.image, beamWidth: beam)) },
             try held.map { vocabulary.decode(try model.caption($0.image, beamWidth: 1)) })
        }
        let exact = zip(greedy, references).filter { $0.0 == $0.1[0] }.count
        return Evaluation(task: name, metric: "bleu4", value: BLEU.corpusScore(candidates: beamed, references: references), examples: held.count,
                          extra: ["greedy_bleu4": BLEU.corpusScore(candidates: greedy, references: references), "beam_width": Double(beam),
                                  "greedy_exact_match": Double(exact) / Double(max(1, held.count))])
    }

    /// The caption of an image file (PPM/PGM, resampled to 24×24) or of generated scene `scene`.
    public static func caption(directory: String, image path: String?, scene seed: UInt64?, beamWidth: Int, writeScene: String?) throws -> (caption: String, references: [String]) {
        let (_, vocabulary, model) = try loadTrained(directory)
        var references: [String] = []
        let image: PortableImage
        if let seed {
            let scene = GeneratedScenes.scene(seed: seed)
            image = scene.image
            references = scene.captions
        } else if let path {
            let read = try PortableImage.read(contentsOf: path)
            image = read.channels == 3 && read.width == GeneratedScenes.size && read.height == GeneratedScenes.size ? read : resampledColour(read)
        } else {
            throw TaskError("give an image file or --scene SEED")
        }
        let tokens = try NonFiniteScores.naming(RunDirectory(directory).lastCheckpoint) { try model.caption(image, beamWidth: beamWidth) }
        // Written once the caption stands: a refused model leaves no file behind.
        if seed != nil, let writeScene { try writeAtomically(image.fileData, to: writeScene) }
        return (detokenize(vocabulary.decode(tokens)), references)
    }

    /// Any image as 24×24 RGB (box-averaged; grey copied to all channels).
    static func resampledColour(_ image: PortableImage) -> PortableImage {
        let size = GeneratedScenes.size
        var values = [Float](repeating: 0, count: size * size * 3)
        for channel in 0..<3 {
            let plane = PortableImage(width: image.width, height: image.height, channels: 1,
                                      values: (0..<(image.width * image.height)).map { image.values[$0 * image.channels + min(channel, image.channels - 1)] })
            for (pixel, value) in plane.greyscale(width: size, height: size).enumerated() { values[pixel * 3 + channel] = value }
        }
        return PortableImage(width: size, height: size, channels: 3, values: values)
    }
}
