// Looking inside an LSTM: its gates and memory line at every step of one input, as heatmaps, with how often
// each gate is shut (< 0.1) or open (> 0.9), and the lecture's switch arithmetic done by the library.

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN

/// Gate activations and cell states of a one-layer LSTM over one sequence: each [unit][step].
public struct GateTrace: Sendable {
    public var title: String
    public var tokens: [String]
    public var input: [[Double]], forget: [[Double]], candidate: [[Double]], output: [[Double]], cell: [[Double]]

    /// Runs `layer` (an LSTM; its first layer, forward direction) over `sequence` (1, T, I).
    public init(title: String, layer: RecurrentLayer, sequence: Tensor, tokens: [String]) {
        precondition(layer.kind == .lstm, "GateTrace: an LSTM is needed, got \(layer.kind.displayName)")
        layer.setTraining(false)
        let result = noGrad { layer(sequence, keepingSteps: true) }
        let hidden = layer.hiddenSize, steps = sequence.shape[1]
        let gates = result.gates[0].doubles, cells = result.cells[0]?.doubles ?? []
        func block(_ index: Int) -> [[Double]] {
            (0..<hidden).map { unit in (0..<steps).map { t in gates[t * 4 * hidden + index * hidden + unit] } }
        }
        self.title = title
        self.tokens = tokens
        input = block(0); forget = block(1); candidate = block(2); output = block(3)
        cell = (0..<hidden).map { unit in (0..<steps).map { t in cells[t * hidden + unit] } }
    }

    /// Shares of a gate's values below 0.1 (shut) and above 0.9 (open).
    public static func saturation(_ values: [[Double]]) -> (shut: Double, open: Double) {
        let flat = values.flatMap { $0 }
        let count = Double(max(1, flat.count))
        return (Double(flat.filter { $0 < 0.1 }.count) / count, Double(flat.filter { $0 > 0.9 }.count) / count)
    }

    public var saturationTable: [String] {
        var lines = ["gate          shut (< 0.1)   open (> 0.9)   mean"]
        for (name, values) in [("forget f", forget), ("input i", input), ("output o", output)] {
            let (shut, open) = Self.saturation(values)
            let flat = values.flatMap { $0 }
            lines.append(name.padding(toLength: 14, withPad: " ", startingAt: 0)
                         + String(format: "%5.1f%%         %5.1f%%         %.2f", 100 * shut, 100 * open, flat.reduce(0, +) / Double(max(1, flat.count))))
        }
        return lines
    }

    /// Heatmaps: units down, steps across (labelled by the input's tokens).
    public var heatmaps: [(name: String, svg: String)] {
        let units = (0..<forget.count).map { "unit \($0)" }
        func map(_ name: String, _ values: [[Double]], _ low: Double?, _ high: Double?, _ meaning: String) -> (String, String) {
            (name, SVGPlot.heatmap(title: "\(title): \(meaning)", values: values, rowLabels: units, columnLabels: tokens,
                                   xLabel: "step (input token)", yLabel: "LSTM unit", low: low, high: high))
        }
        let reach = cell.flatMap { $0 }.map(Swift.abs).max() ?? 1
        return [
            map("forget", forget, 0, 1, "forget gate f (1 = keep the memory)"),
            map("input", input, 0, 1, "input gate i (1 = write the candidate)"),
            map("output", output, 0, 1, "output gate o (1 = show the memory)"),
            map("cell", cell, -reach, reach, "cell state c (the memory line)"),
        ]
    }

    /// The lecture's switch table, computed by the library's elementwise product: a gate value of 1 lets a
    /// number through, 0 blocks it, anything between scales it.
    public static func switchTable() -> (gate: [Float], values: [Float], product: [Float]) {
        let gate = Tensor([0.8, 0.0, 0.2, 1.0]), values = Tensor([2, 1, 3, 5])
        return (gate.scalars, values.scalars, (gate * values).scalars)
    }

    public static var switchTableLine: String {
        let (gate, values, product) = switchTable()
        func list(_ numbers: [Float], decimals: Bool) -> String {
            "(" + numbers.map { decimals ? String(format: "%.1f", $0) : ($0 == $0.rounded() ? String(Int($0)) : String(format: "%g", $0)) }.joined(separator: ", ") + ")"
        }
        return "\(list(gate, decimals: true)) ⊙ \(list(values, decimals: false)) = \(list(product, decimals: false))"
    }
}

public enum GateInspection {
    /// An LSTM with an open forget gate trained briefly on recall, and its trace over one recall sequence
    /// (the token to remember first, then distractors).
    public static func recallTrace(length: Int = 24, hiddenSize: Int = 16, steps: Int = 400, seed: UInt64 = 0) -> (trace: GateTrace, accuracy: Double) {
        let model = RecallModel(.openLSTM(bias: 3), inputSize: MemoryExperiment.inputSize, hiddenSize: hiddenSize, classes: MemoryExperiment.recallClasses, seed: seed)
        let accuracy = MemoryExperiment.trainRecall(model, length: length, steps: steps, learningRate: 3e-3, seed: seed &+ 1)
        var generator = SeededGenerator(seed: seed &+ 2)
        let (sequence, labels) = MemoryExperiment.recallBatch(length: length, batch: 1, using: &generator)
        let values = sequence.scalars
        let tokens = (0..<length).map { t -> String in
            let symbol = (0..<MemoryExperiment.inputSize).first { values[t * MemoryExperiment.inputSize + $0] == 1 } ?? 0
            return symbol < MemoryExperiment.recallClasses ? "REMEMBER \(symbol)" : "d\(symbol - MemoryExperiment.recallClasses)"
        }
        let trace = GateTrace(title: "Recall (remember \(labels[0]))", layer: model.recurrent, sequence: sequence, tokens: tokens)
        return (trace, accuracy)
    }

    /// The trace of a trained sentiment run's LSTM over a sentence.
    public static func sentimentTrace(directory: String, sentence: String) throws -> GateTrace {
        let trained = try SentimentTask.loadTrained(directory, baseline: false)
        let tokens = try typedSentenceTokens(sentence)
        let embedded = noGrad { trained.model.embedding(trained.vocabulary.encode(tokens), shape: [1, tokens.count]) }
        let trace = GateTrace(title: "Sentiment LSTM", layer: trained.model.lstm, sequence: embedded, tokens: tokens)
        // Weights that overflow would fill the table and the heatmaps with NaN.
        guard [trace.input, trace.forget, trace.candidate, trace.output, trace.cell].allSatisfy({ $0.allSatisfy { $0.allSatisfy(\.isFinite) } }) else {
            throw NonFiniteScores(checkpoint: RunDirectory(directory).lastCheckpoint)
        }
        return trace
    }
}
