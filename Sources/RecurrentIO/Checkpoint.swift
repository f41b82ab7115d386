// Checkpoints: everything needed to continue a run exactly, in one safetensors file written atomically.
//
//   tensors   "model.<parameter>"                    every parameter, by its walk name
//             "optimizer.<parameter>.<buffer>"       the optimizer's per-parameter buffers (moments, momentum)
//   metadata  format, configuration (the caller's description of the model: a mismatch refuses to load),
//             step, epoch, optimizer_steps, learning_rate, rng (the shuffling generator's four words),
//             optimizer_tensors (how many "optimizer." tensors there are: one left out is refused, not zeroed)
//
// Saved at epoch boundaries, a run resumed from it is bit-identical to one that never stopped.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining

public enum Checkpoint {
    public static let formatVersion = "recurrent-checkpoint-1"

    /// Writes model, optimizer and loop state to `path` atomically (a crash mid-write leaves any previous file
    /// there intact). `configuration` describes the model, e.g. its spec: loading checks it matches.
    /// `run` identifies the training run (its folder's task.json records the same): loading with a `run`
    /// refuses another run's checkpoint copied in, whose weights would fit but mean other words or examples.
    public static func save(to path: String, model: Layer, optimizer: Optimizer, trainer: Trainer, configuration: String, run: String? = nil) throws {
        var entries: [String: SafeTensorsEntry] = [:]
        model.visitParameters { name, parameter in entries["model." + name] = SafeTensorsEntry(parameter.detached()) }
        var optimizerTensors = 0
        for (name, buffers) in optimizer.buffers {
            for (key, value) in buffers { entries["optimizer.\(name).\(key)"] = SafeTensorsEntry(value.detached()) }
            optimizerTensors += buffers.count
        }
        func words(_ generator: SeededGenerator) -> String {
            let state = generator.state
            return [state.0, state.1, state.2, state.3].map(String.init).joined(separator: ",")
        }
        var metadata = [
            "format": formatVersion, "configuration": configuration,
            "step": String(trainer.step), "epoch": String(trainer.epoch), "step_in_epoch": String(trainer.stepInEpoch),
            "optimizer_steps": String(optimizer.steps), "learning_rate": String(optimizer.learningRate),
            "rng": words(trainer.generator), "rng_epoch": words(trainer.epochGenerator),
            "optimizer_tensors": String(optimizerTensors),
        ]
        if let run { metadata["run"] = run }
        try SafeTensorsFile(entries: entries, metadata: metadata).write(to: path)
    }

    /// Loads only the model's parameters (for evaluation and use): the format and configuration are checked as
    /// in `load`, and nothing changes unless every parameter is present with its shape.
    public static func loadModel(from path: String, model: Layer, configuration: String, run: String? = nil) throws {
        let file = try SafeTensorsFile.read(contentsOf: path)
        let values = try checkedModelValues(file, path: path, configuration: configuration, run: run)
        do { try model.loadParameters(values) } catch { throw SafeTensorsError(file: path, problem: "\(error)".replacingOccurrences(of: "parameter '", with: "tensor 'model.")) }
    }

