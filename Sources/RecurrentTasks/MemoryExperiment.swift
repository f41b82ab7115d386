// The "goldfish brain" experiment: how far back can each cell carry what it saw?
//
//   gradient flow  ‖∂L/∂h_t‖ for every step t when the loss sits at the last step: through tanh and small
//                  recurrent weights it shrinks step after step; the LSTM's memory line c[t] = f·c[t−1] + i·g
//                  passes it on multiplied only by the forget gate.
//   retention      a recall task: the token shown at t = 0, among distractors, must be named after the last
//                  step. Accuracy per cell and length after the same training budget.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining

/// A cell and its initialisation: initialisation is part of the lesson.
public struct MemoryVariant: Sendable, Equatable {
    public var name: String
    public var kind: RecurrentCellKind
    /// LSTM forget-gate bias at the start (nil: the default initialisation, bias ≈ 0, gate ≈ ½).
    public var forgetBias: Double?
    /// ReLU RNN with identity recurrent weights and zero bias (Le, Jaitly & Hinton 2015).
    public var identity: Bool

    public init(name: String, kind: RecurrentCellKind, forgetBias: Double? = nil, identity: Bool = false) {
        self.name = name
        self.kind = kind
        self.forgetBias = forgetBias
        self.identity = identity
    }

    public static let tanhRNN = MemoryVariant(name: "RNN (tanh)", kind: .rnnTanh)
    public static let reluRNN = MemoryVariant(name: "RNN (ReLU)", kind: .rnnReLU)
    public static let identityReLURNN = MemoryVariant(name: "RNN (ReLU, identity init)", kind: .rnnReLU, identity: true)
    public static let lstm = MemoryVariant(name: "LSTM", kind: .lstm)
    public static func openLSTM(bias: Double) -> MemoryVariant {
        MemoryVariant(name: "LSTM (forget bias \(bias == bias.rounded() && abs(bias) < 1e15 ? String(Int(bias)) : String(bias)))", kind: .lstm, forgetBias: bias)
    }
    public static let gru = MemoryVariant(name: "GRU", kind: .gru)
}

/// Recurrent layer → dense readout of the last hidden state: P(first token | sequence).
public final class RecallModel: Layer {
    public let recurrent: RecurrentLayer
    public let readout: Dense

    public init(_ variant: MemoryVariant, inputSize: Int, hiddenSize: Int, classes: Int, seed: UInt64) {
        recurrent = RecurrentLayer(variant.kind, inputSize: inputSize, hiddenSize: hiddenSize, forgetGateBias: variant.forgetBias,
                                   identityRecurrentWeights: variant.identity, seed: seed &+ 1)
        readout = Dense(inputSize: hiddenSize, outputSize: classes, seed: seed &+ 2)
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        recurrent.visitParameters { visit("recurrent." + $0, &$1) }
        readout.visitParameters { visit("readout." + $0, &$1) }
    }

    public func visitSublayers(_ visit: (Layer) -> Void) { visit(recurrent); visit(readout) }

    public func callAsFunction(_ sequences: Tensor) -> Tensor { readout(recurrent(sequences).lastHidden) }
}

public enum MemoryExperiment {
    /// Tokens 0..<8 are what must be remembered; 8..<16 are distractors.
    public static let recallClasses = 8, distractorCount = 8
    public static var inputSize: Int { recallClasses + distractorCount }

    /// One-hot sequences (B, T, 16): a recall token at t = 0, distractors after it; and the tokens to name.
    public static func recallBatch(length: Int, batch: Int, using generator: inout SeededGenerator) -> (inputs: Tensor, labels: [Int]) {
        var values = [Float](repeating: 0, count: batch * length * inputSize)
        var labels: [Int] = []
        for row in 0..<batch {
            let label = Int.random(in: 0..<recallClasses, using: &generator)
            labels.append(label)
            values[(row * length) * inputSize + label] = 1
            for t in 1..<length {
                values[(row * length + t) * inputSize + recallClasses + Int.random(in: 0..<distractorCount, using: &generator)] = 1
            }
        }
        return (Tensor(shape: [batch, length, inputSize], scalars: values), labels)
    }

    /// ‖∂L/∂h_t‖ (Frobenius over the batch) for t = 0 … T−1, the loss being the recall cross-entropy after the
    /// last step. Each h_t gets a zero "probe" added before it feeds the next step, so ∂L/∂probe_t = ∂L/∂h_t.
    public static func gradientFlow(_ model: RecallModel, length: Int, batch: Int = 64, seed: UInt64) -> [Double] {
        var generator = SeededGenerator(seed: seed)
        let (inputs, labels) = recallBatch(length: length, batch: batch, using: &generator)
        let probes = (0..<length).map { _ in Tensor.zeros([batch, model.recurrent.hiddenSize], dtype: model.readout.weight.dtype).requiringGradient() }
        let loss = probedLoss(model, inputs: inputs, labels: labels, probes: probes)
        return loss.gradients(withRespectTo: probes).map { $0.squaredSum.squareRoot() }
    }

