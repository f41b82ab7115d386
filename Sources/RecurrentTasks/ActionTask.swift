// Many-to-one where order is everything: short generated "videos" of a shape going round a circle. Every class
// shows the same frames — only their order differs — so an LSTM reading the frames in turn can tell the
// classes apart and a model of the average frame cannot.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining
import RecurrentIO

/// Generated clips: a bright shape visits 8 evenly spaced points of a circle (random centre, radius, start
/// angle and shape) over 16 frames, plus pixel noise.
///
///     clockwise / counter-clockwise          one step round per two frames (each point held two frames)
///     clockwise fast / counter-clockwise fast  one step per frame (twice round)
///
/// Each clip shows each of the 8 points in exactly two frames, whatever its class: the frames as a set — and
/// so their average — carry no class information at all.
public enum GeneratedActions {
    public static let classes = ["clockwise", "counter-clockwise", "clockwise fast", "counter-clockwise fast"]
    public static let size = 12, frames = 16

    public struct Clip: Sendable {
        public var frames: [[Float]]
        public var label: Int
    }

    public static func make(count: Int, seed: UInt64) -> [Clip] {
        var generator = SeededGenerator(seed: seed ^ 0xAC7)
        return (0..<count).map { index in clip(label: index % classes.count, using: &generator) }
    }

    public static func clip(label: Int, using generator: inout SeededGenerator) -> Clip {
        let centreX = Double.random(in: 4.5...6.5, using: &generator), centreY = Double.random(in: 4.5...6.5, using: &generator)
        let radius = Double.random(in: 2.6...3.8, using: &generator), start = Double.random(in: 0..<(2 * .pi), using: &generator)
        let direction: Double = label % 2 == 0 ? -1 : 1   // image y grows downwards: −1 is clockwise on screen
        let fast = label >= 2
        let spread = Double.random(in: 0.7...1.1, using: &generator)
        let square = Bool.random(using: &generator)
        var clipFrames: [[Float]] = []
        for t in 0..<frames {
            let point = fast ? t % 8 : t / 2
            let angle = start + direction * Double(point) * 2 * .pi / 8
            let x = centreX + radius * cos(angle), y = centreY + radius * sin(angle)
            var frame = [Float](repeating: 0, count: size * size)
            for row in 0..<size {
                for column in 0..<size {
                    let dx = Double(column) - x, dy = Double(row) - y
                    let distance = square ? max(abs(dx), abs(dy)) : (dx * dx + dy * dy).squareRoot()
                    let ink = exp(-distance * distance / (2 * spread * spread))
                    frame[row * size + column] = Float(ink + Double.random(in: -0.1...0.1, using: &generator))
                }
            }
            clipFrames.append(frame)
        }
        return Clip(frames: clipFrames, label: label)
    }
}

/// Frames → LSTM → dense, reading the final state: P(class | clip).
///
///     h = LSTM(frames (B, T, S·S)).lastHidden     logits = W·h + b
public final class ClipClassifier: Layer {
    public let lstm: RecurrentLayer
    public let output: Dense

    public init(frameSize: Int, hiddenSize: Int, classes: Int, seed: UInt64) {
        lstm = RecurrentLayer(.lstm, inputSize: frameSize, hiddenSize: hiddenSize, forgetGateBias: 1, seed: seed &+ 1)
        output = Dense(inputSize: hiddenSize, outputSize: classes, seed: seed &+ 2)
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        lstm.visitParameters { visit("lstm." + $0, &$1) }
        output.visitParameters { visit("output." + $0, &$1) }
    }

    public func visitSublayers(_ visit: (Layer) -> Void) { visit(lstm); visit(output) }

    public func callAsFunction(_ clips: Tensor) -> Tensor { output(lstm(clips).lastHidden) }
}

public enum ActionTask {
    public static let name = "action"
    public static let models = ["lstm"]

    static func clips(_ settings: RunSettings) throws -> [GeneratedActions.Clip] {
        if let data = settings.data { throw TaskError("--data \(data): the action task generates its clips; it reads no file") }
        return GeneratedActions.make(count: limited(settings.integer("clips", default: 2000), settings.limit), seed: settings.seed)
    }

    static func sequenceBatch(_ clips: [GeneratedActions.Clip], _ rows: [Int]) -> Tensor {
        let pixels = GeneratedActions.size * GeneratedActions.size
        return Tensor(shape: [rows.count, GeneratedActions.frames, pixels], scalars: rows.flatMap { clips[$0].frames.joined() })
    }

    /// The order-blind input: each clip's frames averaged.
    static func averageBatch(_ clips: [GeneratedActions.Clip], _ rows: [Int]) -> Tensor {
        let pixels = GeneratedActions.size * GeneratedActions.size
        var values = [Float](repeating: 0, count: rows.count * pixels)
        for (position, row) in rows.enumerated() {
            for frame in clips[row].frames { for pixel in 0..<pixels { values[position * pixels + pixel] += frame[pixel] / Float(GeneratedActions.frames) } }
        }
        return Tensor(shape: [rows.count, pixels], scalars: values)
    }

