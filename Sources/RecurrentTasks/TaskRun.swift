// What every task shares: its settings kept in the run folder, the folder's files, and one training session
// (progress, metrics log, TensorBoard events, last/best checkpoints, resume, a training-curve plot).
//
//   DIR/task.json            the settings (task, model, data, seed, epochs, options) and fingerprints of the data
//                            and of the files below: evaluate and use read it
//   DIR/*.vocab              vocabularies, one token per line, when the task has them
//   DIR/last.safetensors     after every epoch: model, optimizer, loop state (what --resume continues from)
//   DIR/best.safetensors     the best epoch: highest validation accuracy for classifiers, else lowest validation
//                            loss, on the held-out split; evaluate and the use commands load last.safetensors
//                            unless asked for this one (see SavedModel)
//   DIR/metrics.csv          per epoch: loss, accuracy, validation loss and accuracy
//   DIR/events.out.tfevents.*  the same for TensorBoard, plus per-batch loss
//   DIR/training.svg         the loss curves

import Foundation
import RecurrentKernels
import RecurrentTensor
import RecurrentNN
import RecurrentTraining
import RecurrentIO

/// A problem with the run folder or a request (as opposed to a data file): exit status 2 in the CLI.
public struct TaskError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Scores a trained model computed that are not finite (NaN or ±inf). A checkpoint's weights are checked finite
/// when it loads, but finite weights can still be large enough (a checkpoint edited by hand, or saved by a run
/// that diverged) to overflow Float32 arithmetic; drawing from, ranking or averaging such scores would print
/// garbage as a result, or trap. The model methods throw it without a file; the task functions name the checkpoint
/// (`naming`). Exit status 2 in the CLI, as for any bad input file.
public struct NonFiniteScores: Error, CustomStringConvertible {
    public var checkpoint: String?

    public init(checkpoint: String? = nil) { self.checkpoint = checkpoint }

    public var description: String {
        (checkpoint.map { "\($0): " } ?? "") + "the model computed scores that are not finite (NaN or ±inf): its weights are finite "
            + "but large enough to overflow Float32 arithmetic (a checkpoint edited by hand, or saved by a run that diverged)"
    }

    /// Throws when `scores` holds a NaN or an infinity.
    public static func check(_ scores: Tensor, checkpoint: String? = nil) throws {
        guard scores.isFinite else { throw NonFiniteScores(checkpoint: checkpoint) }
    }

    /// Throws when a mean loss over held-out data is not finite: some example's scores were not.
    public static func check(_ metrics: Metrics, checkpoint: String? = nil) throws {
        guard metrics.loss.isFinite else { throw NonFiniteScores(checkpoint: checkpoint) }
    }

    /// `body`, with any `NonFiniteScores` it throws naming `checkpoint`.
    public static func naming<Result>(_ checkpoint: String, _ body: () throws -> Result) throws -> Result {
        do { return try body() } catch var error as NonFiniteScores {
            error.checkpoint = checkpoint
            throw error
        }
    }
}

/// A task's settings: everything that decides the model and its data, so evaluate, the use commands and
/// --resume rebuild exactly what was trained.
public struct RunSettings: Codable, Sendable, Equatable {
    public var task: String
    public var model: String
    /// The data file or folder, nil for the task's generated data.
    public var data: String?
    public var seed: UInt64
    public var epochs: Int
    /// Use only the first N examples of the data (quick runs and tests).
    public var limit: Int?
    public var options: [String: String]
    /// A fingerprint of `data` when the run started (see `dataDigest`): a resume refuses data that changed since.
    /// Runs begun before it was recorded have none.
    public var dataDigest: String?
    /// Identifies the run; its checkpoints record it, so another run's checkpoint copied in is refused. Runs
    /// begun before it was recorded have none (and their checkpoints are not checked).
    public var run: String?
    /// Fingerprints of the files the run keeps beside its checkpoints, by name, over their entries (see
    /// `RunFile.fingerprint`). The model's rows follow the order of the vocabularies and the char-LM's alphabet, so
    /// evaluate and the use commands refuse one edited since (translation's held-out pairs are recorded too, and
    /// only informative). Runs begun before they were recorded have none.
    public var fileDigests: [String: String]?

