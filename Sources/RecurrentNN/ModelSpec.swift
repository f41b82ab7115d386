// A compact text form of a layer stack, as `recurrent summary` takes it:
//
//   embedding:5000x32   an embedding table of 5000 words, 32 features each
//   lstm:64             an LSTM with 64 units (also rnn, rnn-relu, gru)
//   lstm:64x2           two stacked layers
//   lstm:64:bi          bidirectional, directions concatenated (bi-sum, bi-avg to add or average them)
//   dense:1             a fully connected layer with 1 output
//
// Recurrent layers hand the whole sequence to a following recurrent layer and their last state to anything
// else, as Keras's return_sequences does in the usual stacks.

import RecurrentKernels

/// One layer of a spec.
public enum LayerSpec: Equatable, Sendable {
    case embedding(vocabulary: Int, dimension: Int)
    case recurrent(RecurrentCellKind, hidden: Int, layers: Int, bidirectional: Bool, merge: DirectionMerge)
    case dense(outputs: Int)

    /// Parses one token; the error names it and says what was expected.
    public init(parsing token: String) throws(ModelSpecError) {
        let parts = token.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, !parts[1].isEmpty else {
            throw ModelSpecError(token: token, problem: "expected KIND:SIZE, e.g. lstm:64, dense:1 or embedding:5000x32")
        }
        func positive(_ text: String, _ what: String) throws(ModelSpecError) -> Int {
            guard let value = Int(text), value > 0, value <= 1_000_000 else {
                throw ModelSpecError(token: token, problem: "\(what) '\(text)' is not a whole number from 1 to 1000000")
            }
            return value
        }
        let kind = parts[0].lowercased()
        switch kind {
        case "embedding":
            let sizes = parts[1].split(separator: "x", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, sizes.count == 2 else {
                throw ModelSpecError(token: token, problem: "expected embedding:VOCABULARYxDIMENSION, e.g. embedding:5000x32")
            }
            self = .embedding(vocabulary: try positive(sizes[0], "vocabulary"), dimension: try positive(sizes[1], "dimension"))
        case "dense":
            guard parts.count == 2 else { throw ModelSpecError(token: token, problem: "expected dense:OUTPUTS, e.g. dense:10") }
            self = .dense(outputs: try positive(parts[1], "output count"))
        default:
            guard let cell = RecurrentCellKind(rawValue: kind) else {
                throw ModelSpecError(token: token, problem: "unknown layer '\(parts[0])': expected embedding, rnn, rnn-relu, lstm, gru or dense")
            }
            let sizes = parts[1].split(separator: "x", omittingEmptySubsequences: false).map(String.init)
            guard sizes.count <= 2 else { throw ModelSpecError(token: token, problem: "expected \(kind):UNITS or \(kind):UNITSxLAYERS") }
            let hidden = try positive(sizes[0], "unit count")
            let layers = sizes.count == 2 ? try positive(sizes[1], "layer count") : 1
            var bidirectional = false, merge = DirectionMerge.concatenate
            // One direction modifier at most: `lstm:16:bi:bi-sum` would leave the reader guessing which counts.
            guard parts.count <= 3 else {
                throw ModelSpecError(token: token, problem: "one modifier at most (bi, bi-sum or bi-avg), got \(parts.dropFirst(2).joined(separator: ", "))")
            }
            if let modifier = parts.dropFirst(2).first {
                switch modifier.lowercased() {
                case "bi": bidirectional = true; merge = .concatenate
                case "bi-sum": bidirectional = true; merge = .sum
                case "bi-avg": bidirectional = true; merge = .average
                default: throw ModelSpecError(token: token, problem: "unknown modifier '\(modifier)': expected bi, bi-sum or bi-avg")
                }
            }
            self = .recurrent(cell, hidden: hidden, layers: layers, bidirectional: bidirectional, merge: merge)
        }
    }
}

public struct ModelSpecError: Error, CustomStringConvertible, Equatable {
    public let token: String
    public let problem: String
    public var description: String { "bad layer spec '\(token)': \(problem)" }
}

/// One row of a model summary.
public struct SummaryRow: Sendable {
    public let name: String
    public let type: String
    public let outputShape: String
    public let parameters: Int
    public let formula: String
    public let pytorchParameters: Int
}

/// A Keras-style summary of a layer stack: names, output shapes, parameter counts and how each is made.
public struct ModelSummary: Sendable {
    /// The largest stack counted (10¹⁵ parameters, 4 PB of Float32): far past any real model, and far enough
    /// under Int's range that no sum of rows overflows.
    public static let parameterLimit = 1e15
    public let rows: [SummaryRow]
    public var totalParameters: Int { rows.reduce(0) { $0 + $1.parameters } }
    public var pytorchTotalParameters: Int { rows.reduce(0) { $0 + $1.pytorchParameters } }

