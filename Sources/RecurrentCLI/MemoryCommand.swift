// `recurrent memory`: the goldfish-brain experiment as a command — gradient flow and retention per cell.

import ArgumentParser
import Foundation
import Recurrent

struct MemoryCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Measure how far back each cell remembers: gradient flow ‖∂L/∂h_t‖ and recall accuracy per sequence length.",
        discussion: """
            Cells: RNN (tanh), RNN (ReLU) with default and identity initialisation, LSTM with the default and an open \
            forget gate (--forget-bias), GRU. Writes gradient-flow.svg and retention.svg into --out.
            """)

    @Option(name: .long, parsing: .unconditional, help: "T for the gradient-flow measurement.") var steps: Int = 64
    @Option(name: .long, parsing: .unconditional, help: "Sequence lengths for the recall task, comma-separated.") var lengths: String = "16,32,64,128"
    @Option(name: .customLong("train-steps"), parsing: .unconditional, help: "Training steps per cell and length (Adam 1e-3, batch 64).") var trainSteps: Int = 1500
    @Option(name: .long, parsing: .unconditional, help: "Hidden units.") var hidden: Int = 64
    @Option(name: .customLong("forget-bias"), parsing: .unconditional, help: "Forget-gate bias of the open-gate LSTM.") var forgetBias: Double = 3
    @Option(name: .long, parsing: .unconditional, help: "Seed.") var seed: UInt64 = 0
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Folder for the plots.", valueName: "dir")) var out: String = "memory"
    @OptionGroup var compute: ComputeOptions

    func parsedLengths() throws -> [Int] {
        let values = lengths.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 2 && ($0 ?? 0) <= 4096 }) else {
            throw ValidationError("--lengths \(lengths): expected comma-separated lengths between 2 and 4096")
        }
        return values.map { $0! }
    }

    func validate() throws {
        try requireNonEmptyPaths(["--out": out])
        guard (2...4096).contains(steps) else { throw ValidationError("--steps \(steps): must be between 2 and 4096") }
        guard (1...1_000_000).contains(trainSteps) else { throw ValidationError("--train-steps \(trainSteps): must be between 1 and 1000000") }
        guard (1...4096).contains(hidden) else { throw ValidationError("--hidden \(hidden): must be between 1 and 4096") }
        // Beyond ±100 the forget gate is 0 or 1 to the last bit of a Float anyway.
        guard forgetBias.isFinite, abs(forgetBias) <= 100 else { throw ValidationError("--forget-bias \(forgetBias): must be a number from -100 to 100") }
        _ = try parsedLengths()
    }

    func run() throws {
        try compute.apply()
        let configuration = MemoryStudy.Configuration(
            variants: [.tanhRNN, .reluRNN, .identityReLURNN, .lstm, .openLSTM(bias: forgetBias), .gru],
            flowLength: steps, lengths: try parsedLengths(), trainingSteps: trainSteps, hiddenSize: hidden, seed: seed)
        try MemoryStudy.requireMemory(configuration)
        // Made before the minutes of work, so a bad --out fails at once rather than after it.
        try createOutputFolder(out)
        print("Training each cell on the recall task (\(configuration.variants.count) cells × \(configuration.lengths.count) lengths × \(trainSteps) steps)…")
        let study = MemoryStudy.run(configuration) { line in print(line) }
        print("")
        study.flowTable.forEach { print($0) }
        print("")
        study.retentionTable.forEach { print($0) }
        try writeAtomically(Data(study.flowPlot.utf8), to: out + "/gradient-flow.svg")
        try writeAtomically(Data(study.retentionPlot.utf8), to: out + "/retention.svg")
        print("\nplots: \(out)/gradient-flow.svg, \(out)/retention.svg")
    }
}