    /// The recall loss with `probes[t]` added to h_t before it feeds step t + 1 (zero probes leave it as is).
    public static func probedLoss(_ model: RecallModel, inputs: Tensor, labels: [Int], probes: [Tensor]) -> Tensor {
        let batch = inputs.shape[0]
        let cell = model.recurrent.cells[0][0]
        var state = cell.zeroState(batch: batch)
        for t in 0..<inputs.shape[1] {
            state = cell(inputs.slice(alongAxis: 1, t..<(t + 1)).reshaped([batch, inputSize]), state)
            state.hidden = state.hidden + probes[t]
        }
        return Loss.crossEntropy(logits: model.readout(state.hidden), targets: labels)
    }

    /// The distance back from the last step at which the gradient has fallen `factor` times below its value
    /// there; nil when it never does within the sequence.
    public static func horizon(_ norms: [Double], factor: Double = 1000) -> Int? {
        guard let last = norms.last, last > 0 else { return nil }
        for distance in 0..<norms.count where norms[norms.count - 1 - distance] < last / factor { return distance }
        return nil
    }

    /// Trains on fresh recall batches (Adam, batch 64) and returns the accuracy on 1024 new sequences.
    public static func trainRecall(_ model: RecallModel, length: Int, steps: Int, learningRate: Double = 1e-3, batch: Int = 64, seed: UInt64,
                                   progress: ((Int) -> Void)? = nil) -> Double {
        let optimizer = Adam(learningRate: learningRate)
        var generator = SeededGenerator(seed: seed)
        model.setTraining(true)
        for step in 0..<steps {
            let (inputs, labels) = recallBatch(length: length, batch: batch, using: &generator)
            model.zeroGradients()
            Loss.crossEntropy(logits: model(inputs), targets: labels).backward()
            GradientClipping.clipByGlobalNorm(model, maxNorm: 5)
            optimizer.step(model)
            progress?(step + 1)
        }
        return recallAccuracy(model, length: length, seed: seed &+ 99)
    }

    public static func recallAccuracy(_ model: RecallModel, length: Int, seed: UInt64) -> Double {
        var generator = SeededGenerator(seed: seed)
        model.setTraining(false)
        var correct = 0
        noGrad {
            for _ in 0..<4 {
                let (inputs, labels) = recallBatch(length: length, batch: 256, using: &generator)
                correct += zip(model(inputs).argmax(alongAxis: 1), labels).filter { $0 == $1 }.count
            }
        }
        return Double(correct) / 1024
    }
}

/// The whole memory study: gradient flow at initialisation and after training, and retention per length.
public struct MemoryStudy {
    public struct Configuration: Sendable {
        public var variants: [MemoryVariant]
        /// T for gradient flow (and the length whose trained models are measured again after training).
        public var flowLength: Int
        public var lengths: [Int]
        public var trainingSteps: Int
        public var hiddenSize: Int
        public var seed: UInt64

        public init(variants: [MemoryVariant], flowLength: Int = 64, lengths: [Int] = [16, 32, 64, 128], trainingSteps: Int = 1500, hiddenSize: Int = 64, seed: UInt64 = 0) {
            self.variants = variants
            self.flowLength = flowLength
            self.lengths = lengths
            self.trainingSteps = trainingSteps
            self.hiddenSize = hiddenSize
            self.seed = seed
        }

        public static let standard = Configuration(variants: [.tanhRNN, .reluRNN, .identityReLURNN, .lstm, .openLSTM(bias: 3), .gru])
    }

    public var configuration: Configuration
    /// Per variant: ‖∂L/∂h_t‖ at initialisation, t = 0 … T−1.
    public var initialFlow: [[Double]] = []
    /// Per variant: the same after training on recall at length T (nil when T is not among the lengths).
    public var trainedFlow: [[Double]?] = []
    /// Per variant, per length: recall accuracy after training.
    public var retention: [[Double]] = []

    public init(configuration: Configuration) { self.configuration = configuration }

    /// Throws, naming the options to lower, when the study would plan on more memory than the machine (or
    /// RECURRENT_MEMORY_LIMIT) allows: a long --lengths with a large --hidden needs tens of gigabytes, and
    /// would otherwise grow until the kernel killed it.
    public static func requireMemory(_ configuration: Configuration) throws {
        let estimate = MemoryEstimate.memoryStudy(hidden: configuration.hiddenSize, flowLength: configuration.flowLength,
                                                  longestLength: configuration.lengths.max() ?? 0)
        try MemoryBudget.require(estimate, task: "memory study", lower: "--hidden, --lengths or --steps")
    }

