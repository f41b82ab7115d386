// The tasks by name: what `recurrent train`, `evaluate` and the use commands dispatch on.

import RecurrentIO
import Foundation

public enum Tasks {
    public struct Entry: Sendable {
        public let name: String
        public let shape: String
        public let summary: String
        public let models: [String]
        let train: @Sendable (TrainRequest) throws -> TrainReport
        let evaluate: @Sendable (String, String?, SavedModel) throws -> Evaluation
    }

    public static let all: [Entry] = [
        Entry(name: DigitsTask.name, shape: "one-to-one", summary: "image → digit class (8×8 CSV, 28×28 IDX, or generated digits)",
              models: DigitsTask.models, train: DigitsTask.train, evaluate: DigitsTask.evaluate),
        Entry(name: SentimentTask.name, shape: "many-to-one", summary: "sentence → positive or negative (label<TAB>sentence TSV, or generated reviews)",
              models: SentimentTask.models, train: SentimentTask.train, evaluate: SentimentTask.evaluate),
        Entry(name: ActionTask.name, shape: "many-to-one", summary: "generated clip of a moving shape → its motion, where only frame order tells",
              models: ActionTask.models, train: ActionTask.train, evaluate: ActionTask.evaluate),
        Entry(name: CaptionTask.name, shape: "one-to-many", summary: "generated scene → a sentence describing it (CNN encoder, LSTM decoder, beam search)",
              models: CaptionTask.models, train: CaptionTask.train, evaluate: CaptionTask.evaluate),
        Entry(name: TranslateTask.name, shape: "many-to-many", summary: "English sentence → French (source<TAB>target TSV, or a generated toy language), GRU encoder–decoder with attention",
              models: TranslateTask.models, train: TranslateTask.train, evaluate: TranslateTask.evaluate),
        Entry(name: CharLMTask.name, shape: "many-to-many", summary: "text → the next character at every step (plain text, or generated lines)",
              models: CharLMTask.models, train: CharLMTask.train, evaluate: CharLMTask.evaluate),
    ]

    public static var names: [String] { all.map(\.name) }

    public static func entry(_ name: String) throws -> Entry {
        guard let entry = all.first(where: { $0.name == name }) else {
            throw TaskError("unknown task '\(name)'; the tasks are \(names.joined(separator: ", "))")
        }
        return entry
    }

    public static func train(_ request: TrainRequest) throws -> TrainReport {
        try entry(request.task).train(request)
    }

    /// Evaluates the run in `directory` (its task read from task.json) on `data`, or on its own held-out split.
    public static func evaluate(directory: String, data: String?, model saved: SavedModel = .last) throws -> Evaluation {
        let folder = RunDirectory(directory)
        let settings = try folder.readSettings()
        // The held-out split is cut from the run's data file: an edited file would cut another one, and the score
        // would silently be on examples the model may have trained on.
        if data == nil, let recorded = settings.dataDigest, let path = settings.data {
            let now = try dataDigest(path)
            guard now == recorded else {
                throw DataFileError(file: path, line: nil, problem: "changed since the run in \(directory) trained on it (its fingerprint was \(recorded), now \(now)), "
                                    + "so the held-out split would not be the one the run held out; pass --data FILE to score a whole file instead")
            }
        }
        let evaluation = try entry(settings.task).evaluate(directory, data, saved)
        // A metric over nothing would read as a score of 0 (a task.json edited to a tiny limit, a file of no
        // usable lines): refused, as train refuses such a split.
        guard evaluation.examples > 0 else {
            throw DataFileError(file: data ?? folder.settingsFile, line: nil,
                                problem: data == nil ? "the run's held-out split is empty (were its limit or its data file changed?): nothing to evaluate" : "the file gives no examples to evaluate (too few lines, or too little text for one window)")
        }
        return evaluation
    }
}