    public init(task: String, model: String, data: String?, seed: UInt64, epochs: Int, limit: Int? = nil, options: [String: String] = [:]) {
        self.task = task
        self.model = model
        self.data = data
        self.seed = seed
        self.epochs = epochs
        self.limit = limit
        self.options = options
    }

    public func option(_ key: String) -> String? { options[key] }
    public func integer(_ key: String, default value: Int) -> Int { options[key].flatMap(Int.init) ?? value }
    public func number(_ key: String, default value: Double) -> Double { options[key].flatMap(Double.init) ?? value }

    /// Records `value` for an option a newer version gives a new default, on a new run not asked for another one,
    /// so task.json says what the run used. A resumed run is left as it was: one begun before the option existed
    /// has no key and keeps the behaviour it started with (the key's absence).
    mutating func recordDefault(_ key: String, _ value: String, resuming: Bool) {
        if !resuming && options[key] == nil { options[key] = value }
    }
}

/// The request of `recurrent train`.
public struct TrainRequest: Sendable {
    public var task: String
    public var model: String?
    public var data: String?
    public var epochs: Int?
    public var seed: UInt64
    public var limit: Int?
    public var output: String
    public var resume: Bool
    public var options: [String: String]
    public var showProgress: Bool

    public init(task: String, model: String? = nil, data: String? = nil, epochs: Int? = nil, seed: UInt64 = 0, limit: Int? = nil,
                output: String, resume: Bool = false, options: [String: String] = [:], showProgress: Bool = true) {
        self.task = task
        self.model = model
        self.data = data
        self.epochs = epochs
        self.seed = seed
        self.limit = limit
        self.output = output
        self.resume = resume
        self.options = options
        self.showProgress = showProgress
    }
}

/// A task's metric on some data: what `evaluate --json` prints.
public struct Evaluation: Sendable, Codable, Equatable {
    public var task: String
    /// "accuracy" (fraction in [0, 1]), "bleu4" (0–100) or "nats_per_char".
    public var metric: String
    public var value: Double
    public var examples: Int
    /// Further numbers worth printing beside the main one (a baseline, the greedy score).
    public var extra: [String: Double]

    public init(task: String, metric: String, value: Double, examples: Int, extra: [String: Double] = [:]) {
        self.task = task
        self.metric = metric
        self.value = value
        self.examples = examples
        self.extra = extra
    }

    public var json: String {
        var object: [String: Any] = ["task": task, "metric": metric, "value": value, "examples": examples]
        for (key, value) in extra { object[key] = value }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    public var text: String {
        var line = "\(task): \(metric) \(Self.format(metric, value)) on \(examples) examples"
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) { line += "; \(key) \(Self.format(key, value))" }
        return line
    }

    static func format(_ metric: String, _ value: Double) -> String {
        metric.hasSuffix("accuracy") ? String(format: "%.4f (%.2f%%)", value, 100 * value) : String(format: "%.4f", value)
    }
}

/// What `train` reports at the end.
public struct TrainReport: Sendable {
    public var directory: String
    public var epochs: Int
    public var seconds: Double
    public var evaluation: Evaluation
    /// Lines worth printing after training (baselines, an example).
    public var notes: [String]
}

/// The run folder and its files.
public struct RunDirectory: Sendable {
    public let path: String
    public init(_ path: String) { self.path = path }

    public var settingsFile: String { path + "/task.json" }
    public var lastCheckpoint: String { path + "/last.safetensors" }
    public var bestCheckpoint: String { path + "/best.safetensors" }
    public func checkpoint(_ saved: SavedModel) -> String { saved == .last ? lastCheckpoint : bestCheckpoint }
    public var metricsFile: String { path + "/metrics.csv" }
    public func file(_ name: String) -> String { path + "/" + name }