    static func makeModel(_ settings: RunSettings) -> ClipClassifier {
        ClipClassifier(frameSize: GeneratedActions.size * GeneratedActions.size, hiddenSize: settings.integer("hidden", default: 64),
                       classes: GeneratedActions.classes.count, seed: settings.seed &+ 2)
    }

    static func makeBaseline(seed: UInt64) -> Sequential {
        let pixels = GeneratedActions.size * GeneratedActions.size
        return Sequential([Dense(inputSize: pixels, outputSize: 64, seed: seed &+ 1), Activation(.relu), Dense(inputSize: 64, outputSize: GeneratedActions.classes.count, seed: seed &+ 2)])
    }

    static func classification(_ logits: Tensor, _ labels: [Int]) -> BatchResult {
        let correct = zip(logits.argmax(alongAxis: 1), labels).filter { $0 == $1 }.count
        return BatchResult(loss: Loss.crossEntropy(logits: logits, targets: labels), examples: labels.count, correct: correct)
    }

    static func metrics(_ clips: [GeneratedActions.Clip], _ rows: [Int], _ logits: ([Int]) -> Tensor) -> Metrics {
        Metrics.measure(rows, chunk: 256) { chunk in classification(logits(chunk), chunk.map { clips[$0].label }) }
    }

    public static func train(_ request: TrainRequest) throws -> TrainReport {
        let started = monotonicSeconds()
        let (settings, resuming) = try resolveSettings(request, defaultModel: "lstm", models: models, defaultEpochs: 12)
        let clips = try clips(settings)
        let (trainingRows, validationRows) = Batching.stratifiedSplit(labels: clips.map(\.label), validationFraction: 0.2, seed: settings.seed &+ 1)
        try requireSplit(training: trainingRows.count, heldOut: validationRows.count, source: "generated clips (--limit)")
        let folder = RunDirectory(request.output)
        let model = makeModel(settings)
        let trainer = try runTrainingSession(
            folder: folder, settings: settings, resuming: resuming, showProgress: request.showProgress,
            configuration: "action lstm hidden \(settings.integer("hidden", default: 64))", model: model,
            optimizer: Adam(learningRate: 3e-3), batchSize: 32, clipNorm: 5, best: .highestAccuracy, count: trainingRows.count,
            batch: { positions in
                let rows = positions.map { trainingRows[$0] }
                return classification(model(sequenceBatch(clips, rows)), rows.map { clips[$0].label })
            },
            validate: { metrics(clips, validationRows) { model(sequenceBatch(clips, $0)) } })
        // The order-blind baseline: an MLP on the average frame, same split and budget.
        let baseline = makeBaseline(seed: settings.seed &+ 7)
        let optimizer = Adam(learningRate: 3e-3)
        var generator = SeededGenerator(seed: settings.seed &+ 8)
        for _ in 0..<settings.epochs {
            for batch in Batching.shuffledBatches(count: trainingRows.count, batchSize: 32, using: &generator) {
                let rows = batch.map { trainingRows[$0] }
                baseline.zeroGradients()
                classification(baseline(averageBatch(clips, rows)), rows.map { clips[$0].label }).loss.backward()
                optimizer.step(baseline)
            }
        }
        try baseline.saveParameters(to: folder.file("average-frame.safetensors"))
        let evaluation = try evaluate(directory: request.output, data: nil)
        return TrainReport(directory: request.output, epochs: trainer.epoch, seconds: monotonicSeconds() - started, evaluation: evaluation,
                           notes: ["chance is \(String(format: "%.1f%%", 100.0 / Double(GeneratedActions.classes.count))): every class shows the same frames in another order"])
    }

    /// Accuracy on the run's held-out clips, with the average-frame baseline's as `average_frame_accuracy`.
    public static func evaluate(directory: String, data: String?, model saved: SavedModel = .last) throws -> Evaluation {
        let folder = RunDirectory(directory)
        if let data { throw TaskError("--data \(data): the action task evaluates on its own generated clips") }
        var settings = try folder.trainedSettings(for: name)
        let model = makeModel(settings)
        try Checkpoint.loadModel(from: folder.checkpoint(saved), model: model, configuration: "action lstm hidden \(settings.integer("hidden", default: 64))", run: settings.run)
        settings.data = nil
        let clips = try clips(settings)
        let validationRows = Batching.stratifiedSplit(labels: clips.map(\.label), validationFraction: 0.2, seed: settings.seed &+ 1).validation
        model.setTraining(false)
        let result = metrics(clips, validationRows) { model(sequenceBatch(clips, $0)) }
        try NonFiniteScores.check(result, checkpoint: folder.checkpoint(saved))
        var extra: [String: Double] = ["chance": 1 / Double(GeneratedActions.classes.count)]
        let baseline = makeBaseline(seed: 0)
        if FileManager.default.fileExists(atPath: folder.file("average-frame.safetensors")) {
            try baseline.loadParameters(contentsOf: folder.file("average-frame.safetensors"))
            let baselineResult = metrics(clips, validationRows) { baseline(averageBatch(clips, $0)) }
            try NonFiniteScores.check(baselineResult, checkpoint: folder.file("average-frame.safetensors"))
            extra["average_frame_accuracy"] = baselineResult.accuracy
        }
        return Evaluation(task: name, metric: "accuracy", value: result.accuracy ?? 0, examples: result.examples, extra: extra)
    }
}
