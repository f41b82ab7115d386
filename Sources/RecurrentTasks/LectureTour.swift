// The tour's lecture chapters: the four shapes trained briefly, parameters explained, the memory experiment,
// the gates, and order-matters — each printed as it runs and gathered into one HTML report.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentIO

public final class LectureTour {
    public let report: HTMLReport
    public let output: String
    /// A folder laid out like ../shared/data; nil: every chapter generates its data.
    public let dataDirectory: String?
    let say: (String) -> Void
    var sentimentComparison: (lstm: Double, bagOfWords: Double)?
    var actionComparison: (lstm: Double, averageFrame: Double)?

    public init(report: HTMLReport, output: String, dataDirectory: String?, say: @escaping (String) -> Void) {
        self.report = report
        self.output = output
        self.dataDirectory = dataDirectory
        self.say = say
    }

    var runs: String { output + "/runs" }

    /// The real datasets the tour reads under --data-dir, each with the reader its task reads it with.
    static let datasets: [(file: String, read: @Sendable (String) throws -> Void)] = [
        ("digits8x8/digits_train.csv", { _ = try readDigitsCSV($0) }), ("sentiment/amazon_yelp.tsv", { _ = try readLabeledSentences($0) }),
        ("translation-en-fr/eng-fra.tsv", { _ = try readSentencePairs($0) }), ("tinyshakespeare/train.txt", { _ = try readTextCorpus($0) }),
    ]
    public static var dataFiles: [String] { datasets.map(\.file) }

    /// Checks every dataset under `directory` before anything is trained, present and read whole as its task reads
    /// it (a second or so): a missing or malformed one found chapters later left a tour folder with runs and no report.
    public static func checkDataDirectory(_ directory: String) throws {
        let path = { (directory as NSString).appendingPathComponent($0) }
        let missing = dataFiles.map(path).filter { !FileManager.default.fileExists(atPath: $0) }
        guard missing.isEmpty else { throw TaskError("--data-dir \(directory): missing \(missing.joined(separator: ", "))") }
        for dataset in datasets { try dataset.read(path(dataset.file)) }
    }

