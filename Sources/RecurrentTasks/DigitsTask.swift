// One-to-one: an image in, a class out. An MLP or a small CNN on the 8×8 digits CSV, on MNIST's 28×28 IDX
// files, or (without --data) on digits the task draws itself.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining
import RecurrentIO

public enum DigitsTask {
    public static let name = "digits"
    public static let models = ["mlp", "cnn"]

    /// The image classifier for `width`×`height` grey images and 10 classes.
    ///
    ///     mlp   flatten → dense(W·H → 128) → relu → dense(128 → 10)
    ///     cnn   conv3×3(1 → 16, pad p) → relu → maxpool 2 → conv3×3(16 → 32, pad p) → relu → maxpool 2
    ///           → flatten → dense(32·h·w → 10)    (p = 1 on 8×8, 0 on larger images; h, w what remains)
    public static func makeModel(_ kind: String, width: Int, height: Int, seed: UInt64, padding: Int = 1) -> Sequential {
        if kind == "cnn" {
            let pooled = cnnFeatureSide(height, padding: padding) * cnnFeatureSide(width, padding: padding)
            return Sequential([
                Conv2D(inputChannels: 1, outputChannels: 16, kernelSize: 3, padding: padding, seed: seed &+ 1), Activation(.relu), MaxPool2D(kernelSize: 2),
                Conv2D(inputChannels: 16, outputChannels: 32, kernelSize: 3, padding: padding, seed: seed &+ 2), Activation(.relu), MaxPool2D(kernelSize: 2),
                Flatten(), Dense(inputSize: 32 * pooled, outputSize: 10, seed: seed &+ 3),
            ])
        }
        return Sequential([Dense(inputSize: width * height, outputSize: 128, seed: seed &+ 1), Activation(.relu), Dense(inputSize: 128, outputSize: 10, seed: seed &+ 2)])
    }

    /// What remains of an image side after the CNN's two 3×3 convolutions (each taking 2 − 2p off) and 2×2
    /// poolings; 0 or less when the image is too small for them.
    static func cnnFeatureSide(_ side: Int, padding: Int) -> Int {
        let shrink = 2 - 2 * padding
        return ((side - shrink) / 2 - shrink) / 2
    }

    /// The largest image the models take: 512×512 pixels, where the MLP's first layer is already 128 MB.
    static let maximumPixels = 512 * 512

    /// Refuses images a model cannot be built for, naming `source` (the data file, or the run's settings).
    static func checkModelFits(_ kind: String, width: Int, height: Int, padding: Int, source: String) throws {
        guard width * height <= maximumPixels else {
            throw DataFileError(file: source, line: nil, problem: "images of \(width)×\(height) pixels are larger than the digits models take (at most \(maximumPixels) pixels)")
        }
        func fits(_ padding: Int) -> Bool { cnnFeatureSide(width, padding: padding) >= 1 && cnnFeatureSide(height, padding: padding) >= 1 }
        if kind == "cnn", !fits(padding) {
            // Only a padding that does fit is worth suggesting (the largest the option takes is 2).
            let larger = stride(from: padding + 1, through: 2, by: 1).first(where: fits).map { " or --set padding=\($0)" } ?? ""
            throw DataFileError(file: source, line: nil, problem: "images of \(width)×\(height) are too small for the CNN with padding \(padding) (two 3×3 convolutions and two 2×2 poolings leave nothing); use --model mlp\(larger)")
        }
    }

    /// Convolution padding: none on 28×28 (PyTorch's default, the recipe's), 1 on 8×8 (which two unpadded
    /// 3×3 convolutions and poolings would shrink to nothing).
    static func padding(_ settings: RunSettings, width: Int) -> Int { settings.integer("padding", default: width >= 16 ? 0 : 1) }

