// The task commands: train, evaluate, and the use commands (predict, caption, translate, sample). They parse,
// call RecurrentTasks, and print; the work is in the library.

import ArgumentParser
import Foundation
import Recurrent

struct TrainCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a task's model, keeping checkpoints, metrics, TensorBoard events and plots in --out.",
        discussion: """
            Tasks: \(Tasks.all.map { "\($0.name) (\($0.shape): \($0.summary); models \($0.models.joined(separator: ", ")))" }.joined(separator: "; ")).
            Without --data each task uses data it generates, small enough to train in under a minute.
            --epochs counts the whole run: with --resume, training continues from DIR/last.safetensors up to that total, \
            exactly as if it had never stopped.
            """)

    @Argument(help: ArgumentHelp("The task: \(Tasks.names.joined(separator: ", ")).", valueName: "task")) var task: String
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Data file or folder (default: generated data).", valueName: "path")) var data: String?
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Epochs in total (default: the task's recipe).", valueName: "n")) var epochs: Int?
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seed for splitting, initialisation and shuffling.", valueName: "s")) var seed: UInt64 = 0
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Model variant (default: the task's first).", valueName: "name")) var model: String?
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Use only the first N examples of the data.", valueName: "n")) var limit: Int?
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Run folder.", valueName: "dir")) var out: String = "run"
    @Flag(name: .long, help: "Continue the run in --out (or start one when there is none).") var resume = false
    @Option(name: .customLong("set"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A task option key=value (repeatable), e.g. --set hidden=128.", valueName: "key=value"))
    var settings: [String] = []
    @Flag(name: .long, help: "No progress output.") var quiet = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try requireNonEmptyPaths(["--data": data, "--out": out])
        if let limit, limit < 10 { throw ValidationError("--limit \(limit): at least 10 examples are needed") }
        if let epochs, !(1...100_000).contains(epochs) { throw ValidationError("--epochs \(epochs): must be between 1 and 100000") }
        for setting in settings where !setting.contains("=") || setting.hasPrefix("=") { throw ValidationError("--set \(setting): expected key=value") }
    }

    func run() throws {
        try compute.apply()
        var options: [String: String] = [:]
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            options[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let request = TrainRequest(task: task, model: model, data: data, epochs: epochs, seed: seed, limit: limit, output: out,
                                   resume: resume, options: options, showProgress: !quiet)
        let report = try Tasks.train(request)
        print(report.evaluation.text)
        for note in report.notes { print(note) }
        print("trained \(report.epochs) epochs in \(String(format: "%.1f", report.seconds)) s; run folder \(report.directory)")
    }
}

extension SavedModel: ExpressibleByArgument {}

struct EvaluateCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Load a run's final model (or --model best) and print its task's metric on --data (default: the run's held-out split).")

    @Argument(help: ArgumentHelp("The run folder.", valueName: "dir")) var directory: String
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Data file or folder to evaluate on.", valueName: "path")) var data: String?
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "last: the model after the final epoch; best: the epoch that did best on the held-out split (chosen on the data the default evaluation measures, so score it on other --data).",
        valueName: "last|best")) var model: SavedModel = .last
    @Flag(name: .long, help: "Print one JSON object: task, metric, value, examples.") var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws { try requireNonEmptyPaths(["the run folder": directory, "--data": data]) }

    func run() throws {
        try compute.apply()
        let evaluation = try Tasks.evaluate(directory: directory, data: data, model: model)
        print(json ? evaluation.json : evaluation.text)
    }
}

struct PredictCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify one input with a trained run: an image (PGM/PPM or a CSV row) for digits, a sentence for sentiment.",
        discussion: "An input that starts with '-' (a sentence, or a file name) goes after '--', which ends the options: recurrent predict RUN -- \"-- not bad at all\"")

    @Argument(help: ArgumentHelp("The run folder.", valueName: "dir")) var directory: String
    @Argument(help: ArgumentHelp("The input: an image file, a CSV row of pixels, or a sentence.", valueName: "input")) var input: String
    @OptionGroup var compute: ComputeOptions

    func validate() throws { try requireNonEmptyPaths(["the run folder": directory]) }

    func run() throws {
        try compute.apply()
        let settings = try RunDirectory(directory).readSettings()
        switch settings.task {
        case DigitsTask.name:
            let ranked = try DigitsTask.predict(directory: directory, input: input)
            print("class \(ranked[0].label) (probability \(String(format: "%.3f", ranked[0].probability)))")
            print("next: " + ranked.dropFirst().prefix(2).map { "\($0.label) (\(String(format: "%.3f", $0.probability)))" }.joined(separator: ", "))
        case SentimentTask.name:
            let result = try SentimentTask.predict(directory: directory, sentence: input)
            print("\(result.label == 1 ? "positive" : "negative") (probability \(String(format: "%.3f", result.probability)))")
            if !result.unknownWords.isEmpty { print("words the model never saw: \(result.unknownWords.joined(separator: ", "))") }
        default:
            throw TaskError("predict works with digits and sentiment runs; \(directory) holds \(withArticle(settings.task)) run")
        }
    }
}