    /// Builds the summary; `inputSize` is the feature count of the input (not needed after an embedding).
    public init(_ specs: [LayerSpec], inputSize: Int?) throws(ModelSpecError) {
        guard !specs.isEmpty else { throw ModelSpecError(token: "", problem: "no layers given") }
        var features: Int? = inputSize
        var sequence = true
        var counts: [String: Int] = [:]
        var rows: [SummaryRow] = []
        func name(_ base: String) -> String {
            let index = counts[base, default: 0]
            counts[base] = index + 1
            return index == 0 ? base : "\(base)_\(index)"
        }
        for (position, spec) in specs.enumerated() {
            switch spec {
            case .embedding(let vocabulary, let dimension):
                guard position == 0 else {
                    throw ModelSpecError(token: "embedding:\(vocabulary)x\(dimension)", problem: "an embedding reads word indices, so it must come first")
                }
                features = dimension
                rows.append(SummaryRow(name: name("embedding"), type: "Embedding", outputShape: "(B, T, \(dimension))",
                                       parameters: vocabulary * dimension, formula: "\(vocabulary)·\(dimension) = \(vocabulary * dimension)",
                                       pytorchParameters: vocabulary * dimension))
            case .recurrent(let kind, let hidden, let layers, let bidirectional, let merge):
                guard let input = features else {
                    throw ModelSpecError(token: "\(kind.rawValue):\(hidden)", problem: "the input feature count is unknown: give --input-size or start with an embedding")
                }
                guard sequence else {
                    throw ModelSpecError(token: "\(kind.rawValue):\(hidden)", problem: "a recurrent layer needs a sequence, but the layer before it outputs one vector per sample")
                }
                // Counted from the formulas, not by building the layer: a large spec must not allocate its weights.
                // Bounded first in floating point, so no product of the formulas can overflow.
                let directions = bidirectional ? 2.0 : 1.0
                let estimate = Double(kind.gateCount) * Double(layers) * directions * Double(hidden) * (Double(input) + directions * Double(hidden) + 2)
                guard estimate <= ModelSummary.parameterLimit else {
                    throw ModelSpecError(token: "\(kind.rawValue):\(hidden)\(layers > 1 ? "x\(layers)" : "")", problem: "has about \(estimate.rounded()) parameters, more than this tool counts (10^15)")
                }
                let outputSize = bidirectional && merge == .concatenate ? 2 * hidden : hidden
                let nextIsRecurrent: Bool = {
                    guard position + 1 < specs.count, case .recurrent = specs[position + 1] else { return false }
                    return true
                }()
                features = outputSize
                sequence = nextIsRecurrent
                let type = kind.displayName + (bidirectional ? ", bidirectional" : "") + (layers > 1 ? ", \(layers) layers" : "")
                rows.append(SummaryRow(name: name(kind == .rnnReLU ? "rnn" : kind.rawValue), type: type,
                                       outputShape: nextIsRecurrent ? "(B, T, \(outputSize))" : "(B, \(outputSize))",
                                       parameters: RecurrentLayer.parameterCount(kind, inputSize: input, hiddenSize: hidden, layerCount: layers, bidirectional: bidirectional),
                                       formula: RecurrentLayer.parameterFormula(kind, inputSize: input, hiddenSize: hidden, layerCount: layers, bidirectional: bidirectional),
                                       pytorchParameters: RecurrentLayer.pytorchParameterCount(kind, inputSize: input, hiddenSize: hidden, layerCount: layers, bidirectional: bidirectional)))
            case .dense(let outputs):
                guard let input = features else {
                    throw ModelSpecError(token: "dense:\(outputs)", problem: "the input feature count is unknown: give --input-size")
                }
                let count = input * outputs + outputs
                features = outputs
                rows.append(SummaryRow(name: name("dense"), type: "Dense", outputShape: sequence ? "(B, T, \(outputs))" : "(B, \(outputs))",
                                       parameters: count, formula: "\(input)·\(outputs) + \(outputs) = \(count)", pytorchParameters: count))
            }
        }
        guard rows.reduce(0.0, { $0 + Double($1.parameters) }) <= ModelSummary.parameterLimit else {
            throw ModelSpecError(token: "the whole stack", problem: "has more than 10^15 parameters in all, more than this tool counts")
        }
        self.rows = rows
    }
}