    /// The data the settings name: a CSV file (8×8), an IDX folder or file (28×28), or generated digits.
    public static func loadImages(_ path: String?, seed: UInt64, limit: Int?) throws -> ImageSet {
        var images: ImageSet
        if let path {
            images = path.hasSuffix(".csv") ? try readDigitsCSV(path) : try readIDXImages(path)
        } else {
            images = GeneratedDigits.make(count: 1500, seed: seed)
        }
        if let limit, limit < images.count {
            images.pixels = Array(images.pixels.prefix(limit))
            images.labels = Array(images.labels.prefix(limit))
        }
        return images
    }

    /// Pixels standardised by the training split's mean and deviation (kept in the run's settings), so the
    /// first layers start in the range their initialisation expects: MNIST is 80 % background.
    static func batchInput(_ images: ImageSet, _ rows: [Int], model: String, settings: RunSettings) -> Tensor {
        let mean = Float(settings.number("pixel-mean", default: 0)), scale = 1 / Float(settings.number("pixel-std", default: 1))
        let values = rows.flatMap { images.pixels[$0].map { ($0 - mean) * scale } }
        return model == "cnn"
            ? Tensor(shape: [rows.count, 1, images.height, images.width], scalars: values)
            : Tensor(shape: [rows.count, images.width * images.height], scalars: values)
    }

    static func configuration(_ settings: RunSettings, _ images: ImageSet) -> String {
        "digits \(settings.model) \(images.width)x\(images.height)" + (padding(settings, width: images.width) == 1 ? "" : " padding \(padding(settings, width: images.width))")
    }

