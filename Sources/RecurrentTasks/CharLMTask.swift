// Many-to-many, one step ahead: a character-level language model. Reads one-hot characters, predicts the
// next one at every step; its validation loss is in nats per character; it writes text by sampling.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining
import RecurrentIO

/// One-hot characters → stacked LSTM → dense → next-character logits at every step.
///
///     x[b, t] = onehot(char[b, t]) (V)     h = LSTM_L(x)  (B, T, H)     logits[b, t] = W·h[b, t] + c  (V)
///
/// Parameters: `lstm.*` (PyTorch's names, weight_ih_l0 is (4H, V)), `output.weight` (V, H), `output.bias`.
public final class CharacterModel: Layer {
    public let vocabularySize: Int
    public let lstm: RecurrentLayer
    public let output: Dense

    public init(vocabularySize: Int, hiddenSize: Int, layers: Int, seed: UInt64) {
        self.vocabularySize = vocabularySize
        lstm = RecurrentLayer(.lstm, inputSize: vocabularySize, hiddenSize: hiddenSize, layerCount: layers, seed: seed &+ 1)
        output = Dense(inputSize: hiddenSize, outputSize: vocabularySize, seed: seed &+ 2)
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        lstm.visitParameters { visit("lstm." + $0, &$1) }
        output.visitParameters { visit("output." + $0, &$1) }
    }

    public func visitSublayers(_ visit: (Layer) -> Void) { visit(lstm); visit(output) }

    /// Logits (B·T, V) for equal-length sequences, and the final states.
    public func callAsFunction(_ sequences: [[Int]], states: [RecurrentState]? = nil) -> (logits: Tensor, states: [RecurrentState]) {
        // The one-hot characters go in as indices: the LSTM gathers W_ih's columns instead of multiplying.
        let result = lstm(oneHot: sequences.flatMap { $0 }, batch: sequences.count, steps: sequences[0].count, initialStates: states)
        let hidden = result.output.reshaped([sequences.count * sequences[0].count, lstm.hiddenSize])
        return (output(hidden), result.finalStates)
    }
}

public enum CharLMTask {
    public static let name = "charlm"
    public static let models = ["lstm"]
    /// Index 0 stands for any character the training text lacked.
    static let unknownCharacter: Character = "\u{FFFD}"

    struct Corpus {
        var alphabet: [Character]
        var training: [Int]
        var validation: [Int]
    }

    static func text(_ settings: RunSettings) throws -> String {
        let text = try settings.data.map { try readTextCorpus($0) } ?? GeneratedText.make(characters: 60_000, seed: settings.seed)
        guard let limit = settings.limit else { return text }
        return String(text.prefix(limit))
    }

    static func sequenceLength(_ settings: RunSettings) -> Int { settings.integer("sequence", default: settings.data == nil ? 50 : 100) }
    static func hiddenSize(_ settings: RunSettings) -> Int { settings.integer("hidden", default: settings.data == nil ? 128 : 256) }
    static func layerCount(_ settings: RunSettings) -> Int { settings.integer("layers", default: settings.data == nil ? 1 : 2) }

    static func configuration(_ settings: RunSettings, alphabet: Int) -> String {
        "charlm lstm \(layerCount(settings))x\(hiddenSize(settings)) alphabet \(alphabet)"
    }

    static func encode(_ text: String, alphabet: [Character]) -> [Int] {
        var index: [Character: Int] = [:]
        for (position, character) in alphabet.enumerated() { index[character] = position }
        return text.map { index[$0] ?? 0 }
    }

    /// Training windows on a grid that each epoch shifts by a random 0..<length characters, so a character is
    /// not always read at the same place in its window, from the same zero state (`--set shift-windows=0` keeps
    /// the fixed grid, the PyTorch recipe's). Every shift gives the same number of windows: the last starts at
    /// most length − 1 past the grid's, its target still inside the text. An example index stands for
    /// (shift, window) as shift·count + window.
    public struct ShiftedWindows: Sendable {
        public let length: Int
        public let count: Int

