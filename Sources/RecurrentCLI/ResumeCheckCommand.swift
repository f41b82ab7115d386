// A hidden command for the resume test: trains the digits MLP, optionally resuming from a checkpoint and
// saving one, so that "N epochs straight" and "N/2, save, new process, load, N/2" can be compared bit for bit.

import ArgumentParser
import Recurrent

struct ResumeCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_train-digits",
        abstract: "Testing aid: train an MLP on the digits CSV up to --epochs in total, with optional resume and save.",
        shouldDisplay: false)

    @Option(name: .long) var data: String
    @Option(name: .long) var epochs: Int
    @Option(name: .long) var steps: Int?
    @Option(name: .long) var resume: String?
    @Option(name: .long) var save: String?
    @Option(name: .long) var weights: String
    @Flag(name: .long) var progress = false

    func validate() throws {
        guard (0...100_000).contains(epochs) else { throw ValidationError("--epochs: \(epochs) is not between 0 and 100000") }
        if let steps, steps < 0 { throw ValidationError("--steps: \(steps) is negative") }
    }

    func run() throws {
        // The task's reader, with its checks (65 columns, labels 0…9, pixels 0…16): a bad file is an error, not a trap.
        let images: ImageSet
        do { images = try readDigitsCSV(data) } catch { throw UsageError("\(error)") }
        let labels = images.labels
        let split = Batching.stratifiedSplit(labels: labels, validationFraction: 0.2, seed: 1)
        let model = Sequential([Dense(inputSize: 64, outputSize: 128, seed: 2), Activation(.relu), Dense(inputSize: 128, outputSize: 10, seed: 3)])
        let optimizer = Adam(learningRate: 1e-3)
        let trainer = Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(epochs: epochs, batchSize: 32, seed: 4, maxSteps: steps))
        let configuration = "mlp 64-128-10 digits"
        if progress { trainer.observers.append(ProgressReporter()) }
        if let resume { try Checkpoint.load(from: resume, model: model, optimizer: optimizer, trainer: trainer, configuration: configuration) }
        try trainer.fit(count: split.training.count) { positions in
            let rows = positions.map { split.training[$0] }
            let x = Tensor(shape: [rows.count, 64], scalars: rows.flatMap { images.pixels[$0] })
            return BatchResult(loss: Loss.crossEntropy(logits: model(x), targets: rows.map { labels[$0] }), examples: rows.count)
        }
        if let save { try Checkpoint.save(to: save, model: model, optimizer: optimizer, trainer: trainer, configuration: configuration) }
        try model.saveParameters(to: weights)
    }
}
