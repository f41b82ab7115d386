// `recurrent summary`: parameter counts of a layer stack, with how each is made and what PyTorch would count.

import ArgumentParser
import Recurrent

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Print a Keras-style table of a layer stack: output shapes, parameter counts and their formulas.",
        discussion: """
            Layers, in order:
              embedding:VxD        an embedding of V words, D features (first layer only)
              rnn:H  rnn-relu:H    a vanilla RNN with tanh or ReLU, H units
              lstm:H  gru:H        an LSTM or GRU with H units
              KIND:HxL             L stacked layers, e.g. lstm:64x2
              KIND:H:bi            bidirectional, directions concatenated (bi-sum, bi-avg: added or averaged)
              dense:N              a fully connected layer with N outputs
            A recurrent layer passes its whole sequence to a following recurrent layer, else its last state.

            Examples:
              recurrent summary --input-size 32 lstm:16
              recurrent summary embedding:5000x32 lstm:64 lstm:64 dense:1
              recurrent summary --input-size 8 gru:32x2:bi dense:4
            """)

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Features per step of the input (not needed after an embedding).", valueName: "n"))
    var inputSize: Int?

    @Argument(help: ArgumentHelp("The layers, e.g. lstm:16 or embedding:5000x32 lstm:64 dense:1.", valueName: "layer"))
    var layers: [String] = []

    func summary() throws -> ModelSummary {
        if let inputSize, !(1...1_000_000).contains(inputSize) {
            throw ValidationError("--input-size: \(inputSize) is not a whole number from 1 to 1000000")
        }
        guard !layers.isEmpty else { throw ValidationError("no layers given: e.g. `recurrent summary --input-size 32 lstm:16`") }
        do {
            var specs: [LayerSpec] = []
            for token in layers { specs.append(try LayerSpec(parsing: token)) }
            return try ModelSummary(specs, inputSize: inputSize)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func validate() throws { _ = try summary() }

    func run() throws {
        for line in Self.render(try summary()) { print(line) }
    }

    static func render(_ summary: ModelSummary) -> [String] {
        func left(_ text: String, _ width: Int) -> String { text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count) }
        let nameWidth = max(22, summary.rows.map { $0.name.count + $0.type.count + 4 }.max() ?? 0)
        var lines = [left("Layer (type)", nameWidth) + left("Output shape", 16) + pad("Params", 10) + "  How the count is made"]
        lines.append(String(repeating: "─", count: nameWidth + 16 + 10 + 40))
        for row in summary.rows {
            lines.append(left("\(row.name) (\(row.type))", nameWidth) + left(row.outputShape, 16) + pad("\(row.parameters)", 10) + "  " + row.formula)
        }
        lines.append(String(repeating: "─", count: nameWidth + 16 + 10 + 40))
        lines.append("Total params: \(summary.totalParameters)")
        let difference = summary.pytorchTotalParameters - summary.totalParameters
        if difference != 0 {
            lines.append("PyTorch counts \(summary.pytorchTotalParameters) for the same layers: its RNN/LSTM/GRU cells keep two bias vectors (bias_ih and bias_hh), \(difference) more; they always add, so one suffices (GRU keeps b_hn apart, as here).")
        } else {
            lines.append("PyTorch counts the same: \(summary.pytorchTotalParameters).")
        }
        return lines
    }
}
