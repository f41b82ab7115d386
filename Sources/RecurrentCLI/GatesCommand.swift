// `recurrent gates`: an LSTM's gates and memory line over one input, as heatmaps and numbers.

import ArgumentParser
import Foundation
import Recurrent

struct GatesCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "gates",
        abstract: "Show an LSTM's forget/input/output gates and cell state at every step of one input, as SVG heatmaps.",
        discussion: """
            With --run DIR (a sentiment run) and --sentence, the sentiment LSTM reading that sentence; otherwise an \
            LSTM trained here for a few seconds to recall the first token of a sequence.
            """)

    @Option(name: .customLong("run"), parsing: .unconditional, help: ArgumentHelp("A trained sentiment run.", valueName: "dir")) var runDirectory: String?
    @Option(name: .long, parsing: .unconditional, help: "The sentence for --run (default: \"\(Self.defaultSentence)\").") var sentence: String?
    static let defaultSentence = "the food was not good , but the staff was friendly ."
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Folder for the heatmaps.", valueName: "dir")) var out: String = "gates"
    @Option(name: .long, parsing: .unconditional, help: "Seed for the recall LSTM.") var seed: UInt64 = 0
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try requireNonEmptyPaths(["--run": runDirectory, "--out": out])
        // The recall LSTM reads its own tokens: a sentence given without a run would be ignored without a word.
        if sentence != nil && runDirectory == nil { throw ValidationError("--sentence needs --run DIR, a trained sentiment run") }
    }

    func run() throws {
        try compute.apply()
        let trace: GateTrace
        if let runDirectory {
            // Loaded and checked before the folder is made, so a mistyped --run leaves nothing behind.
            trace = try GateInspection.sentimentTrace(directory: runDirectory, sentence: sentence ?? Self.defaultSentence)
            try createOutputFolder(out)
        } else {
            // Made before the training, so a bad --out fails at once rather than after it.
            try createOutputFolder(out)
            print("Training an LSTM (forget bias 3) to recall the first of 24 tokens…")
            let result = GateInspection.recallTrace(seed: seed)
            print(String(format: "recall accuracy %.1f%%", 100 * result.accuracy))
            trace = result.trace
        }
        print("input: " + trace.tokens.joined(separator: " "))
        trace.saturationTable.forEach { print($0) }
        print("\nthe switch table, by the library's elementwise product: " + GateTrace.switchTableLine)
        print("  a gate of 1 passes a value, 0 blocks it, 0.2 lets a fifth through: c[t] = f ⊙ c[t−1] + i ⊙ g")
        for (name, svg) in trace.heatmaps { try writeAtomically(Data(svg.utf8), to: "\(out)/\(name).svg") }
        print("\nheatmaps: " + trace.heatmaps.map { "\(out)/\($0.name).svg" }.joined(separator: ", "))
    }
}
