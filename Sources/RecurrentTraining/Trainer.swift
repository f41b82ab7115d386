// The fit loop. It reads top to bottom — for each batch: forward, loss, backward, clip, update, report — and
// everything else (progress, logs, early stopping, checkpoints) listens to its events.

import RecurrentKernels
import RecurrentTensor
import RecurrentNN

/// What one batch gave: the loss to minimise, plus counts for metrics (e.g. correct predictions).
public struct BatchResult {
    public var loss: Tensor
    /// Number of examples in the batch (weights the loss average).
    public var examples: Int
    /// Correct predictions, when the task has a notion of them (gives accuracy).
    public var correct: Int?

    public init(loss: Tensor, examples: Int, correct: Int? = nil) {
        self.loss = loss
        self.examples = examples
        self.correct = correct
    }
}

/// Metrics of a pass over data: mean loss, accuracy when counted, perplexity for per-token losses.
public struct Metrics: Sendable, Equatable {
    public var loss: Double
    public var accuracy: Double?
    public var examples: Int
    public var perplexity: Double { libmExp(loss) }

    public init(loss: Double, accuracy: Double?, examples: Int) {
        self.loss = loss
        self.accuracy = accuracy
        self.examples = examples
    }
}

extension Metrics {
    /// Metrics of `rows` scored `chunk` at a time with nothing recorded for differentiation: the mean loss
    /// (each batch's weighted by its examples) and, when the batches count them, the share of correct ones.
    public static func measure(_ rows: [Int], chunk: Int, _ batch: ([Int]) throws -> BatchResult) rethrows -> Metrics {
        var lossTotal = 0.0, examples = 0, correct = 0, counted = false
        try noGrad {
            for start in stride(from: 0, to: rows.count, by: Swift.max(1, chunk)) {
                let result = try batch(Array(rows[start..<Swift.min(rows.count, start + chunk)]))
                lossTotal += result.loss.doubles[0] * Double(result.examples)
                examples += result.examples
                if let right = result.correct { correct += right; counted = true }
            }
        }
        return Metrics(loss: lossTotal / Double(Swift.max(1, examples)), accuracy: counted ? Double(correct) / Double(Swift.max(1, examples)) : nil, examples: examples)
    }
}

/// What the loop tells its observers.
public enum TrainingEvent {
    case started(epochs: Int, stepsPerEpoch: Int)
    case batchEnded(epoch: Int, step: Int, stepInEpoch: Int, loss: Double, learningRate: Double)
    case epochEnded(epoch: Int, step: Int, training: Metrics, validation: Metrics?)
    case finished(epoch: Int, step: Int)
}

/// An observer's answer: go on, or stop after this event (early stopping).
public enum TrainingDecision { case proceed, stop }

public protocol TrainingObserver: AnyObject {
    /// Reacts to an event; a thrown error (a checkpoint that cannot be written) ends training with it.
    func handle(_ event: TrainingEvent) throws -> TrainingDecision
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case nonFinite(step: Int, what: String)

    public var description: String {
        switch self {
        case .nonFinite(let step, let what): "training stopped at step \(step): \(what) is not finite (NaN or infinity)"
        }
    }
}

public struct TrainingConfiguration: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var seed: UInt64
    /// Clip gradients to this global L2 norm before each update.
    public var clipNorm: Double?
    /// Stop once this many steps have been taken in all (possibly mid-epoch; a checkpoint resumes there).
    public var maxSteps: Int?

    public init(epochs: Int, batchSize: Int, seed: UInt64 = 0, clipNorm: Double? = nil, maxSteps: Int? = nil) {
        require(epochs >= 0 && batchSize >= 1, "TrainingConfiguration: epochs \(epochs) must be ≥ 0 and batch size \(batchSize) ≥ 1")
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
        self.clipNorm = clipNorm
        self.maxSteps = maxSteps
    }
}

public final class Trainer {
    public let model: Layer
    public let optimizer: Optimizer
    public let configuration: TrainingConfiguration
    public var observers: [TrainingObserver]
    public var schedule: LearningRateSchedule?
    /// Steps and epochs done so far (a resumed run starts from where it stopped).
    public var step = 0
    public var epoch = 0
    /// Batches of the current epoch already taken (non-zero when stopped mid-epoch by `maxSteps`).
    public var stepInEpoch = 0
    /// The shuffling generator; saved and restored with checkpoints so a resumed run continues exactly.
    public var generator: SeededGenerator
    /// The generator as it was when the current epoch's batches were drawn: a run resumed mid-epoch draws
    /// them again from it and skips the ones already taken.
    public var epochGenerator: SeededGenerator

    public init(model: Layer, optimizer: Optimizer, configuration: TrainingConfiguration, observers: [TrainingObserver] = [], schedule: LearningRateSchedule? = nil) {
        self.model = model
        self.optimizer = optimizer
        self.configuration = configuration
        self.observers = observers
        self.schedule = schedule
        generator = SeededGenerator(seed: configuration.seed)
        epochGenerator = generator
    }