        /// Nil when the text is shorter than two windows: such a text keeps the fixed grid (a shift would leave
        /// no window whole).
        public init?(textCount: Int, length: Int) {
            guard length > 0, textCount >= 2 * length else { return nil }
            self.length = length
            count = (textCount - length) / length
        }

        public func start(_ index: Int) -> Int { (index % count) * length + index / count }

        /// One epoch: a shift drawn from the trainer's generator (so a resumed run draws the same), then the
        /// windows in shuffled batches.
        public func batches(batchSize: Int, using generator: inout SeededGenerator) -> [[Int]] {
            let shift = Int.random(in: 0..<length, using: &generator)
            return Batching.shuffledBatches(count: count, batchSize: batchSize, using: &generator).map { $0.map { shift * count + $0 } }
        }
    }

    /// Where the held-out last tenth starts: after the first line break in it, so no line is split between
    /// training and validation (a text with no line break there is cut where the tenth starts).
    static func heldOutStart(_ text: String) -> String.Index {
        let tenth = text.index(text.startIndex, offsetBy: text.count * 9 / 10)
        if let lineBreak = text[tenth...].firstIndex(of: "\n"), text.index(after: lineBreak) < text.endIndex { return text.index(after: lineBreak) }
        return tenth
    }

    /// Windows of `length` + 1 characters (input and next-character target) starting every `length`.
    static func windows(_ symbols: [Int], length: Int) -> [Int] {
        symbols.count > length ? Array(stride(from: 0, to: symbols.count - length, by: length)) : []
    }

    public static func train(_ request: TrainRequest) throws -> TrainReport {
        let started = monotonicSeconds()
        let (resolved, resuming) = try resolveSettings(request, defaultModel: "lstm", models: models, defaultEpochs: request.data == nil ? 25 : 16)
        var settings = resolved
        // Windows shift in a new run; one begun before they did resumes on the fixed grid it started on.
        settings.recordDefault("shift-windows", "1", resuming: resuming)
        let text = try text(settings)
        let cut = heldOutStart(text)
        let alphabet = [unknownCharacter] + Set(text[..<cut]).sorted()
        let training = encode(String(text[..<cut]), alphabet: alphabet), validation = encode(String(text[cut...]), alphabet: alphabet)
        let length = sequenceLength(settings)
        let trainingStarts = windows(training, length: length), validationStarts = windows(validation, length: length)
        guard !trainingStarts.isEmpty, !validationStarts.isEmpty else {
            throw DataFileError(file: settings.data ?? "generated text", line: nil, problem: "\(text.count) characters (line ends included) are too few for windows of \(length): the training text and the held-out last tenth each need more than \(length), so about \(10 * (length + 1)) in all; give more text or lower --set sequence")
        }
        // Validation runs 64 windows at a time.
        let batchSize = settings.integer("batch", default: 32)
        let shifted = settings.integer("shift-windows", default: 0) != 0 ? ShiftedWindows(textCount: training.count, length: length) : nil
        let largestBatch = MemoryEstimate.largestBatch(training: min(batchSize, trainingStarts.count),
                                                       validation: min(64, validationStarts.count))
        try MemoryBudget.require(.characterModel(alphabet: alphabet.count, hidden: hiddenSize(settings), layers: layerCount(settings), batch: largestBatch, length: length),
                                 task: name, lower: "--set batch, sequence, hidden or layers")
        let folder = RunDirectory(request.output)
        let model = CharacterModel(vocabularySize: alphabet.count, hiddenSize: hiddenSize(settings), layers: layerCount(settings), seed: settings.seed &+ 2)
        func batch(_ symbols: [Int], _ starts: [Int]) -> BatchResult {
            let inputs = starts.map { Array(symbols[$0..<($0 + length)]) }
            let targets = starts.flatMap { symbols[($0 + 1)...($0 + length)] }
            return BatchResult(loss: Loss.crossEntropy(logits: model(inputs).logits, targets: targets), examples: starts.count)
        }
        let trainer = try runTrainingSession(
            folder: folder, settings: settings, resuming: resuming, files: [RunFile("alphabet.json", entries: alphabet.dropFirst().map(String.init), format: .jsonStrings)], showProgress: request.showProgress,
            configuration: configuration(settings, alphabet: alphabet.count), model: model,
            optimizer: Adam(learningRate: settings.number("learning-rate", default: 2e-3)), batchSize: batchSize, clipNorm: 5,
            count: shifted?.count ?? trainingStarts.count,
            batch: { batch(training, $0.map { shifted?.start($0) ?? trainingStarts[$0] }) },
            validate: { loss(model, validation, length: length) },
            plan: shifted.map { windows in { windows.batches(batchSize: batchSize, using: &$0) } })
        let evaluation = try evaluate(directory: request.output, data: nil)
        let sample = try CharLMTask.sample(directory: request.output, prime: String(text.prefix(1)), temperature: 0.8, length: 160, seed: 1)
        return TrainReport(directory: request.output, epochs: trainer.epoch, seconds: monotonicSeconds() - started, evaluation: evaluation,
                           notes: ["sample: " + sample.replacingOccurrences(of: "\n", with: " ⏎ ")])
    }