    public func readSettings() throws -> RunSettings {
        guard let data = FileManager.default.contents(atPath: settingsFile) else {
            throw TaskError("\(path): not a training run folder (no task.json); train one with `recurrent train TASK --out \(path)`")
        }
        let settings: RunSettings
        do { settings = try JSONDecoder().decode(RunSettings.self, from: data) } catch {
            throw DataFileError(file: settingsFile, line: nil, problem: "not valid task settings: \(Self.describe(error, in: data))")
        }
        // The file may have been edited since training wrote it: the same checks as `train` makes of its options.
        do {
            guard let entry = Tasks.all.first(where: { $0.name == settings.task }) else {
                throw TaskError("field 'task': '\(settings.task)' is not a task; the tasks are \(Tasks.names.joined(separator: ", "))")
            }
            guard entry.models.contains(settings.model) else {
                throw TaskError("field 'model': '\(settings.model)' is not a model of the \(settings.task) task (\(entry.models.joined(separator: ", ")))")
            }
            if settings.data?.isEmpty == true { throw TaskError("field 'data' is an empty path") }
            try validateOptions(settings.options, task: settings.task)
            if let limit = settings.limit, limit < 1 { throw TaskError("limit \(limit): must be at least 1") }
            if settings.epochs < 1 { throw TaskError("epochs \(settings.epochs): must be at least 1") }
        } catch {
            throw DataFileError(file: settingsFile, line: nil, problem: "\(error)")
        }
        return settings
    }

    /// What is wrong with task.json (`data`), by the field at fault.
    static func describe(_ error: Error, in data: Data) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func field(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .typeMismatch(_, let context) where context.codingPath.isEmpty: return "not a JSON object of settings"
        case .typeMismatch(let type, let context):
            let kind = type == String.self ? "a string" : type == Int.self || type == UInt64.self ? "a whole number" : type == Double.self ? "a number" : "of the expected kind"
            return "field '\(field(context.codingPath))' is not \(kind)"
        case .valueNotFound(_, let context): return "field '\(field(context.codingPath))' has no value"
        case .keyNotFound(let key, let context): return "field '\(field(context.codingPath + [key]))' is missing"
        case .dataCorrupted(let context):
            if !context.codingPath.isEmpty { return "field '\(field(context.codingPath))': \(context.debugDescription)" }
            // swift-corelibs-foundation (Swift 6.x on Linux) reports a number its field cannot hold (a negative seed,
            // 1.5 epochs) as invalid JSON with no coding path: find the field, else say where the JSON breaks.
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                return "not valid JSON" + (context.underlyingError.map { " (\($0.localizedDescription))" } ?? "")
            }
            for (key, range) in [("seed", 0.0..<0x1p64), ("epochs", -0x1p63..<0x1p63), ("limit", -0x1p63..<0x1p63)] {
                guard let number = object[key] as? NSNumber else { continue }
                let value = number.doubleValue
                if value != value.rounded() || !range.contains(value) {
                    return "field '\(key)': \(number) is not a whole number\(key == "seed" ? " ≥ 0" : "") in range"
                }
            }
            return "a value does not fit its field (\(context.debugDescription))"
        @unknown default: return "\(error)"
        }
    }

    func write(_ file: RunFile) throws { try writeAtomically(try file.contents, to: self.file(file.name)) }

    public func writeSettings(_ settings: RunSettings) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(settings), to: settingsFile)
    }

    /// Reads a vocabulary file. After the reserved entries, every line must be one token as the tokenizer makes
    /// them, and appear once: an edited file would otherwise shift or merge embedding rows without a word.
    public func readVocabulary(name: String) throws -> Vocabulary {
        let path = file(name)
        let lines = try readTextLines(path)
        if let index = Vocabulary.reserved.indices.first(where: { $0 >= lines.count || lines[$0] != Vocabulary.reserved[$0] }) {
            throw DataFileError(file: path, line: index + 1, problem: "a vocabulary must start with \(Vocabulary.reserved.joined(separator: ", ")), one per line")
        }
        var firstLine: [String: Int] = [:]
        for (index, token) in lines.enumerated() {
            guard index < Vocabulary.reserved.count || WordTokenizer.tokens(token) == [token] else {
                let problem = token.isEmpty ? "an empty token" : token.contains(where: \.isWhitespace) ? "the token '\(token)' contains whitespace"
                    : "'\(token)' is not one token as the tokenizer reads text (lower-case runs of letters or digits, or one other character)"
                throw DataFileError(file: path, line: index + 1, problem: problem)
            }
            if let earlier = firstLine[token] {
                throw DataFileError(file: path, line: index + 1, problem: "'\(token)' repeats line \(earlier)")
            }
            firstLine[token] = index + 1
        }
        try checkFingerprint(of: name, entries: lines)
        return Vocabulary(tokens: lines)
    }

    /// Refuses the run's file `name` when its entries are not the ones the run recorded (`RunSettings.fileDigests`):
    /// a vocabulary with two lines swapped, say, passes every other check and silently reads each of the two words
    /// as the other. Nothing to compare for a run begun before the fingerprints were recorded.
    func checkFingerprint(of name: String, entries: [String]) throws {
        guard let recorded = try readSettings().fileDigests?[name] else { return }
        let now = RunFile.fingerprint(entries)
        guard now == recorded else {
            throw DataFileError(file: file(name), line: nil, problem: "edited since the run wrote it (its fingerprint was \(recorded), now \(now)); "
                                + "its entries name the model's rows in order, so an edited file maps them to other rows: restore the run's own file")
        }
    }

    /// The settings of a trained `task` run: what evaluate and the use commands start from. Refuses another
    /// task's run and a run with no checkpoint yet, each with a clear message.
    public func trainedSettings(for task: String) throws -> RunSettings {
        let settings = try readSettings()
        guard settings.task == task else { throw TaskError("\(path) holds \(withArticle(settings.task)) run, not \(task)") }
        guard FileManager.default.fileExists(atPath: lastCheckpoint) else {
            throw TaskError("\(path): no last.safetensors yet — train for at least one epoch first")
        }
        return settings
    }
}

