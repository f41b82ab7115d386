// Each task trains briefly (a slice of the real data, or its generated data) and must pass a floor; the full
// recipes and their numbers belong to the closing notes, not to the suite.

import Testing
import Foundation
import RecurrentNN
import RecurrentIO
import RecurrentTasks
import RecurrentTensor

/// ../shared/data beside the repository (read-only; tests write only to temporary folders).
let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data")

func temporaryRunFolder() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-task-\(UUID().uuidString)").path
}

/// The two runs' final weights are the same tensors, bit for bit.
func expectSameFinalWeights(_ first: String, _ second: String) throws {
    let a = try SafeTensorsFile.read(contentsOf: first + "/last.safetensors"), b = try SafeTensorsFile.read(contentsOf: second + "/last.safetensors")
    #expect(a.entries.keys.sorted() == b.entries.keys.sorted())
    for (name, entry) in a.entries {
        let same = entry.tensor?.scalars == b.entries[name]?.tensor?.scalars
        #expect(same, "\(name) differs")
    }
}

func train(_ task: String, model: String? = nil, data: String? = nil, epochs: Int, limit: Int? = nil, options: [String: String] = [:], output: String? = nil, resume: Bool = false) throws -> TrainReport {
    try Tasks.train(TrainRequest(task: task, model: model, data: data.map { sharedData.appendingPathComponent($0).path }, epochs: epochs,
                                 limit: limit, output: output ?? temporaryRunFolder(), resume: resume, options: options, showProgress: false))
}

@Suite(.serialized) struct TaskTrainingTests {
    @Test func digitsMLPAndCNNLearnTheRealDigits() throws {
        let mlp = try train("digits", data: "digits8x8/digits_train.csv", epochs: 10)
        #expect(mlp.evaluation.metric == "accuracy" && mlp.evaluation.examples == 284)
        #expect(mlp.evaluation.value >= 0.93, "MLP held-out accuracy \(mlp.evaluation.value)")
        let cnn = try train("digits", model: "cnn", data: "digits8x8/digits_train.csv", epochs: 8)
        #expect(cnn.evaluation.value >= 0.90, "CNN held-out accuracy \(cnn.evaluation.value)")
        let mnist = try train("digits", data: "mnist-test28", epochs: 3, limit: 2000)
        #expect(mnist.evaluation.value >= 0.85, "MNIST MLP held-out accuracy \(mnist.evaluation.value)")
        // The use command: a CSV row of the held-out kind gives a class with its probability.
        let ranked = try DigitsTask.predict(directory: mlp.directory, input: "0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0")
        #expect(ranked[0].label == 0 && ranked[0].probability > 0.5, "\(ranked.prefix(2))")
    }

    @Test func sentimentLSTMAndBagOfWordsLearnTheReviews() throws {
        let report = try train("sentiment", data: "sentiment/amazon_yelp.tsv", epochs: 6)
        #expect(report.evaluation.examples == 400)
        #expect(report.evaluation.value >= 0.68, "LSTM accuracy \(report.evaluation.value)")
        #expect((report.evaluation.extra["bag_of_words_accuracy"] ?? 0) >= 0.75, "\(report.evaluation.extra)")
        let positive = try SentimentTask.predict(directory: report.directory, sentence: "Great food, friendly staff, I loved it.")
        #expect(positive.label == 1)
    }

    @Test func actionNeedsTheOrderOfFrames() throws {
        let report = try train("action", epochs: 8, options: ["clips": "1000"])
        #expect(report.evaluation.value >= 0.9, "LSTM accuracy \(report.evaluation.value)")
        let blind = report.evaluation.extra["average_frame_accuracy"] ?? 1
        #expect(blind <= 0.25 + 0.15, "the average frame should carry no class information, got \(blind)")
    }

    @Test func captionDescribesGeneratedScenes() throws {
        let report = try train("caption", epochs: 6, options: ["scenes": "1500"])
        #expect(report.evaluation.metric == "bleu4")
        #expect(report.evaluation.value >= 40, "beam BLEU-4 \(report.evaluation.value)")
        let described = try CaptionTask.caption(directory: report.directory, image: nil, scene: 3, beamWidth: 2, writeScene: nil)
        #expect(!described.caption.isEmpty && !described.references.isEmpty)
    }

    @Test func translateLearnsTheToyLanguageWithAttention() throws {
        let report = try train("translate", epochs: 6, options: ["hidden": "48", "embedding": "32"])
        #expect(report.evaluation.value >= 50, "beam BLEU-4 \(report.evaluation.value)")
        #expect((report.evaluation.extra["greedy_bleu4"] ?? 0) >= 45)
        let result = try TranslateTask.translate(directory: report.directory, sentence: "big dog sees the moon", beamWidth: 3)
        #expect(result.attention?.count == result.targetTokens.count)
        #expect(result.attention?.allSatisfy { abs($0.reduce(0, +) - 1) < 1e-4 } == true)
        #expect(result.unknownWords == ["the"], "\(result.unknownWords)")
    }