struct SampleCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Write text with a trained charlm run: read --prime, then draw each next character.")

    @Argument(help: ArgumentHelp("The run folder.", valueName: "dir")) var directory: String
    @Option(name: .long, parsing: .unconditional, help: "Text to start from.") var prime: String = "\n"
    @Option(name: .long, parsing: .unconditional, help: "Sharpness: below 1 is safer, above 1 wilder, 0 always the likeliest.") var temperature: Double = 0.8
    @Option(name: .long, parsing: .unconditional, help: "Characters to write.") var length: Int = 300
    @Option(name: .long, parsing: .unconditional, help: "Seed for the draws.") var seed: UInt64 = 0
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try requireNonEmptyPaths(["the run folder": directory])
        guard (1...100_000).contains(length) else { throw ValidationError("--length \(length): must be between 1 and 100000") }
        guard temperature >= 0 && temperature.isFinite else { throw ValidationError("--temperature \(temperature): must be a finite number ≥ 0") }
    }

    func run() throws {
        try compute.apply()
        print(try CharLMTask.sample(directory: directory, prime: prime, temperature: temperature, length: length, seed: seed))
        // On standard error, so the text alone can still be piped to a file.
        let unknown = try CharLMTask.unknownCharacters(directory: directory, prime: prime)
        if !unknown.isEmpty {
            writeToStandardError("note: the run's alphabet lacks the prime's \(unknown.map { String(reflecting: String($0)) }.joined(separator: ", ")); each was read as an unknown character\n")
        }
    }
}

struct CaptionCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "Describe an image (PPM/PGM) with a trained caption run, or a generated scene (--scene SEED).")

    @Argument(help: ArgumentHelp("The run folder.", valueName: "dir")) var directory: String
    @Argument(help: ArgumentHelp("An image file (PPM or PGM).", valueName: "image")) var image: String?
    @Option(name: .long, parsing: .unconditional, help: "Caption generated scene number SEED instead of a file.") var scene: UInt64?
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("With --scene: also write the scene as a PPM image here.", valueName: "file")) var write: String?
    @Option(name: .long, parsing: .unconditional, help: "Beam width (1: greedy).") var beam: Int = 3
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try requireNonEmptyPaths(["the run folder": directory, "the image": image, "--write": write])
        guard (1...64).contains(beam) else { throw ValidationError("--beam \(beam): must be between 1 and 64") }
        guard (image == nil) != (scene == nil) else { throw ValidationError("give either an image file or --scene SEED") }
        if write != nil && scene == nil { throw ValidationError("--write needs --scene") }
    }

    func run() throws {
        try compute.apply()
        let result = try CaptionTask.caption(directory: directory, image: image, scene: scene, beamWidth: beam, writeScene: write)
        print(result.caption)
        if !result.references.isEmpty { print("the scene's own captions: " + result.references.joined(separator: " | ")) }
        if let write { print("scene written to \(write)") }
    }
}

struct TranslateCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "translate",
        abstract: "Translate a sentence with a trained translate run; optionally draw the attention map as SVG.",
        discussion: "A sentence that starts with '-' goes after '--', which ends the options: recurrent translate RUN -- \"- and then?\"")

    @Argument(help: ArgumentHelp("The run folder.", valueName: "dir")) var directory: String
    @Argument(help: ArgumentHelp("The sentence to translate.", valueName: "sentence")) var sentence: String
    @Option(name: .long, parsing: .unconditional, help: "Beam width (1: greedy).") var beam: Int = 4
    @Option(name: .customLong("attention-svg"), parsing: .unconditional, help: ArgumentHelp("Write the attention map here.", valueName: "file")) var attentionSVG: String?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try requireNonEmptyPaths(["the run folder": directory, "--attention-svg": attentionSVG])
        guard (1...64).contains(beam) else { throw ValidationError("--beam \(beam): must be between 1 and 64") }
    }

    func run() throws {
        try compute.apply()
        let result = try TranslateTask.translate(directory: directory, sentence: sentence, beamWidth: beam)
        // The map is written before anything is printed, so a path that cannot be written fails the command whole.
        if let attentionSVG {
            guard let weights = result.attention else { throw TaskError("--attention-svg: the model in \(directory) has no attention") }
            let svg = SVGPlot.heatmap(title: "Attention: which source word each output word looked at", values: weights,
                                      rowLabels: result.targetTokens, columnLabels: result.sourceTokens,
                                      xLabel: "source words", yLabel: "output words", low: 0, high: 1)
            try writeAtomically(Data(svg.utf8), to: attentionSVG)
        }
        print(result.translation)
        if !result.unknownWords.isEmpty { print("words the model never saw: \(result.unknownWords.joined(separator: ", "))") }
        if let attentionSVG { print("attention map written to \(attentionSVG)") }
    }
}

/// An empty path (a script's unset variable, `--out ""`) is refused by name: passed on, it became "." or a bare
/// ": not a training run folder".
func requireNonEmptyPaths(_ paths: KeyValuePairs<String, String?>) throws {
    for (name, path) in paths where path?.isEmpty == true { throw ValidationError("\(name): the path is empty") }
}