/// Which of a run's two saved models evaluate and the use commands load.
public enum SavedModel: String, CaseIterable, Sendable {
    /// The model after the last epoch (the default). The held-out split is what picks `best`, so `best` scored on
    /// that same split reports a number chosen on the data it measures; the PyTorch recipes score their final
    /// models too.
    case last
    /// The epoch that did best on the held-out split: for scoring on other data (`--data`), or to compare.
    case best
}

/// The task options `--set key=value` accepts, with their ranges (not every task reads every one).
public let taskOptionRanges: [String: ClosedRange<Double>] = [
    "hidden": 1...4096, "embedding": 1...4096, "layers": 1...8, "sequence": 2...100_000, "batch": 1...4096,
    "min-count": 1...1_000_000, "beam": 1...64, "clips": 20...200_000, "scenes": 20...200_000, "padding": 0...2,
    "bucketing": 0...1, "shift-windows": 0...1, "evaluate-limit": 1...100_000_000, "learning-rate": 1e-9...10, "dropout": 0...0.9, "pixel-mean": -1e6...1e6, "pixel-std": 1e-9...1e6,
]
let fractionalOptions: Set<String> = ["dropout", "learning-rate", "pixel-mean", "pixel-std"]

/// The options each task reads. One it does not read would be recorded in task.json and change nothing, so it is
/// refused (`--set layers=8` for action trained exactly the default model).
public let optionsByTask: [String: Set<String>] = [
    "digits": ["padding", "pixel-mean", "pixel-std"],
    "sentiment": ["embedding", "hidden", "learning-rate", "min-count"],
    "action": ["clips", "hidden"],
    "caption": ["beam", "hidden", "scenes"],
    "translate": ["beam", "bucketing", "dropout", "embedding", "evaluate-limit", "hidden", "learning-rate", "min-count"],
    "charlm": ["batch", "hidden", "layers", "learning-rate", "sequence", "shift-windows"],
]

/// Checks every `--set` option: a key `task` reads, a number, in range (whole where it counts things).
func validateOptions(_ options: [String: String], task: String) throws {
    let known = optionsByTask[task] ?? Set(taskOptionRanges.keys)
    for (key, text) in options.sorted(by: { $0.key < $1.key }) {
        guard let range = taskOptionRanges[key], known.contains(key) else {
            throw TaskError("--set \(key)=\(text): not an option of the \(task) task; its options are \(known.sorted().joined(separator: ", "))")
        }
        // A whole-number option must read as an integer too: the tasks read it with Int(), which takes neither
        // "1e1" nor "0x0a".
        guard let value = Double(text), value.isFinite, range.contains(value), fractionalOptions.contains(key) || Int(text) != nil else {
            let kind = fractionalOptions.contains(key) ? "a number" : "a whole number"
            func shown(_ number: Double) -> String { number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number) }
            throw TaskError("--set \(key)=\(text): expected \(kind) between \(shown(range.lowerBound)) and \(shown(range.upperBound))")
        }
    }
}