    @Test func charlmLossFallsOnShakespeare() throws {
        let report = try train("charlm", data: "tinyshakespeare/train.txt", epochs: 6, limit: 40_000, options: ["hidden": "64", "layers": "1", "sequence": "50", "learning-rate": "1e-2"])
        #expect(report.evaluation.metric == "nats_per_char")
        // A uniform guess over the 60-odd characters costs ln 61 ≈ 4.1 nats.
        #expect(report.evaluation.value < 2.7, "validation loss \(report.evaluation.value)")
        let text = try CharLMTask.sample(directory: report.directory, prime: "ROMEO:", temperature: 0.8, length: 50, seed: 3)
        #expect(text.hasPrefix("ROMEO:") && text.count == 56)
        #expect(try CharLMTask.unknownCharacters(directory: report.directory, prime: "First☃: ☃ ~") == ["☃", "~"])
        // A model whose likeliest output is the unknown-character marker (its bias pushed far up), sampled cold:
        // the marker is never written, and the draw never comes up empty (it trapped at 1e-5 and below).
        let path = report.directory + "/last.safetensors"
        var file = try SafeTensorsFile.read(contentsOf: path)
        let bias = try #require(file.entries["model.output.bias"]?.tensor)
        var scalars = bias.scalars
        scalars[0] += 1e4
        file.entries["model.output.bias"] = SafeTensorsEntry(Tensor(shape: bias.shape, scalars: scalars))
        try file.write(to: path)
        for temperature in [1e-30, 1e-5, 0.5] {
            let cold = try CharLMTask.sample(directory: report.directory, prime: "ROMEO:", temperature: temperature, length: 20, seed: 3)
            #expect(cold.count == 26 && !cold.contains("\u{FFFD}"), "temperature \(temperature): \(cold)")
        }
    }

    /// Each epoch's windows sit on one grid shifted by a drawn amount: every window whole, with its next-character
    /// target inside the text, all of an epoch's on one shift, each grid position once, and the shift changing
    /// from epoch to epoch (a plan that always drew 0, or let the last window run off the text, would fail).
    @Test func charlmShiftsItsWindowsEachEpoch() throws {
        let textCount = 1_037, length = 50
        let windows = try #require(CharLMTask.ShiftedWindows(textCount: textCount, length: length))
        #expect(CharLMTask.ShiftedWindows(textCount: 99, length: 50) == nil)
        var generator = SeededGenerator(seed: 4)
        var shifts: Set<Int> = []
        for _ in 0..<8 {
            let starts = windows.batches(batchSize: 6, using: &generator).flatMap { $0 }.map(windows.start)
            #expect(starts.count == windows.count && windows.count == 19)
            let shift = starts[0] % length
            #expect(starts.allSatisfy { $0 % length == shift && $0 >= 0 && $0 + length < textCount })
            #expect(Set(starts.map { $0 / length }) == Set(0..<windows.count))
            shifts.insert(shift)
        }
        #expect(shifts.count > 4, "shifts drawn: \(shifts.sorted())")
    }

    /// Shifted windows draw from the trainer's generator, so a resumed char-LM run is the uninterrupted one.
    @Test func resumedCharLMRunMatchesAnUninterruptedOne() throws {
        let straight = temporaryRunFolder(), resumed = temporaryRunFolder()
        let options = ["hidden": "16", "sequence": "20"]
        _ = try train("charlm", epochs: 3, limit: 4_000, options: options, output: straight)
        _ = try train("charlm", epochs: 1, limit: 4_000, options: options, output: resumed)
        _ = try train("charlm", epochs: 3, limit: 4_000, options: options, output: resumed, resume: true)
        try expectSameFinalWeights(straight, resumed)
        #expect(try String(contentsOfFile: straight + "/metrics.csv", encoding: .utf8) == String(contentsOfFile: resumed + "/metrics.csv", encoding: .utf8))
    }