    public static func train(_ request: TrainRequest) throws -> TrainReport {
        let started = monotonicSeconds()
        // The recipes: 40 epochs on the 8×8 CSV; on 28×28 MNIST 10 for the CNN, 20 for the MLP (it needs them).
        let defaultEpochs = request.data.map { $0.hasSuffix(".csv") ? 40 : (request.model == "cnn" ? 10 : 20) } ?? 20
        var (settings, resuming) = try resolveSettings(request, defaultModel: "mlp", models: models, defaultEpochs: defaultEpochs)
        let images = try loadImages(settings.data, seed: settings.seed, limit: settings.limit)
        let split = Batching.stratifiedSplit(labels: images.labels, validationFraction: 0.2, seed: settings.seed &+ 1)
        try requireSplit(training: split.training.count, heldOut: split.validation.count, source: settings.data ?? "generated digits")
        // Each of the two is measured only when not given (--set pixel-mean=…, pixel-std=…).
        if settings.options["pixel-mean"] == nil || settings.options["pixel-std"] == nil {
            let pixels = split.training.flatMap { images.pixels[$0] }.map(Double.init)
            let mean = settings.options["pixel-mean"].flatMap(Double.init) ?? pixels.reduce(0, +) / Double(max(1, pixels.count))
            let variance = pixels.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, pixels.count))
            settings.options["pixel-mean"] = settings.options["pixel-mean"] ?? String(mean)
            settings.options["pixel-std"] = settings.options["pixel-std"] ?? String(max(variance.squareRoot(), 1e-6))
        }
        try checkModelFits(settings.model, width: images.width, height: images.height, padding: padding(settings, width: images.width), source: settings.data ?? "generated digits")
        let folder = RunDirectory(request.output)
        let model = makeModel(settings.model, width: images.width, height: images.height, seed: settings.seed &+ 2, padding: padding(settings, width: images.width))
        let trainer = try runTrainingSession(
            folder: folder, settings: settings, resuming: resuming, showProgress: request.showProgress,
            configuration: configuration(settings, images), model: model, optimizer: Adam(learningRate: 1e-3), batchSize: 32, best: .highestAccuracy,
            count: split.training.count, batch: { batchResult(model, images, $0.map { split.training[$0] }, settings: settings) },
            validate: { evaluate(model: model, images: images, rows: split.validation, settings: settings) })
        let evaluation = try evaluate(directory: request.output, data: nil)
        return TrainReport(directory: request.output, epochs: trainer.epoch, seconds: monotonicSeconds() - started, evaluation: evaluation, notes: [])
    }

    /// Cross-entropy and correct predictions of the images at `rows`.
    static func batchResult(_ model: Sequential, _ images: ImageSet, _ rows: [Int], settings: RunSettings) -> BatchResult {
        let logits = model(batchInput(images, rows, model: settings.model, settings: settings))
        let targets = rows.map { images.labels[$0] }
        let correct = zip(logits.argmax(alongAxis: 1), targets).filter { $0 == $1 }.count
        return BatchResult(loss: Loss.crossEntropy(logits: logits, targets: targets), examples: rows.count, correct: correct)
    }

    static func evaluate(model: Sequential, images: ImageSet, rows: [Int], settings: RunSettings) -> Metrics {
        model.setTraining(false)
        return Metrics.measure(rows, chunk: 256) { batchResult(model, images, $0, settings: settings) }
    }

    /// Loads the saved model. `data` nil: the run's own held-out split; a path: every image in it.
    public static func evaluate(directory: String, data: String?, model saved: SavedModel = .last) throws -> Evaluation {
        let (settings, model, images) = try load(directory, data: data, saved: saved)
        let rows = data == nil
            ? Batching.stratifiedSplit(labels: images.labels, validationFraction: 0.2, seed: settings.seed &+ 1).validation
            : Array(0..<images.count)
        let metrics = evaluate(model: model, images: images, rows: rows, settings: settings)
        try NonFiniteScores.check(metrics, checkpoint: RunDirectory(directory).checkpoint(saved))
        return Evaluation(task: name, metric: "accuracy", value: metrics.accuracy ?? 0, examples: metrics.examples)
    }

    static func load(_ directory: String, data: String?, saved: SavedModel = .last) throws -> (RunSettings, Sequential, ImageSet) {
        let folder = RunDirectory(directory)
        let settings = try folder.trainedSettings(for: name)
        let images = try data.map { try loadImages($0, seed: 0, limit: nil) } ?? loadImages(settings.data, seed: settings.seed, limit: settings.limit)
        let trained = try size(of: settings)
        guard images.width == trained.width && images.height == trained.height else {
            throw DataFileError(file: data ?? "", line: nil, problem: "images are \(images.width)×\(images.height); the model was trained on \(trained.width)×\(trained.height)")
        }
        try checkModelFits(settings.model, width: images.width, height: images.height, padding: padding(settings, width: images.width), source: folder.settingsFile)
        let model = makeModel(settings.model, width: images.width, height: images.height, seed: 0, padding: padding(settings, width: images.width))
        try Checkpoint.loadModel(from: folder.checkpoint(saved), model: model, configuration: configuration(settings, images), run: settings.run)
        return (settings, model, images)
    }

    static func size(of settings: RunSettings) throws -> (width: Int, height: Int) {
        guard let data = settings.data else { return (8, 8) }
        if data.hasSuffix(".csv") { return (8, 8) }
        return try readIDXImageSize(data)
    }

    /// `recurrent predict DIR IMAGE`: IMAGE is a PGM/PPM file (resampled to the model's size) or one CSV row of
    /// pixel values (with or without the label in front). Returns the classes by probability.
    public static func predict(directory: String, input: String) throws -> [(label: Int, probability: Double)] {
        let folder = RunDirectory(directory)
        let settings = try folder.trainedSettings(for: name)
        let (width, height) = try size(of: settings)
        var pixels: [Float]
        guard !input.isEmpty else { throw TaskError("the input is empty: give an image file (PGM or PPM) or a row of pixel values separated by commas") }
        if input.contains(",") && !FileManager.default.fileExists(atPath: input) {
            // Read as strictly as a row of the data file: every field a decimal number, none empty.
            let fields = input.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == width * height || fields.count == width * height + 1 else {
                throw TaskError("'\(input.prefix(40))…': \(fields.count) comma-separated values; expected \(width * height) pixel values (or a label and them)")
            }
            var numbers: [Double] = []
            for (index, field) in fields.enumerated() {
                guard let number = NumericCSV.decimalNumber(field) else {
                    throw TaskError("'\(input.prefix(40))…': value \(index + 1) is '\(field)', not a finite decimal number")
                }
                numbers.append(number)
            }
            if fields.count == width * height + 1, !(Int(exactly: numbers[0]).map { (0...9).contains($0) } ?? false) {
                throw TaskError("'\(input.prefix(40))…': the label in front, \(fields[0]), is not a digit 0…9")
            }
            let scale = width == 8 ? 16.0 : 255.0
            guard numbers.suffix(width * height).allSatisfy({ (0...scale).contains($0) }) else { throw TaskError("pixel values must lie in 0…\(Int(scale))") }
            pixels = numbers.suffix(width * height).map { Float($0 / scale) }
        } else {
            pixels = try PortableImage.read(contentsOf: input).greyscale(width: width, height: height)
        }
        let images = ImageSet(width: width, height: height, pixels: [pixels], labels: [0])
        try checkModelFits(settings.model, width: width, height: height, padding: padding(settings, width: width), source: folder.settingsFile)
        let model = makeModel(settings.model, width: width, height: height, seed: 0, padding: padding(settings, width: width))
        try Checkpoint.loadModel(from: folder.lastCheckpoint, model: model, configuration: configuration(settings, images), run: settings.run)
        let logits = model.predict(batchInput(images, [0], model: settings.model, settings: settings))
        try NonFiniteScores.check(logits, checkpoint: folder.lastCheckpoint)
        let probabilities = logits.softmax(alongAxis: 1).doubles
        return probabilities.enumerated().map { (label: $0.offset, probability: $0.element) }.sorted { $0.probability > $1.probability }
    }
}