/// Settles the settings of a training request: a fresh run takes the request's; `--resume` in a folder that
/// holds a run takes the stored ones (and the request's `--epochs` as the new total). Refuses to mix two runs.
public func resolveSettings(_ request: TrainRequest, defaultModel: String, models: [String], defaultEpochs: Int) throws -> (settings: RunSettings, resuming: Bool) {
    let folder = RunDirectory(request.output)
    // The data path is kept absolute, so evaluate and the use commands find it from any working folder.
    var request = request
    request.data = request.data.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    if let model = request.model, !models.contains(model) {
        throw TaskError("--model \(model): the \(request.task) task has models \(models.joined(separator: ", "))")
    }
    if let epochs = request.epochs, epochs < 1 { throw TaskError("--epochs \(epochs): must be at least 1") }
    try validateOptions(request.options, task: request.task)
    var checkpointIsFolder: ObjCBool = false
    let hasRun = FileManager.default.fileExists(atPath: folder.lastCheckpoint, isDirectory: &checkpointIsFolder)
    if hasRun && checkpointIsFolder.boolValue { throw TaskError("\(folder.lastCheckpoint): is a folder, expected the run's checkpoint file") }
    if hasRun && !request.resume {
        throw TaskError("\(request.output) already holds a training run; pass --resume to continue it, or choose another --out")
    }
    // A run stopped before its first checkpoint has its settings but nothing trained: resumed, it starts again
    // from the beginning on those settings (it used to start a new run on the defaults and rewrite them).
    if request.resume && (hasRun || FileManager.default.fileExists(atPath: folder.settingsFile)) {
        var settings = try folder.readSettings()
        guard settings.task == request.task else {
            throw TaskError("\(request.output) holds \(withArticle(settings.task)) run, not \(request.task)")
        }
        if let model = request.model, model != settings.model { throw TaskError("--model \(model): the run in \(request.output) trains \(settings.model)") }
        if let data = request.data, data != settings.data { throw TaskError("--data \(data): the run in \(request.output) trains on \(settings.data ?? "generated data")") }
        for (key, value) in request.options where settings.options[key] != value {
            throw TaskError("--set \(key)=\(value): the run in \(request.output) was started with \(settings.options[key].map { "\(key)=\($0)" } ?? "its default \(key)"); a resumed run keeps its options")
        }
        if let limit = request.limit, limit != settings.limit {
            throw TaskError("--limit \(limit): the run in \(request.output) was started with \(settings.limit.map { "--limit \($0)" } ?? "no limit"); a resumed run keeps it")
        }
        // The request's seed defaults to 0, so only a different, non-zero one shows that it was given.
        if request.seed != 0 && request.seed != settings.seed {
            throw TaskError("--seed \(request.seed): the run in \(request.output) was started with seed \(settings.seed); a resumed run keeps it")
        }
        // The same path is not the same data: an edited file would continue the run on other examples.
        if let recorded = settings.dataDigest, let data = settings.data {
            let now = try dataDigest(data)
            guard now == recorded else {
                throw DataFileError(file: data, line: nil, problem: "changed since the run in \(request.output) started (its fingerprint was \(recorded), now \(now)); "
                                    + "a resumed run must read the data it started on")
            }
        }
        if let epochs = request.epochs {
            let trained = hasRun ? try Checkpoint.trainedEpochs(at: folder.lastCheckpoint) : 0
            guard epochs >= trained else {
                throw TaskError("--epochs \(epochs): the run in \(request.output) has trained \(trained) epochs already (--epochs counts the whole run)")
            }
            settings.epochs = epochs
        }
        return (settings, hasRun)
    }
    var settings = RunSettings(task: request.task, model: request.model ?? defaultModel, data: request.data, seed: request.seed,
                               epochs: request.epochs ?? defaultEpochs, limit: request.limit, options: request.options)
    settings.dataDigest = try request.data.map(dataDigest)
    settings.run = UUID().uuidString.lowercased()
    return (settings, false)
}

/// A fingerprint of the data at `path`: FNV-1a (64-bit) over its bytes — for a folder (IDX files), over each
/// file's name and bytes in name order — and the byte count. Not cryptographic: it tells an edited file from the
/// one a run started on.
func dataDigest(_ path: String) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataFileError(file: path, line: nil, problem: "no such file") }
    var hash = FNV1a64()
    if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names.sorted() {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            hash.add(Data(name.utf8))
            hash.add(try readFileBytes(path + "/" + name))
        }
    } else {
        hash.add(try readFileBytes(path))
    }
    return hash.fingerprint
}