    func dataFile(_ relative: String) throws -> String? {
        guard let dataDirectory else { return nil }
        let path = (dataDirectory as NSString).appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: path) else { throw TaskError("--data-dir: \(path) is missing") }
        return path
    }

    /// Trains `task` into runs/<name> (replacing an earlier tour's run there) and reports it.
    func train(_ task: String, name: String? = nil, model: String? = nil, data: String?, epochs: Int, limit: Int? = nil, options: [String: String] = [:]) throws -> TrainReport {
        let folder = runs + "/" + (name ?? task)
        if FileManager.default.fileExists(atPath: folder + "/task.json") { try FileManager.default.removeItem(atPath: folder) }
        let started = monotonicSeconds()
        say("  training \(task)\(model.map { " (\($0))" } ?? "") on \(data ?? "generated data") for \(epochs) epochs…")
        let result = try Tasks.train(TrainRequest(task: task, model: model, data: data, epochs: epochs, seed: 0, limit: limit, output: folder, options: options, showProgress: false))
        say("  " + result.evaluation.text + String(format: "  (%.1f s)", monotonicSeconds() - started))
        for (chart, svg) in trainingCharts(folder: RunDirectory(folder), title: "\(task)\(model.map { " (\($0))" } ?? "")") where chart == "training.svg" {
            report.figure(svg, caption: "\(task): training and validation loss per epoch.")
        }
        return result
    }

    // MARK: - The four shapes

    public func fourShapes() throws {
        report.section("One-to-one: an image in, a class out (MLP and CNN)", id: "one-to-one")
        let digits = try dataFile("digits8x8/digits_train.csv")
        report.paragraph(digits == nil ? "Digits drawn here from a 5×7 font at random sizes, positions and slants, counted into 8×8 images as in the UCI set." : "The 8×8 UCI digits.")
        let mlp = try train("digits", name: "digits-mlp", model: "mlp", data: digits, epochs: digits == nil ? 15 : 40)
        let cnn = try train("digits", name: "digits-cnn", model: "cnn", data: digits, epochs: digits == nil ? 10 : 20)
        let sample = GeneratedDigits.make(count: 10, seed: 4242)
        let image = output + "/digit.pgm"
        try writeAtomically(PortableImage(width: 8, height: 8, channels: 1, values: sample.pixels[7]).fileData, to: image)
        let ranked = try DigitsTask.predict(directory: cnn.directory, input: image)
        let line = String(format: "a drawn 7 (digit.pgm): the CNN says %d with probability %.3f", ranked[0].label, ranked[0].probability)
        say("  " + line)
        report.table(header: ["model", "held-out accuracy", "examples"], rows: [
            ["MLP", percent(mlp.evaluation.value), "\(mlp.evaluation.examples)"], ["CNN", percent(cnn.evaluation.value), "\(cnn.evaluation.examples)"]])
        report.paragraph(line + ".")
        report.endSection()

        report.section("Many-to-one: a sentence in, a sentiment out (embeddings → LSTM)", id: "many-to-one-sentiment")
        let reviews = try dataFile("sentiment/amazon_yelp.tsv")
        report.paragraph(reviews == nil ? "Reviews from a small grammar where word order matters: 'not' flips the adjective after it and 'but' hands the verdict to the second clause." : "Amazon and Yelp review sentences.")
        let sentiment = try train("sentiment", data: reviews, epochs: 15)
        sentimentComparison = (sentiment.evaluation.value, sentiment.evaluation.extra["bag_of_words_accuracy"] ?? .nan)
        var examples: [[String]] = []
        for sentence in ["the food was not good.", "the service was slow, but the staff was friendly."] {
            let result = try SentimentTask.predict(directory: sentiment.directory, sentence: sentence)
            examples.append([sentence, result.label == 1 ? "positive" : "negative", String(format: "%.3f", result.probability)])
            say("  \"\(sentence)\" → \(result.label == 1 ? "positive" : "negative") (\(String(format: "%.3f", result.probability)))")
        }
        report.table(header: ["sentence", "prediction", "probability"], rows: examples)
        report.endSection()

        report.section("Many-to-one: frames in, an action out (order is everything)", id: "many-to-one-action")
        report.paragraph("Clips of 16 frames: a shape goes round a circle clockwise or counter-clockwise, slowly or fast. Every clip shows each of 8 positions in exactly two frames, so the frames as a set — and their average — say nothing about the class.")
        let action = try train("action", data: nil, epochs: 12)
        actionComparison = (action.evaluation.value, action.evaluation.extra["average_frame_accuracy"] ?? .nan)
        report.endSection()

        report.section("One-to-many: an image in, a sentence out (CNN → LSTM captioning)", id: "one-to-many")
        report.paragraph("Scenes of one to three shapes; the CNN's summary becomes the LSTM decoder's initial state; trained with teacher forcing, decoded by beam search.")
        let caption = try train("caption", data: nil, epochs: 10, options: ["scenes": "2000"])
        let described = try CaptionTask.caption(directory: caption.directory, image: nil, scene: 11, beamWidth: 3, writeScene: output + "/scene.ppm")
        report.figure(SVGPlot.image(GeneratedScenes.scene(seed: 11).image, title: "Generated scene 11"), caption: "The scene the model describes (scene.ppm).")
        say("  scene 11: \"\(described.caption)\" (its own captions: \(described.references.joined(separator: " | ")))")
        report.table(header: ["model's caption (beam 3)", "the scene's captions"], rows: [[described.caption, described.references.joined(separator: " | ")]])
        report.endSection()

        report.section("Many-to-many: a sentence in, a sentence out (encoder–decoder with attention)", id: "many-to-many")
        let pairs = try dataFile("translation-en-fr/eng-fra.tsv")
        report.paragraph(pairs == nil ? "A toy language: every word has a fixed counterpart and the sentence comes out reversed, so the decoder must look back at the right source word — attention shows where it looks." : "English → French sentence pairs (a slice of them, a few epochs: the full recipe is `recurrent train translate`).")
        let translate = try train("translate", data: pairs, epochs: pairs == nil ? 10 : 3, limit: pairs == nil ? nil : 8000, options: pairs == nil ? [:] : ["evaluate-limit": "300"])
        let sentence = pairs == nil ? "big cat sees old moon" : "I am cold."
        let translated = try TranslateTask.translate(directory: translate.directory, sentence: sentence, beamWidth: 4)
        say("  \"\(sentence)\" → \"\(translated.translation)\"")
        report.table(header: ["source", "translation (beam 4)"], rows: [[sentence, translated.translation]])
        if let weights = translated.attention {
            report.figure(SVGPlot.heatmap(title: "Attention while translating", values: weights, rowLabels: translated.targetTokens, columnLabels: translated.sourceTokens,
                                          xLabel: "source words", yLabel: "output words", low: 0, high: 1),
                          caption: "Each output word's attention over the source words (rows sum to 1).")
        }
        report.endSection()

        report.section("Many-to-many, one step ahead: a character-level language model", id: "char-level")
        let text = try dataFile("tinyshakespeare/train.txt")
        let charlm = try train("charlm", data: text, epochs: text == nil ? 12 : 3, limit: text == nil ? nil : 200_000, options: text == nil ? [:] : ["hidden": "128", "layers": "1", "learning-rate": "5e-3"])
        let written = try CharLMTask.sample(directory: charlm.directory, prime: text == nil ? "ANNA:" : "ROMEO:", temperature: 0.8, length: 200, seed: 1)
        say("  sample: " + written.replacingOccurrences(of: "\n", with: " ⏎ ").prefix(120) + "…")
        report.paragraph("Validation loss \(String(format: "%.3f", charlm.evaluation.value)) nats per character. A sample at temperature 0.8:")
        report.preformatted([written])
        report.endSection()
    }

    // MARK: - Parameters

    public func parameters() {
        report.section("Parameters, counted and explained", id: "parameters")
        var rows: [[String]] = []
        for kind in [RecurrentCellKind.rnnTanh, .lstm, .gru] {
            let layer = RecurrentLayer(kind, inputSize: 32, hiddenSize: 16)
            rows.append([kind.displayName, kind.parameterFormula(inputSize: 32, hiddenSize: 16), "\(layer.parameterCount)", "\(layer.pytorchParameterCount)"])
            say("  \(kind.displayName), 32 inputs, 16 units: \(kind.parameterFormula(inputSize: 32, hiddenSize: 16)) (PyTorch, two biases: \(layer.pytorchParameterCount))")
        }
        report.paragraph("A recurrent layer with I inputs and H units has, per gate, an input matrix H×I, a recurrent matrix H×H and a bias H; the LSTM has four gates, the GRU three (plus the candidate's recurrent bias), the plain RNN one. PyTorch keeps two bias vectors per gate; they add up to one.")
        report.table(header: ["cell (32 inputs, 16 units)", "formula", "walked parameters", "PyTorch's count"], rows: rows)
        report.endSection()
    }

    // MARK: - Memory

    public func memory(configuration: MemoryStudy.Configuration) {
        report.section("Memory through time: why the LSTM remembers where the plain RNN forgets", id: "memory")
        say("  \(configuration.variants.count) cells × \(configuration.lengths.count) lengths × \(configuration.trainingSteps) training steps on the recall task…")
        let study = MemoryStudy.run(configuration) { self.say($0) }
        study.flowTable.forEach { say("  " + $0) }
        study.retentionTable.forEach { say("  " + $0) }
        report.paragraph("Gradient flow: the loss sits after the last of \(configuration.flowLength) steps; ‖∂L/∂h_t‖ says how much step t can still learn from it. Through tanh and modest recurrent weights it shrinks by a factor at every step; the LSTM's memory line c[t] = f·c[t−1] + i·g multiplies it only by the forget gate, so a gate that starts open (bias 3, f ≈ 0.95) carries it across all \(configuration.flowLength) steps.")
        report.figure(study.flowPlot, caption: "‖∂L/∂h_t‖ per step, log scale: dashed at initialisation, solid after training.")
        report.preformatted(study.flowTable)
        report.paragraph("Retention: the first token of a sequence must be named after the last. Same training budget for every cell.")
        report.figure(study.retentionPlot, caption: "Recall accuracy after training, per sequence length; chance dashed.")
        report.preformatted(study.retentionTable)
        report.endSection()
    }

    // MARK: - Gates

    public func gates() {
        report.section("Inside the LSTM: gates as switches", id: "gates")
        let (trace, accuracy) = GateInspection.recallTrace()
        say(String(format: "  an LSTM (16 units, forget bias 3) trained to recall the first of 24 tokens: %.1f%%", 100 * accuracy))
        trace.saturationTable.forEach { say("  " + $0) }
        say("  switch table: " + GateTrace.switchTableLine)
        report.paragraph("Each gate is a sigmoid, a number between 0 and 1 per unit that multiplies what passes: 1 lets it through, 0 blocks it. By the library's elementwise product: \(GateTrace.switchTableLine).")
        report.paragraph(String(format: "An LSTM with 16 units trained to recall the first of 24 tokens (%.1f%% on new sequences), reading one sequence:", 100 * accuracy))
        report.preformatted(trace.saturationTable)
        for (_, svg) in trace.heatmaps { report.figure(svg, caption: "Units down, steps across; the token to remember comes first.") }
        report.endSection()
    }

    // MARK: - Order matters

    public func orderMatters() {
        report.section("Order matters, measured", id: "order-matters")
        var rows: [[String]] = []
        if let sentiment = sentimentComparison {
            rows.append(["sentiment", "LSTM over the words in order", percent(sentiment.lstm), "bag of words", percent(sentiment.bagOfWords)])
        }
        if let action = actionComparison {
            rows.append(["action", "LSTM over the frames in order", percent(action.lstm), "average frame", percent(action.averageFrame) + " (chance 25%)"])
        }
        for row in rows { say("  \(row[0]): \(row[1]) \(row[2]) vs \(row[3]) \(row[4])") }
        report.paragraph("The same examples with their order thrown away. Where the order carries the meaning (the action clips, or reviews with 'not' and 'but') the sequence model wins outright; on real review sentences, where the words alone mostly decide, a bag of words does as well (the lecture's ★ versus ★★).")
        report.table(header: ["task", "sequence model", "accuracy", "order-blind baseline", "accuracy"], rows: rows)
        report.endSection()
    }

    func percent(_ value: Double) -> String { value.isFinite ? String(format: "%.1f%%", 100 * value) : "–" }
}

extension SVGPlot {
    /// A small image drawn as pixels (scaled up), for showing what a model saw.
    public static func image(_ image: PortableImage, title: String, scale: Double = 10) -> String {
        let width = Int(Double(image.width) * scale), height = Int(Double(image.height) * scale) + 36
        var svg = header(width: max(width, 200), height: height, title: title)
        for row in 0..<image.height {
            for column in 0..<image.width {
                let base = (row * image.width + column) * image.channels
                let rgb = (0..<3).map { Int((min(1, max(0, image.values[base + min($0, image.channels - 1)])) * 255).rounded()) }
                svg += "<rect x=\(quoted(Double(column) * scale)) y=\(quoted(36 + Double(row) * scale)) width=\(quoted(scale + 0.3)) height=\(quoted(scale + 0.3)) fill=\"rgb(\(rgb[0]),\(rgb[1]),\(rgb[2]))\"/>\n"
            }
        }
        return svg + "</svg>\n"
    }

    static func quoted(_ value: Double) -> String { "\"" + String(format: "%.1f", value) + "\"" }
}