    /// Trains on examples 0..<count, `batch` turning a list of example indices into a loss. `validate`, when
    /// given, is run after every epoch in evaluation mode. `plan`, when given, makes each epoch's batches
    /// from the trainer's generator (e.g. `Batching.bucketedBatches`); by default they are shuffled slices.
    public func fit(
        count: Int, batch: ([Int]) throws -> BatchResult, validate: (() throws -> Metrics)? = nil,
        plan: ((inout SeededGenerator) -> [[Int]])? = nil
    ) throws {
        require(count > 0, "fit: no training examples")
        let batchSize = configuration.batchSize
        let plan = plan ?? { Batching.shuffledBatches(count: count, batchSize: batchSize, using: &$0) }
        let stepsPerEpoch = (count + configuration.batchSize - 1) / configuration.batchSize
        if try notify(.started(epochs: configuration.epochs, stepsPerEpoch: stepsPerEpoch)) == .stop { return }
        while epoch < configuration.epochs {
            if let maxSteps = configuration.maxSteps, step >= maxSteps { break }
            model.setTraining(true)
            if stepInEpoch == 0 { epochGenerator = generator }
            var drawing = epochGenerator
            let batches = plan(&drawing)
            generator = drawing
            var lossTotal = 0.0, examples = 0, correct = 0, counted = false
            for indices in batches.dropFirst(stepInEpoch) {
                if let maxSteps = configuration.maxSteps, step >= maxSteps {
                    _ = try notify(.finished(epoch: epoch, step: step))
                    return
                }
                if let schedule { optimizer.learningRate = schedule.learningRate(at: step) }
                model.zeroGradients()
                model.reseedRandomLayers(forStep: step)
                // The batch's graph goes out of scope here, before the update: it holds the parameters, and
                // while it lives every parameter the optimizer writes is shared, so each write copies it first.
                let (loss, batchExamples, batchCorrect) = try { () throws -> (Double, Int, Int?) in
                    let result = try batch(indices)
                    let loss = result.loss.doubles[0]
                    guard loss.isFinite else { throw TrainingError.nonFinite(step: step, what: "the loss (\(loss))") }
                    result.loss.backward()
                    return (loss, result.examples, result.correct)
                }()
                let norm = try checkedGradientNorm()
                if let clipNorm = configuration.clipNorm { GradientClipping.clip(model, norm: norm, maxNorm: clipNorm) }
                optimizer.step(model)
                step += 1
                lossTotal += loss * Double(batchExamples)
                examples += batchExamples
                if let right = batchCorrect { correct += right; counted = true }
                stepInEpoch += 1
                if try notify(.batchEnded(epoch: epoch, step: step, stepInEpoch: stepInEpoch, loss: loss, learningRate: optimizer.learningRate)) == .stop { return }
            }
            epoch += 1
            stepInEpoch = 0
            let training = Metrics(loss: lossTotal / Double(Swift.max(1, examples)), accuracy: counted ? Double(correct) / Double(Swift.max(1, examples)) : nil, examples: examples)
            var validation: Metrics?
            if let validate {
                model.setTraining(false)
                validation = try noGrad { try validate() }
            }
            if try notify(.epochEnded(epoch: epoch, step: step, training: training, validation: validation)) == .stop { break }
        }
        model.setTraining(false)
        _ = try notify(.finished(epoch: epoch, step: step))
    }

    /// Metrics over examples 0..<count in batches, in evaluation mode and without recording gradients.
    public func evaluate(count: Int, batch: ([Int]) throws -> BatchResult) rethrows -> Metrics {
        model.setTraining(false)
        return try Metrics.measure(Array(0..<count), chunk: configuration.batchSize, batch)
    }

    /// The global L2 norm of the gradients, read in one pass that also names the first non-finite gradient
    /// (a squared sum is finite exactly when every element is, for Float32 gradients).
    private func checkedGradientNorm() throws -> Double {
        var total = 0.0
        var problem: String?
        model.visitParameters { name, parameter in
            guard problem == nil, let gradient = parameter.grad else { return }
            let squares = gradient.squaredSum
            if !squares.isFinite && !gradient.isFinite { problem = "the gradient of \(name)" }
            total += squares
        }
        if let problem { throw TrainingError.nonFinite(step: step, what: problem) }
        return total.squareRoot()
    }

    private func notify(_ event: TrainingEvent) throws -> TrainingDecision {
        var decision = TrainingDecision.proceed
        for observer in observers where try observer.handle(event) == .stop { decision = .stop }
        return decision
    }
}

/// Stops when the validation loss has not improved by `minimumDelta` for `patience` epochs.
public final class EarlyStopping: TrainingObserver {
    public let patience: Int
    public let minimumDelta: Double
    public private(set) var best = Double.infinity
    public private(set) var epochsWithoutImprovement = 0

    public init(patience: Int, minimumDelta: Double = 0) {
        self.patience = patience
        self.minimumDelta = minimumDelta
    }

    public func handle(_ event: TrainingEvent) -> TrainingDecision {
        guard case .epochEnded(_, _, _, let validation?) = event else { return .proceed }
        if validation.loss < best - minimumDelta {
            best = validation.loss
            epochsWithoutImprovement = 0
        } else {
            epochsWithoutImprovement += 1
        }
        return epochsWithoutImprovement >= patience ? .stop : .proceed
    }
}