/// FNV-1a (64-bit) over the bytes added, with their count: "fnv1a64:<hash>:<bytes>".
struct FNV1a64 {
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325, bytes = 0

    mutating func add(_ data: Data) {
        data.withUnsafeBytes { buffer in for byte in buffer { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 } }
        bytes += data.count
    }

    var fingerprint: String { "fnv1a64:" + String(hash, radix: 16) + ":\(bytes)" }
}

/// Refuses a split with nothing to train on or nothing held out (a data file of a handful of lines, a tiny
/// --limit), before anything is written: a run scored on zero examples reports a meaningless 0.
func requireSplit(training: Int, heldOut: Int, source: String) throws {
    guard training > 0, heldOut > 0 else {
        throw DataFileError(file: source, line: nil, problem: "\(training + heldOut) examples split into \(training) for training and \(heldOut) held out; both need at least one")
    }
}

/// A file a task keeps beside its checkpoints, made from the data: a vocabulary or held-out pairs (one entry per
/// line), or the char-LM's alphabet (a JSON array of strings, since a character may be a line break).
public struct RunFile: Sendable {
    public enum Format: Sendable { case lines, jsonStrings }
    public var name: String
    public var entries: [String]
    public var format: Format

    public init(_ name: String, entries: [String], format: Format = .lines) {
        self.name = name
        self.entries = entries
        self.format = format
    }

    public static func vocabulary(_ name: String, _ vocabulary: Vocabulary) -> RunFile { RunFile(name, entries: vocabulary.tokens) }

    /// A fingerprint of `entries` in order (each one's UTF-8 bytes and a line break): the same however the file's
    /// line ends or JSON spacing were written, different for any edit to an entry or to their order.
    static func fingerprint(_ entries: [String]) -> String {
        var hash = FNV1a64()
        for entry in entries { hash.add(Data((entry + "\n").utf8)) }
        return hash.fingerprint
    }

    var contents: Data {
        get throws {
            switch format {
            case .lines: return Data((entries.joined(separator: "\n") + "\n").utf8)
            case .jsonStrings: return try JSONEncoder().encode(entries)
            }
        }
    }

    /// The entries of the file at `path` as written (line ends and encoding details aside).
    func storedEntries(at path: String) throws -> [String] {
        switch format {
        case .lines: return try readTextLines(path)
        case .jsonStrings:
            guard let strings = try? JSONDecoder().decode([String].self, from: readFileBytes(path)) else {
                throw DataFileError(file: path, line: nil, problem: "not a JSON array of strings")
            }
            return strings
        }
    }
}

/// Readies the run folder, after the data has been read and checked. A fresh run: the folder is created. A
/// resumed run: each file already there must hold the entries the data gives now — a vocabulary built from
/// edited data would give the checkpoint's embedding rows to other words — or the run is refused, naming the
/// file and its first entry that differs. Nothing is written yet; returns the files to write (with the settings)
/// once the run checks out: all of `files` for a fresh run, those the folder lacks for a resumed one.
func prepareRunDirectory(_ folder: RunDirectory, resuming: Bool, files: [RunFile], data: String?) throws -> [RunFile] {
    if resuming {
        var missing: [RunFile] = []
        for file in files {
            let path = folder.file(file.name)
            guard FileManager.default.fileExists(atPath: path) else { missing.append(file); continue }
            let stored = try file.storedEntries(at: path)
            guard stored != file.entries else { continue }
            let index = zip(stored, file.entries).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(stored.count, file.entries.count)
            func shown(_ entries: [String]) -> String { index < entries.count ? "'\(entries[index])'" : "nothing (\(entries.count) entries)" }
            let place = file.format == .lines ? "line \(index + 1)" : "entry \(index + 1)"
            throw DataFileError(file: path, line: nil, problem: "\(place) holds \(shown(stored)), but the run's data (\(data ?? "generated data")) gives \(shown(file.entries)) now; "
                                + "a resumed run must read the data it started on")
        }
        return missing
    }
    do { try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true) } catch {
        throw TaskError("\(folder.path): cannot create the folder (\(folderProblem(folder.path, creatingParents: true)))")
    }
    return files
}