/// Digits drawn like the UCI set: a 5×7 glyph scaled onto a 32×32 canvas with random size, position, slant
/// and stroke, then each 4×4 block's ink counted (0…16) into an 8×8 image.
public enum GeneratedDigits {
    static let glyphs: [[String]] = [
        [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
        ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        ["####.", "....#", "....#", ".###.", "....#", "....#", "####."],
        ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
        ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
        ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
        ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
        [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
        [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
    ]

    public static func make(count: Int, seed: UInt64) -> ImageSet {
        var generator = SeededGenerator(seed: seed ^ 0xD161_75)
        var images = ImageSet(width: 8, height: 8, pixels: [], labels: [])
        for index in 0..<count {
            let label = index % 10
            images.labels.append(label)
            images.pixels.append(render(label, using: &generator))
        }
        return images
    }

    static func render(_ digit: Int, using generator: inout SeededGenerator) -> [Float] {
        let glyph = glyphs[digit].map { Array($0) }
        let cellWidth = Double.random(in: 3.2...4.6, using: &generator), cellHeight = Double.random(in: 3.4...4.3, using: &generator)
        let left = Double.random(in: 1...(31 - 5 * cellWidth), using: &generator), top = Double.random(in: 0...(31 - 7 * cellHeight), using: &generator)
        let slant = Double.random(in: -0.25...0.25, using: &generator), stroke = Double.random(in: 0.45...0.75, using: &generator)
        var canvas = [Bool](repeating: false, count: 32 * 32)
        for y in 0..<32 {
            for x in 0..<32 {
                let v = (Double(y) + 0.5 - top) / cellHeight
                let u = (Double(x) + 0.5 - left + slant * (Double(y) - 16)) / cellWidth
                guard v >= 0, u >= 0, Int(v) < 7, Int(u) < 5, glyph[Int(v)][Int(u)] == "#" else { continue }
                // Thinner strokes keep only the middle of each glyph cell.
                let du = abs(u - Double(Int(u)) - 0.5), dv = abs(v - Double(Int(v)) - 0.5)
                if du <= stroke || dv <= stroke { canvas[y * 32 + x] = true }
            }
        }
        var pixels = [Float](repeating: 0, count: 64)
        for row in 0..<8 {
            for column in 0..<8 {
                var ink = 0
                for y in 0..<4 { for x in 0..<4 where canvas[(row * 4 + y) * 32 + column * 4 + x] { ink += 1 } }
                if ink > 0 && Double.random(in: 0..<1, using: &generator) < 0.05 { ink -= 1 }
                pixels[row * 8 + column] = Float(ink) / 16
            }
        }
        return pixels
    }
}