    /// Mean loss per character over `symbols` in windows of `length` (each window starts from a zero state).
    static func loss(_ model: CharacterModel, _ symbols: [Int], length: Int) -> Metrics {
        model.setTraining(false)
        let starts = windows(symbols, length: length)
        return Metrics.measure(Array(starts.indices), chunk: 64) { chunk in
            let inputs = chunk.map { Array(symbols[starts[$0]..<(starts[$0] + length)]) }
            let targets = chunk.flatMap { symbols[(starts[$0] + 1)...(starts[$0] + length)] }
            return BatchResult(loss: Loss.crossEntropy(logits: model(inputs).logits, targets: targets), examples: targets.count)
        }
    }

    /// The alphabet (without the unknown character at index 0) as a JSON array of strings, one per character.
    /// Written as one string, a character that combines with the one before it (U+0301 after "e") would merge
    /// with it when read back, and every index after it would shift.
    static func readAlphabet(_ folder: RunDirectory) throws -> [Character] {
        let path = folder.file("alphabet.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TaskError("\(folder.path): alphabet.json is missing or unreadable")
        }
        guard let strings = try? JSONDecoder().decode([String].self, from: data) else {
            throw DataFileError(file: path, line: nil, problem: "not a JSON array of strings")
        }
        guard !strings.isEmpty else { throw DataFileError(file: path, line: nil, problem: "holds no characters; a run's alphabet has at least one") }
        var seen: Set<Character> = [unknownCharacter]
        var alphabet = [unknownCharacter]
        for (index, string) in strings.enumerated() {
            guard string.count == 1, let character = string.first, seen.insert(character).inserted else {
                throw DataFileError(file: path, line: nil, problem: "entry \(index + 1) ('\(string)') is not one character, or repeats one")
            }
            alphabet.append(character)
        }
        try folder.checkFingerprint(of: "alphabet.json", entries: strings)
        return alphabet
    }

    static func loadTrained(_ directory: String, model saved: SavedModel = .last) throws -> (RunSettings, [Character], CharacterModel) {
        let folder = RunDirectory(directory)
        let settings = try folder.trainedSettings(for: name)
        let alphabet = try readAlphabet(folder)
        let model = CharacterModel(vocabularySize: alphabet.count, hiddenSize: hiddenSize(settings), layers: layerCount(settings), seed: 0)
        try Checkpoint.loadModel(from: folder.checkpoint(saved), model: model, configuration: configuration(settings, alphabet: alphabet.count), run: settings.run)
        return (settings, alphabet, model)
    }