    /// The format, configuration and run checked, then the "model." tensors by parameter name.
    static func checkedModelValues(_ file: SafeTensorsFile, path: String, configuration: String, run: String? = nil) throws(SafeTensorsError) -> [String: Tensor] {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: path, problem: problem) }
        guard file.metadata["format"] == formatVersion else {
            throw fail("not a Recurrent checkpoint (format \(file.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(formatVersion)')")
        }
        guard let saved = file.metadata["configuration"], saved == configuration else {
            throw fail("checkpoint is from a different model configuration: it holds '\(file.metadata["configuration"] ?? "none")', this model is '\(configuration)'")
        }
        // Checkpoints written before runs were identified carry no run: nothing to compare them with.
        if let run, let saved = file.metadata["run"], saved != run {
            throw fail("checkpoint belongs to another training run (\(saved)), not to the run in this folder (\(run)); it may have been copied from another run folder")
        }
        // A checkpoint holds the model's tensors and the optimizer's, nothing else: another name is an edit or another
        // tool's file, whose extra tensor would otherwise be ignored without a word.
        if let stranger = file.entries.keys.sorted().first(where: { !$0.hasPrefix("model.") && !$0.hasPrefix("optimizer.") }) {
            throw fail("tensor '\(stranger)' is neither the model's (model.*) nor the optimizer's (optimizer.*); a checkpoint holds only those")
        }
        var values: [String: Tensor] = [:]
        for (name, entry) in file.entries where name.hasPrefix("model.") {
            guard let tensor = entry.tensor else { throw fail("tensor '\(name)' has dtype \(entry.dtype.rawValue), expected F32 or F64") }
            // A trained model holds finite numbers only (training stops on a non-finite loss): anything else is a
            // damaged or edited file, which would otherwise print NaN probabilities or trap where it is sampled.
            if let (index, value) = firstNonFinite(tensor) {
                throw fail("tensor '\(name)' holds \(value) at flat index \(index); a model's weights must be finite Float32 values")
            }
            values[String(name.dropFirst(6))] = tensor
        }
        return values
    }

    /// The first value that is not a finite Float32 — NaN, an infinity, or (stored as Float64) a number beyond
    /// Float32's range, which the model's Float32 weights would hold as an infinity — and how to name it.
    static func firstNonFinite(_ tensor: Tensor) -> (index: Int, value: String)? {
        let values = tensor.doubles, largest = Double(Float.greatestFiniteMagnitude)
        guard let index = values.firstIndex(where: { !$0.isFinite || abs($0) > largest }) else { return nil }
        let value = values[index]
        return (index, value.isFinite ? "\(value), beyond Float32's range," : "\(Float(value))")
    }

    /// The number of whole epochs a checkpoint's run has trained (its `epoch` metadata).
    public static func trainedEpochs(at path: String) throws -> Int {
        let file = try SafeTensorsFile.read(contentsOf: path)
        guard let epoch = Int(file.metadata["epoch"] ?? ""), epoch >= 0 else {
            throw SafeTensorsError(file: path, problem: "epoch metadata missing or invalid")
        }
        return epoch
    }

    /// Restores a checkpoint into freshly built objects. Nothing is changed unless the whole file checks out:
    /// the format, the configuration, every parameter present with its shape, the loop state readable.
    public static func load(from path: String, model: Layer, optimizer: Optimizer, trainer: Trainer, configuration: String, run: String? = nil) throws {
        let file = try SafeTensorsFile.read(contentsOf: path)
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: path, problem: problem) }
        let values = try checkedModelValues(file, path: path, configuration: configuration, run: run)
        guard let step = Int(file.metadata["step"] ?? ""), let epoch = Int(file.metadata["epoch"] ?? ""),
              let optimizerSteps = Int(file.metadata["optimizer_steps"] ?? ""), let learningRate = Double(file.metadata["learning_rate"] ?? ""),
              // Bounded so that counting on from them cannot overflow; a learning rate must be positive.
              (0...(1 << 48)).contains(step), (0...(1 << 48)).contains(epoch), (0...(1 << 48)).contains(optimizerSteps),
              learningRate.isFinite, learningRate > 0 else {
            throw fail("step, epoch, optimizer_steps or learning_rate metadata missing or out of range")
        }
        func generator(_ key: String) throws(SafeTensorsError) -> SeededGenerator {
            let words = (file.metadata[key] ?? "").split(separator: ",").compactMap { UInt64($0) }
            guard words.count == 4, let generator = SeededGenerator(state: (words[0], words[1], words[2], words[3])) else {
                throw fail("\(key) metadata missing or invalid")
            }
            return generator
        }
        let shuffling = try generator("rng"), epochShuffling = try generator("rng_epoch")
        guard let stepInEpoch = Int(file.metadata["step_in_epoch"] ?? ""), (0...step).contains(stepInEpoch) else {
            throw fail("step_in_epoch metadata missing or invalid")
        }
        var buffers: [String: [String: Tensor]] = [:]
        var shapes: [String: Shape] = [:]
        model.visitParameters { name, parameter in shapes[name] = parameter.shape }
        for (name, entry) in file.entries where name.hasPrefix("optimizer.") {
            let rest = name.dropFirst(10)
            guard let dot = rest.lastIndex(of: "."), let tensor = entry.tensor else { throw fail("optimizer tensor '\(name)' is malformed") }
            let parameter = String(rest[..<dot]), key = String(rest[rest.index(after: dot)...])
            guard let shape = shapes[parameter], shape == tensor.shape else {
                throw fail("optimizer tensor '\(name)' does not match a parameter of this model")
            }
            // Moments of finite gradients are finite (training stops on the first non-finite one).
            if let (index, value) = firstNonFinite(tensor) {
                throw fail("optimizer tensor '\(name)' holds \(value) at flat index \(index); optimizer state must be finite Float32 values")
            }
            buffers[parameter, default: [:]][key] = tensor
        }
        // Without its moments a resumed run would restart the optimizer silently. (Checkpoints from before the
        // count was recorded are taken as they are.)
        if let recorded = file.metadata["optimizer_tensors"] {
            guard let count = Int(recorded), count >= 0 else { throw fail("optimizer_tensors metadata '\(recorded)' is not a count") }
            let found = buffers.values.map(\.count).reduce(0, +)
            if found != count {
                // Name one: a buffer key (m, v, …) that some parameter has and another lacks. (A parameter that
                // never had a gradient has none, so a parameter with no buffers at all is not itself suspect.)
                let keys = Set(buffers.values.flatMap(\.keys))
                let absent = buffers.keys.sorted().lazy.flatMap { name in keys.sorted().filter { buffers[name]![$0] == nil }.map { "optimizer.\(name).\($0)" } }.first
                throw fail("the checkpoint records \(count) optimizer tensors but holds \(found)" + (absent.map { "; '\($0)' is missing" } ?? ""))
            }
        }
        do { try model.loadParameters(values) } catch { throw fail("\(error)".replacingOccurrences(of: "parameter '", with: "tensor 'model.")) }
        optimizer.buffers = buffers
        optimizer.steps = optimizerSteps
        optimizer.learningRate = learningRate
        trainer.step = step
        trainer.epoch = epoch
        trainer.stepInEpoch = stepInEpoch
        trainer.generator = shuffling
        trainer.epochGenerator = epochShuffling
    }
}