    /// Runs everything; `report` hears a line per finished training.
    public static func run(_ configuration: Configuration, report: (String) -> Void = { _ in }) -> MemoryStudy {
        var study = MemoryStudy(configuration: configuration)
        for (index, variant) in configuration.variants.enumerated() {
            let seed = configuration.seed &+ UInt64(index) &* 1000
            let fresh = RecallModel(variant, inputSize: MemoryExperiment.inputSize, hiddenSize: configuration.hiddenSize, classes: MemoryExperiment.recallClasses, seed: seed)
            study.initialFlow.append(MemoryExperiment.gradientFlow(fresh, length: configuration.flowLength, seed: seed &+ 5))
            var accuracies: [Double] = [], trained: [Double]? = nil
            for length in configuration.lengths {
                let started = monotonicSeconds()
                let model = RecallModel(variant, inputSize: MemoryExperiment.inputSize, hiddenSize: configuration.hiddenSize, classes: MemoryExperiment.recallClasses, seed: seed)
                let accuracy = MemoryExperiment.trainRecall(model, length: length, steps: configuration.trainingSteps, seed: seed &+ UInt64(length))
                accuracies.append(accuracy)
                if length == configuration.flowLength { trained = MemoryExperiment.gradientFlow(model, length: length, seed: seed &+ 5) }
                report(String(format: "  %@, T = %d: recall %.1f%% after %d steps (%.1f s)", variant.name, length, 100 * accuracy, configuration.trainingSteps, monotonicSeconds() - started))
            }
            study.retention.append(accuracies)
            study.trainedFlow.append(trained)
        }
        return study
    }

    /// ‖∂L/∂h_t‖ at a few t, at initialisation (and after training), with the memory horizon.
    public var flowTable: [String] {
        let length = configuration.flowLength
        let columns = Array(Set([0, length / 8, length / 4, length / 2, 3 * length / 4, length - 1])).sorted()
        let nameWidth = max(28, (configuration.variants.map(\.name.count).max() ?? 0) + 12)
        var lines = ["‖∂L/∂h_t‖ with the loss after step \(length - 1) (horizon: steps back until it falls 1000×)"]
        lines.append("cell".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + columns.map { "t=\($0)".padding(toLength: 10, withPad: " ", startingAt: 0) }.joined() + "horizon")
        for (index, variant) in configuration.variants.enumerated() {
            for (label, flow) in [("at init", initialFlow[index]), ("trained", trainedFlow[index])] {
                guard let flow else { continue }
                let horizon = MemoryExperiment.horizon(flow).map { "\($0) steps" } ?? "> \(length - 1)"
                lines.append("\(variant.name), \(label)".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                             + columns.map { String(format: "%-10.2e", flow[$0]) }.joined() + horizon)
            }
        }
        return lines
    }

    public var retentionTable: [String] {
        let nameWidth = max(28, (configuration.variants.map(\.name.count).max() ?? 0) + 2)
        var lines = ["recall accuracy after \(configuration.trainingSteps) steps (chance \(Int(100 / Double(MemoryExperiment.recallClasses)))%)"]
        lines.append("cell".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + configuration.lengths.map { "T=\($0)".padding(toLength: 9, withPad: " ", startingAt: 0) }.joined())
        for (index, variant) in configuration.variants.enumerated() {
            lines.append(variant.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + retention[index].map { String(format: "%.1f%%", 100 * $0).padding(toLength: 9, withPad: " ", startingAt: 0) }.joined())
        }
        return lines
    }

    public var flowPlot: String {
        var series: [PlotSeries] = []
        for (index, variant) in configuration.variants.enumerated() {
            series.append(PlotSeries(name: variant.name + ", init", points: initialFlow[index].enumerated().map { (x: Double($0.offset), y: $0.element) }, dashed: true))
            if let trained = trainedFlow[index] {
                series.append(PlotSeries(name: variant.name + ", trained", points: trained.enumerated().map { (x: Double($0.offset), y: $0.element) }))
            }
        }
        return SVGPlot.lineChart(title: "Gradient flow: ‖∂L/∂h_t‖, loss after step \(configuration.flowLength - 1)", xLabel: "time step t",
                                 yLabel: "gradient norm", series: series, logY: true, width: 820, height: 440)
    }

    public var retentionPlot: String {
        let series = configuration.variants.enumerated().map { index, variant in
            PlotSeries(name: variant.name, points: zip(configuration.lengths, retention[index]).map { (x: Double($0), y: 100 * $1) })
        }
        return SVGPlot.lineChart(title: "Retention: recall of the first token after T steps", xLabel: "sequence length T", yLabel: "recall accuracy (%)",
                                 series: series + [PlotSeries(name: "chance", points: configuration.lengths.map { (x: Double($0), y: 100 / Double(MemoryExperiment.recallClasses)) }, dashed: true)],
                                 width: 760, height: 400)
    }
}
