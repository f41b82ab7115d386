// A hidden command for the crash-safety test: saves a checkpoint over and over until killed, so that a
// `kill -9` lands in the middle of a write.

import ArgumentParser
import Recurrent

struct SaveLoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_checkpoint-save-loop",
        abstract: "Testing aid: rewrite a checkpoint in a loop (until killed, or --count times).",
        shouldDisplay: false)

    @Option(name: .long) var path: String
    @Option(name: .long) var count: Int = Int.max

    static let modelConfiguration = "dense:256x256 (save-loop test)"

    /// A model big enough that a save takes long enough to be interrupted.
    static func objects() -> (Sequential, Adam, Trainer) {
        let model = Sequential([Dense(inputSize: 256, outputSize: 256, seed: 1), Dense(inputSize: 256, outputSize: 256, seed: 2)])
        let optimizer = Adam(learningRate: 1e-3)
        return (model, optimizer, Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(epochs: 1, batchSize: 1)))
    }

    func run() throws {
        let (model, optimizer, trainer) = Self.objects()
        var iteration = 0
        while iteration < count {
            trainer.step = iteration
            try Checkpoint.save(to: path, model: model, optimizer: optimizer, trainer: trainer, configuration: Self.modelConfiguration)
            iteration += 1
        }
    }
}