/// Saves `last.safetensors` after every epoch, and `best.safetensors` when the monitored metric is the best so
/// far: by default the lowest validation loss (the training loss without validation); with `.highestAccuracy`,
/// the highest validation accuracy (ties broken by the lower loss), as a classifier is judged.
public final class CheckpointSaver: TrainingObserver {
    public enum Criterion: Sendable { case lowestLoss, highestAccuracy }

    public let directory: String
    public let configuration: String
    /// The run the checkpoints belong to (see `Checkpoint.save`).
    public let run: String?
    public let criterion: Criterion
    public unowned let trainer: Trainer
    /// The best (lowest) score so far: the loss, or for accuracy (−accuracy, loss) folded into one number.
    public private(set) var bestScore: Double

    /// `bestScore`: the best score of the run so far (when resuming; see `score`), so `best` is only replaced
    /// by a better one.
    public init(directory: String, trainer: Trainer, configuration: String, run: String? = nil, criterion: Criterion = .lowestLoss, bestScore: Double = .infinity) {
        self.directory = directory
        self.trainer = trainer
        self.configuration = configuration
        self.run = run
        self.criterion = criterion
        self.bestScore = bestScore
    }

    /// Lower is better. Accuracy counts first; the loss (squashed into [0, 1e-6)) only breaks ties.
    public static func score(criterion: Criterion, loss: Double, accuracy: Double?) -> Double {
        switch criterion {
        case .lowestLoss: return loss
        case .highestAccuracy:
            guard let accuracy else { return loss }
            return -accuracy + 1e-6 * (1 - 1 / (1 + Swift.max(0, loss)))
        }
    }

    public func handle(_ event: TrainingEvent) throws -> TrainingDecision {
        guard case .epochEnded(_, _, let training, let validation) = event else { return .proceed }
        try Checkpoint.save(to: directory + "/last.safetensors", model: trainer.model, optimizer: trainer.optimizer, trainer: trainer, configuration: configuration, run: run)
        let measured = validation ?? training
        let score = Self.score(criterion: criterion, loss: measured.loss, accuracy: measured.accuracy)
        if score < bestScore {
            bestScore = score
            try Checkpoint.save(to: directory + "/best.safetensors", model: trainer.model, optimizer: trainer.optimizer, trainer: trainer, configuration: configuration, run: run)
        }
        return .proceed
    }
}