/// An exclusive hold on a run folder while a training session writes it: two runs resumed in one folder at once
/// would interleave their metrics, checkpoints and settings (a 12-epoch checkpoint under a 5-epoch task.json).
/// An advisory `flock` on the folder itself, so no file is added to it; the system drops it when the process ends,
/// however it ends.
public final class RunFolderLock {
    private var descriptor: Int32

    /// Takes the hold, or throws when another process (or another hold in this one) has it.
    public init(_ path: String) throws {
        descriptor = open(path, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { throw TaskError("\(path): cannot open the run folder (\(String(cString: strerror(errno))))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            descriptor = -1
            throw TaskError("\(path): another `recurrent train` is writing this run folder now; wait for it to end before training here")
        }
    }

    public func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// Removes what an interrupted atomic write left in `folder` (`NAME.partial-PID`, see `writeAtomically`) when
/// process PID is gone: a run stopped by a signal mid-checkpoint left tens of megabytes behind. Called with the
/// folder's lock held, so no training writes there; a live process's file is left alone.
func removeStalePartialFiles(in folder: RunDirectory) {
    for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
        guard let marker = name.range(of: ".partial-", options: .backwards), let pid = Int32(name[marker.upperBound...]), pid > 0 else { continue }
        if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: folder.file(name)) }
    }
}

/// One training session in a run folder: readies the folder (see `prepareRunDirectory`: `files` are the task's
/// own), resumes from `last.safetensors` when asked, logs, checkpoints, and plots. A resume that fails before
/// training (a refused checkpoint, other data) leaves the folder as it was. Returns the trainer (its step and
/// epoch tell where the run is).
public func runTrainingSession(
    folder: RunDirectory, settings: RunSettings, resuming: Bool, files: [RunFile] = [], showProgress: Bool, configuration: String,
    model: Layer, optimizer: Optimizer, batchSize: Int, clipNorm: Double? = nil, best: CheckpointSaver.Criterion = .lowestLoss,
    count: Int, batch: ([Int]) throws -> BatchResult, validate: (() throws -> Metrics)?,
    plan: ((inout SeededGenerator) -> [[Int]])? = nil
) throws -> Trainer {
    let trainer = Trainer(model: model, optimizer: optimizer,
                          configuration: TrainingConfiguration(epochs: settings.epochs, batchSize: batchSize, seed: settings.seed &+ 17, clipNorm: clipNorm))
    var bestScore = Double.infinity
    // A folder where the run will write one of its files would fail it only after the training: said now.
    for name in ["last.safetensors", "best.safetensors", "training.svg", "accuracy.svg"] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.file(name), isDirectory: &isDirectory), isDirectory.boolValue {
            throw DataFileError(file: folder.file(name), line: nil, problem: "is a folder, where the run writes its \(name); move it out of the way")
        }
    }
    let unwritten = try prepareRunDirectory(folder, resuming: resuming, files: files, data: settings.data)
    let lock = try RunFolderLock(folder.path)
    defer { lock.release() }
    removeStalePartialFiles(in: folder)
    if resuming {
        try Checkpoint.load(from: folder.lastCheckpoint, model: model, optimizer: optimizer, trainer: trainer, configuration: configuration, run: settings.run)
        bestScore = try keepMetrics(upToEpoch: trainer.epoch, in: folder.metricsFile, criterion: best)
    }
    if showProgress { trainer.observers.append(ProgressReporter()) }
    trainer.observers.append(try MetricsLogger(path: folder.metricsFile, appending: resuming))
    trainer.observers.append(try TensorBoardWriter(directory: folder.path))
    // The run checks out and its logs are open: now its settings (a resumed run's new epoch total, the
    // fingerprints of its files) and any file it lacks, so a run refused up to here leaves no settings that claim
    // otherwise. A resumed run's files were just checked against its data, so their fingerprints are theirs.
    var settings = settings
    if !files.isEmpty { settings.fileDigests = Dictionary(uniqueKeysWithValues: files.map { ($0.name, RunFile.fingerprint($0.entries)) }) }
    try folder.writeSettings(settings)
    for file in unwritten { try folder.write(file) }
    trainer.observers.append(CheckpointSaver(directory: folder.path, trainer: trainer, configuration: configuration, run: settings.run, criterion: best, bestScore: bestScore))
    try trainer.fit(count: count, batch: batch, validate: validate, plan: plan)
    try writeTrainingPlot(folder: folder, title: "\(settings.task) (\(settings.model))")
    return trainer
}