    /// Validation loss in nats per character: on `data` (the whole file), or on the run's held-out tenth.
    public static func evaluate(directory: String, data: String?, model saved: SavedModel = .last) throws -> Evaluation {
        let (settings, alphabet, model) = try loadTrained(directory, model: saved)
        let symbols: [Int]
        if let data {
            symbols = encode(try readTextCorpus(data), alphabet: alphabet)
        } else {
            let text = try text(settings)
            symbols = encode(String(text[heldOutStart(text)...]), alphabet: alphabet)
        }
        let length = sequenceLength(settings)
        guard symbols.count > length else { throw DataFileError(file: data ?? "held-out text", line: nil, problem: "fewer than \(length + 1) characters") }
        let result = loss(model, symbols, length: length)
        try NonFiniteScores.check(result, checkpoint: RunDirectory(directory).checkpoint(saved))
        return Evaluation(task: name, metric: "nats_per_char", value: result.loss, examples: result.examples, extra: ["bits_per_char": result.loss / log(2)])
    }

    /// The characters of `prime` that the run's alphabet lacks (each is read as the unknown character), in order
    /// of first appearance.
    public static func unknownCharacters(directory: String, prime: String) throws -> [Character] {
        let known = Set(try readAlphabet(RunDirectory(directory)))
        var seen: Set<Character> = []
        return prime.filter { !known.contains($0) && seen.insert($0).inserted }.map { $0 }
    }

    /// Text written by the model one character at a time: the prime read in, then each next character drawn
    /// from softmax(logits / temperature) (temperature 0: always the likeliest).
    public static func sample(directory: String, prime: String, temperature: Double, length: Int, seed: UInt64) throws -> String {
        let (_, alphabet, model) = try loadTrained(directory)
        guard !prime.isEmpty else { throw TaskError("--prime must not be empty") }
        guard temperature >= 0, temperature.isFinite else { throw TaskError("--temperature \(temperature): must be a finite number ≥ 0") }
        model.setTraining(false)
        var generator = SeededGenerator(seed: seed)
        var states: [RecurrentState]? = nil
        var output = prime
        let checkpoint = RunDirectory(directory).lastCheckpoint
        return try noGrad {
            var (logits, next) = (Tensor(0), [RecurrentState]())
            for symbol in encode(prime, alphabet: alphabet) {
                (logits, next) = model([[symbol]], states: states)
                states = next
            }
            for _ in 0..<length {
                try NonFiniteScores.check(logits, checkpoint: checkpoint)
                let scores = logits.doubles
                let chosen: Int
                if temperature == 0 {
                    chosen = scores.indices.dropFirst().max { scores[$0] < scores[$1] } ?? 1
                } else {
                    // Scaled by the best character the model may write (never index 0, the unknown-character
                    // marker), so that character weighs exactly 1 however low the temperature: scaled by a
                    // marker that led, every weight could round to 0 and leave nothing to draw from.
                    let top = scores.dropFirst().max() ?? 0
                    var weights = scores.map { exp(($0 - top) / temperature) }
                    weights[0] = 0
                    var draw = Double.random(in: 0..<weights.reduce(0, +), using: &generator)
                    chosen = weights.firstIndex { draw -= $0; return draw < 0 } ?? weights.count - 1
                }
                output.append(alphabet[chosen])
                (logits, next) = model([[chosen]], states: states)
                states = next
            }
            return output
        }
    }
}

/// Text from a small grammar (speaker lines and short sentences), so the task runs with no file.
public enum GeneratedText {
    static let names = ["ANNA", "BEN", "CLARA", "DAVID"]
    static let subjects = ["the king", "my lord", "the queen", "a friend", "the night", "this house", "our ship", "your heart"]
    static let verbs = ["loves", "fears", "keeps", "finds", "leaves", "remembers", "sees", "hears"]
    static let objects = ["the sea", "a light", "the gate", "an old song", "the crown", "my name", "the garden", "a letter"]
    static let endings = [".", ".", "!", "?"]

    public static func make(characters: Int, seed: UInt64) -> String {
        var generator = SeededGenerator(seed: seed ^ 0x7E47)
        var text = ""
        while text.count < characters {
            text += names.randomElement(using: &generator)! + ":\n"
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let sentence = "\(subjects.randomElement(using: &generator)!) \(verbs.randomElement(using: &generator)!) \(objects.randomElement(using: &generator)!)"
                text += sentence.prefix(1).uppercased() + sentence.dropFirst() + endings.randomElement(using: &generator)! + "\n"
            }
            text += "\n"
        }
        return text
    }
}