    /// A run begun before windows shifted has no shift-windows in its task.json: it resumes on the fixed grid it
    /// started on, as a run asked for shift-windows=0 does (with the old default of 1 the weights would differ).
    @Test func charlmRunWithoutTheShiftOptionResumesOnItsFixedGrid() throws {
        let fixed = temporaryRunFolder(), older = temporaryRunFolder()
        let options = ["hidden": "16", "sequence": "20"]
        _ = try train("charlm", epochs: 3, limit: 4_000, options: options.merging(["shift-windows": "0"]) { $1 }, output: fixed)
        _ = try train("charlm", epochs: 1, limit: 4_000, options: options.merging(["shift-windows": "0"]) { $1 }, output: older)
        // Drop the key, as an older run's task.json never had it.
        let settingsURL = URL(fileURLWithPath: older + "/task.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: settingsURL)) as? [String: Any])
        var stored = try #require(object["options"] as? [String: String])
        #expect(stored.removeValue(forKey: "shift-windows") == "0")
        object["options"] = stored
        try JSONSerialization.data(withJSONObject: object).write(to: settingsURL)
        _ = try train("charlm", epochs: 3, limit: 4_000, options: [:], output: older, resume: true)
        try expectSameFinalWeights(fixed, older)
    }

    /// Dropout masks are drawn at each step from the layer's seed and the step's number, so a translation run with
    /// dropout resumes exactly: with masks from a generator that ran on since the layer was made, the resumed run
    /// started its masks over and its weights differed. The run without dropout ends elsewhere: the masks are used.
    @Test func resumedTranslationWithDropoutMatchesAnUninterruptedOne() throws {
        let straight = temporaryRunFolder(), resumed = temporaryRunFolder(), plain = temporaryRunFolder()
        let options = ["hidden": "16", "embedding": "16", "dropout": "0.3"]
        _ = try train("translate", epochs: 2, limit: 600, options: options, output: straight)
        _ = try train("translate", epochs: 1, limit: 600, options: options, output: resumed)
        _ = try train("translate", epochs: 2, limit: 600, options: options, output: resumed, resume: true)
        try expectSameFinalWeights(straight, resumed)
        _ = try train("translate", epochs: 2, limit: 600, options: options.merging(["dropout": "0"]) { $1 }, output: plain)
        let withDropout = try SafeTensorsFile.read(contentsOf: straight + "/last.safetensors")
        let without = try SafeTensorsFile.read(contentsOf: plain + "/last.safetensors")
        let trained = try #require(withDropout.entries["model.output.weight"]?.tensor), plainTrained = try #require(without.entries["model.output.weight"]?.tensor)
        #expect(trained.scalars != plainTrained.scalars)
    }

    /// A new translation run on real data records the default dropout in task.json; on generated data it has none.
    @Test func translationOnRealDataRecordsItsDropout() throws {
        let real = try train("translate", data: "translation-en-fr/eng-fra.tsv", epochs: 1, limit: 300, options: ["hidden": "16", "embedding": "16"])
        let generated = try train("translate", epochs: 1, limit: 300, options: ["hidden": "16", "embedding": "16"])
        func options(_ folder: String) throws -> [String: String]? { try RunDirectory(folder).readSettings().options }
        #expect(try options(real.directory)?["dropout"] == "0.3")
        #expect(try options(generated.directory)?["dropout"] == nil)
    }

    @Test func resumedRunMatchesAnUninterruptedOne() throws {
        let straight = temporaryRunFolder(), resumed = temporaryRunFolder()
        _ = try train("sentiment", epochs: 4, output: straight)
        _ = try train("sentiment", epochs: 2, output: resumed)
        _ = try train("sentiment", epochs: 4, output: resumed, resume: true)
        try expectSameFinalWeights(straight, resumed)
        let metricsA = try String(contentsOfFile: straight + "/metrics.csv", encoding: .utf8)
        let metricsB = try String(contentsOfFile: resumed + "/metrics.csv", encoding: .utf8)
        #expect(metricsA == metricsB)
        // Asking for the same run again without --resume is refused rather than overwriting it.
        #expect(throws: TaskError.self) { try train("sentiment", epochs: 4, output: straight) }
    }
}

@Suite struct TourDataTests {
    /// The tour reads every dataset under --data-dir whole before its first chapter: the shared data passes, and a
    /// malformed line in a copy is named with its file and line. Found chapters later, it left a tour folder with
    /// runs and no report.
    @Test func tourReadsItsDatasetsUpFront() throws {
        try LectureTour.checkDataDirectory(sharedData.path)
        let copy = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: copy) }
        for file in LectureTour.dataFiles {
            let target = copy + "/" + file
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: sharedData.appendingPathComponent(file).path, toPath: target)
        }
        try LectureTour.checkDataDirectory(copy)
        let reviews = copy + "/sentiment/amazon_yelp.tsv"
        let lineCount = try String(contentsOfFile: reviews, encoding: .utf8).split(separator: "\n").count
        let handle = try #require(FileHandle(forWritingAtPath: reviews))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("a review with no label\n".utf8))
        try handle.close()
        #expect { try LectureTour.checkDataDirectory(copy) } throws: { "\($0)".contains("amazon_yelp.tsv:\(lineCount + 1)") && "\($0)".contains("no tab") }
    }
}