/// Drops log lines past `epoch` (written after the last checkpoint of an interrupted run) and returns the
/// best score logged so far, as `CheckpointSaver` ranks them. A line up to `epoch` that is not a whole metrics
/// line (a file cut short, or edited) is an error naming it, and the file is left as it was: those epochs' numbers
/// would otherwise be lost.
func keepMetrics(upToEpoch epoch: Int, in path: String, criterion: CheckpointSaver.Criterion) throws -> Double {
    guard FileManager.default.fileExists(atPath: path) else { return .infinity }
    guard let text = String(data: try readFileBytes(path), encoding: .utf8) else {
        throw DataFileError(file: path, line: nil, problem: "not UTF-8 text, so not a metrics log")
    }
    let header = MetricsLogger.csvHeader
    let fieldCount = header.split(separator: ",").count
    var kept: [Substring] = [Substring(header)], best = Double.infinity
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
        if index == 0 {
            guard line == header else { throw DataFileError(file: path, line: 1, problem: "expected the header '\(header)'") }
            continue
        }
        let fields = line.split(separator: ",", omittingEmptySubsequences: false)
        guard let lineEpoch = Int(fields[0]), lineEpoch >= 1 else {
            throw DataFileError(file: path, line: index + 1, problem: "'\(line.prefix(40))' does not start with an epoch number")
        }
        guard lineEpoch <= epoch else { continue }
        guard fields.count == fieldCount else {
            throw DataFileError(file: path, line: index + 1, problem: "epoch \(lineEpoch) has \(fields.count) field\(fields.count == 1 ? "" : "s"); a metrics line has \(fieldCount) (\(header))")
        }
        kept.append(line)
        // Validation loss and accuracy when logged, else the training ones.
        let validated = Double(fields[4]) != nil
        let loss = Double(fields[validated ? 4 : 2]), accuracy = Double(fields[validated ? 5 : 3])
        if let loss { best = Swift.min(best, CheckpointSaver.score(criterion: criterion, loss: loss, accuracy: accuracy)) }
    }
    try writeAtomically(Data((kept.joined(separator: "\n") + "\n").utf8), to: path)
    return best
}

/// Per-epoch loss curves from metrics.csv as training.svg (and accuracy curves as accuracy.svg when the task
/// counts accuracy).
func writeTrainingPlot(folder: RunDirectory, title: String) throws {
    for (name, svg) in trainingCharts(folder: folder, title: title) {
        try writeAtomically(Data(svg.utf8), to: folder.file(name))
    }
}

/// The charts of a run folder's metrics.csv: ("training.svg", loss curves) and maybe ("accuracy.svg", …).
public func trainingCharts(folder: RunDirectory, title: String) -> [(name: String, svg: String)] {
    guard let text = try? String(contentsOfFile: folder.metricsFile, encoding: .utf8) else { return [] }
    var columns: [[(Double, Double)]] = Array(repeating: [], count: 4)
    for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) }
        guard fields.count == 6, let epoch = fields[0] else { continue }
        for column in 0..<4 { if let value = fields[column + 2] { columns[column].append((epoch, value)) } }
    }
    let names = ["training loss", "training accuracy", "validation loss", "validation accuracy"]
    func series(_ indices: [Int]) -> [PlotSeries] {
        indices.filter { !columns[$0].isEmpty }.map { PlotSeries(name: names[$0], points: columns[$0].map { (x: $0.0, y: $0.1) }, dashed: $0 < 2) }
    }
    var charts = [("training.svg", SVGPlot.lineChart(title: title + ": loss per epoch", xLabel: "epoch", yLabel: "loss", series: series([0, 2])))]
    let accuracy = series([1, 3])
    if !accuracy.isEmpty {
        charts.append(("accuracy.svg", SVGPlot.lineChart(title: title + ": accuracy per epoch", xLabel: "epoch", yLabel: "accuracy", series: accuracy)))
    }
    return charts
}

/// How many examples `limit` keeps of `count` (all when nil): the first ones, in file order.
func limited(_ count: Int, _ limit: Int?) -> Int { Swift.min(count, limit ?? count) }

/// "a digits", "an action": a task's name with its indefinite article, for messages.
public func withArticle(_ name: String) -> String {
    ("aeiou".contains(name.prefix(1).lowercased()) ? "an " : "a ") + name
}
