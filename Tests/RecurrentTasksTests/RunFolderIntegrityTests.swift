import Testing
import Foundation
import RecurrentIO
import RecurrentTasks
import RecurrentTensor

/// A run folder is the user's work: a command that fails leaves it byte for byte as it was, and files in it that
/// were edited or damaged are refused by name instead of being used.
@Suite(.serialized) struct RunFolderIntegrityTests {
    /// Every file of a run folder, by name, with its bytes.
    static func snapshot(_ folder: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
        }
        return files
    }

    /// task.json without the data's fingerprint, as a run begun before it was recorded: its resume falls back on
    /// comparing the files made from the data.
    static func dropDataDigest(_ folder: String) throws {
        let url = URL(fileURLWithPath: folder + "/task.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(object.removeValue(forKey: "dataDigest") != nil, "a run on a data file records its fingerprint")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    static func request(_ task: String, model: String? = nil, data: String? = nil, epochs: Int, output: String, resume: Bool = false) -> TrainRequest {
        TrainRequest(task: task, model: model, data: data, epochs: epochs, output: output, resume: resume, showProgress: false)
    }

    /// Resuming on an edited data file would continue the run on other examples; one whose vocabulary changed would
    /// also hand the checkpoint's embedding rows to other words. The data's fingerprint refuses it, and for a run
    /// without one (begun before it was recorded) the vocabulary file, named with its line; either way before
    /// anything is written (the resume used to rewrite words.vocab and task.json, and the run could no longer be
    /// evaluated).
    @Test func resumingOnEditedDataIsRefusedAndChangesNothing() throws {
        let folder = temporaryRunFolder(), dataFile = folder + "-data.tsv"
        defer { try? FileManager.default.removeItem(atPath: folder); try? FileManager.default.removeItem(atPath: dataFile) }
        let lines = try String(contentsOf: sharedData.appendingPathComponent("sentiment/amazon_yelp.tsv"), encoding: .utf8).split(separator: "\n")
        try (lines.prefix(300).joined(separator: "\n") + "\n").write(toFile: dataFile, atomically: true, encoding: .utf8)
        _ = try Tasks.train(Self.request("sentiment", data: dataFile, epochs: 1, output: folder))
        let before = try Self.snapshot(folder)
        try (lines.prefix(200).joined(separator: "\n") + "\n").write(toFile: dataFile, atomically: true, encoding: .utf8)
        #expect {
            try Tasks.train(Self.request("sentiment", data: dataFile, epochs: 2, output: folder, resume: true))
        } throws: { "\($0)".contains(dataFile) && "\($0)".contains("changed since the run") }
        #expect(try Self.snapshot(folder) == before, "a refused resume changed the run folder")
        // Its held-out split would be cut from the edited file: evaluation is refused too, and a whole file is
        // still scored on request.
        #expect { try Tasks.evaluate(directory: folder, data: nil) } throws: { "\($0)".contains(dataFile) && "\($0)".contains("changed since the run") }
        #expect(try Tasks.evaluate(directory: folder, data: dataFile).examples == 200)
        try Self.dropDataDigest(folder)
        let older = try Self.snapshot(folder)
        #expect {
            try Tasks.train(Self.request("sentiment", data: dataFile, epochs: 2, output: folder, resume: true))
        } throws: { "\($0)".contains("words.vocab") && "\($0)".contains("a resumed run must read the data it started on") }
        #expect(try Self.snapshot(folder) == older, "a refused resume changed the run folder")
        // On the data it started on, the same run resumes.
        try (lines.prefix(300).joined(separator: "\n") + "\n").write(toFile: dataFile, atomically: true, encoding: .utf8)
        #expect(try Tasks.train(Self.request("sentiment", data: dataFile, epochs: 2, output: folder, resume: true)).epochs == 2)
    }

    /// The char-LM's alphabet comes from its text: text whose characters changed is refused on resume, naming the
    /// alphabet's first entry that differs; the same text resumes.
    @Test func resumingACharLMOnOtherCharactersIsRefused() throws {
        let folder = temporaryRunFolder(), textFile = folder + "-text.txt"
        defer { try? FileManager.default.removeItem(atPath: folder); try? FileManager.default.removeItem(atPath: textFile) }
        let text = String(try String(contentsOf: sharedData.appendingPathComponent("tinyshakespeare/train.txt"), encoding: .utf8).prefix(4000))
        try text.write(toFile: textFile, atomically: true, encoding: .utf8)
        let options = ["hidden": "8", "sequence": "20"]
        func resume(epochs: Int) throws -> TrainReport {
            try Tasks.train(TrainRequest(task: "charlm", data: textFile, epochs: epochs, output: folder, resume: true, options: options, showProgress: false))
        }
        _ = try Tasks.train(TrainRequest(task: "charlm", data: textFile, epochs: 1, output: folder, options: options, showProgress: false))
        try Self.dropDataDigest(folder)
        let before = try Self.snapshot(folder)
        try text.replacingOccurrences(of: "e", with: "#").write(toFile: textFile, atomically: true, encoding: .utf8)
        #expect { try resume(epochs: 2) } throws: { "\($0)".contains("alphabet.json") && "\($0)".contains("entry") }
        #expect(try Self.snapshot(folder) == before, "a refused resume changed the run folder")
        try text.write(toFile: textFile, atomically: true, encoding: .utf8)
        #expect(try resume(epochs: 2).epochs == 2)
    }

    /// Translation keeps its vocabularies and held-out pairs beside the checkpoints: a resume on the same data finds
    /// them as they were and continues.
    @Test func translationResumesOnTheSameData() throws {
        let folder = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try Tasks.train(Self.request("translate", epochs: 1, output: folder))
        let heldOut = try Data(contentsOf: URL(fileURLWithPath: folder + "/held-out.tsv"))
        try FileManager.default.removeItem(atPath: folder + "/held-out.tsv")   // a file the run lacks is written again
        #expect(try Tasks.train(Self.request("translate", epochs: 2, output: folder, resume: true)).epochs == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/held-out.tsv")) == heldOut)
    }

    /// A checkpoint the run's model cannot take (another run's) is refused before the settings are rewritten.
    @Test func resumingFromARefusedCheckpointChangesNothing() throws {
        let mlp = temporaryRunFolder(), cnn = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: mlp); try? FileManager.default.removeItem(atPath: cnn) }
        _ = try Tasks.train(Self.request("digits", model: "mlp", epochs: 1, output: mlp))
        _ = try Tasks.train(Self.request("digits", model: "cnn", epochs: 1, output: cnn))
        try FileManager.default.removeItem(atPath: mlp + "/last.safetensors")
        try FileManager.default.copyItem(atPath: cnn + "/last.safetensors", toPath: mlp + "/last.safetensors")
        let before = try Self.snapshot(mlp)
        #expect { try Tasks.train(Self.request("digits", epochs: 3, output: mlp, resume: true)) } throws: { "\($0)".contains("different model configuration") }
        #expect(try Self.snapshot(mlp) == before, "a refused resume changed the run folder")
    }

    /// Another run's checkpoint of the same configuration, copied in: its weights fit, but its vocabulary or
    /// split is not this run's, and it scored (silently) below chance. Each run's checkpoints name their run, so
    /// evaluation and resume refuse it; a run begun before runs were named (no `run` in task.json) loads as before.
    @Test func anotherRunsCheckpointIsRefused() throws {
        let mine = temporaryRunFolder(), theirs = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: mine); try? FileManager.default.removeItem(atPath: theirs) }
        _ = try Tasks.train(Self.request("sentiment", epochs: 1, output: mine))
        _ = try Tasks.train(TrainRequest(task: "sentiment", epochs: 1, seed: 7, output: theirs, showProgress: false))
        for name in ["best.safetensors", "last.safetensors"] {
            try FileManager.default.removeItem(atPath: mine + "/" + name)
            try FileManager.default.copyItem(atPath: theirs + "/" + name, toPath: mine + "/" + name)
        }
        #expect { try Tasks.evaluate(directory: mine, data: nil, model: .best) } throws: { "\($0)".contains("best.safetensors") && "\($0)".contains("belongs to another training run") }
        let before = try Self.snapshot(mine)
        #expect { try Tasks.train(Self.request("sentiment", epochs: 2, output: mine, resume: true)) } throws: { "\($0)".contains("belongs to another training run") }
        #expect(try Self.snapshot(mine) == before, "a refused resume changed the run folder")
        let url = URL(fileURLWithPath: mine + "/task.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(object.removeValue(forKey: "run") != nil, "a new run records its identity")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        #expect(try Tasks.evaluate(directory: mine, data: nil, model: .best).examples > 0)
    }

    /// A vocabulary file with a repeated or an empty entry is refused with its line, not used.
    @Test func editedVocabularyIsRefusedWithItsLine() throws {
        let folder = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try Tasks.train(Self.request("sentiment", epochs: 1, output: folder))
        let path = folder + "/words.vocab"
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (edit, expected) in [(lines[7], "words.vocab:8: '\(lines[7])' repeats line 7"), ("", "words.vocab:7: an empty token"), ("two words", "contains whitespace"), ("word\u{0}", "is not one token as the tokenizer reads text"), ("Upper", "is not one token")] {
            var edited = lines
            edited[6] = edit
            try edited.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            #expect { try Tasks.evaluate(directory: folder, data: nil) } throws: { "\($0)".contains(expected) }
        }
    }

    /// Two lines of a vocabulary swapped, or two characters of an alphabet, pass every check of the file itself and
    /// silently read each token as the other (sentiment accuracy fell from 66 % to 63 % without a word). The run
    /// records its files' fingerprints in task.json, and evaluate and the use commands refuse an edited file by
    /// name. A run begun before they were recorded loads as before.
    @Test func reorderedVocabularyOrAlphabetIsRefused() throws {
        let sentiment = temporaryRunFolder(), charlm = temporaryRunFolder()
        defer { for folder in [sentiment, charlm] { try? FileManager.default.removeItem(atPath: folder) } }
        _ = try Tasks.train(Self.request("sentiment", epochs: 1, output: sentiment))
        _ = try Tasks.train(TrainRequest(task: "charlm", epochs: 1, limit: 4_000, output: charlm, options: ["hidden": "16", "sequence": "20"], showProgress: false))
        let settings = try RunDirectory(sentiment).readSettings()
        #expect(settings.fileDigests?["words.vocab"]?.hasPrefix("fnv1a64:") == true, "\(String(describing: settings.fileDigests))")
        let vocabulary = sentiment + "/words.vocab", original = try String(contentsOfFile: vocabulary, encoding: .utf8)
        var lines = original.split(separator: "\n").map(String.init)
        lines.swapAt(10, 11)
        try (lines.joined(separator: "\n") + "\n").write(toFile: vocabulary, atomically: true, encoding: .utf8)
        let edited: (Error, String) -> Bool = { error, file in "\(error)".contains(file) && "\(error)".contains("edited since the run wrote it") }
        #expect { try Tasks.evaluate(directory: sentiment, data: nil) } throws: { edited($0, "words.vocab") }
        #expect { try SentimentTask.predict(directory: sentiment, sentence: "a fine film") } throws: { edited($0, "words.vocab") }
        // The same entries with other line ends are the same file.
        try original.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: vocabulary, atomically: true, encoding: .utf8)
        #expect(try Tasks.evaluate(directory: sentiment, data: nil).examples > 0)

        let alphabet = charlm + "/alphabet.json"
        var characters = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: alphabet)))
        characters.swapAt(3, 4)
        try JSONEncoder().encode(characters).write(to: URL(fileURLWithPath: alphabet))
        #expect { try CharLMTask.sample(directory: charlm, prime: "RO", temperature: 0, length: 5, seed: 1) } throws: { edited($0, "alphabet.json") }
        #expect { try Tasks.evaluate(directory: charlm, data: nil) } throws: { edited($0, "alphabet.json") }
        // Without recorded fingerprints (a run begun before them), nothing to compare: it loads.
        let url = URL(fileURLWithPath: charlm + "/task.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(object.removeValue(forKey: "fileDigests") != nil)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        #expect(try Tasks.evaluate(directory: charlm, data: nil).examples > 0)
    }

    /// The bag-of-words baseline is part of a sentiment run: a damaged file is named, not silently dropped.
    @Test func damagedBaselineIsRefused() throws {
        let folder = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try Tasks.train(Self.request("sentiment", epochs: 1, output: folder))
        let path = folder + "/bag-of-words.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        #expect { try Tasks.evaluate(directory: folder, data: nil) } throws: { "\($0)".contains("bag-of-words.safetensors") }
        // Whole but holding a NaN (the first weight's bytes, after the header): named, not scored.
        var poisoned = bytes
        let dataStart = 8 + Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        poisoned.replaceSubrange(dataStart..<(dataStart + 4), with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try poisoned.write(to: URL(fileURLWithPath: path))
        #expect { try Tasks.evaluate(directory: folder, data: nil) } throws: { "\($0)".contains("bag-of-words.safetensors") && "\($0)".contains("finite") }
        // Another run's weights in its place: the missing parameter is named with the file.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: folder + "/last.safetensors", toPath: path)
        #expect { try Tasks.evaluate(directory: folder, data: nil) } throws: { "\($0)".contains("bag-of-words.safetensors") && "\($0)".contains("missing parameter") }
    }

    /// Finite weights can still be large enough to overflow Float32 arithmetic (a checkpoint edited by hand, or
    /// saved by a run that diverged): the load check passes, the scores come out NaN or infinite. Sampling drew
    /// from NaN weights and trapped; evaluation printed a NaN loss, and the other commands empty or arbitrary
    /// answers, all with exit status 0. Each refuses them now, naming the checkpoint, and writes nothing.
    @Test func weightsThatOverflowAreRefusedByName() throws {
        let charlm = temporaryRunFolder(), translate = temporaryRunFolder(), sentiment = temporaryRunFolder(), caption = temporaryRunFolder()
        let digits = temporaryRunFolder()
        defer { for folder in [charlm, translate, sentiment, caption, digits] { try? FileManager.default.removeItem(atPath: folder) } }
        _ = try Tasks.train(TrainRequest(task: "charlm", epochs: 1, limit: 4_000, output: charlm, options: ["hidden": "16", "sequence": "20"], showProgress: false))
        _ = try Tasks.train(TrainRequest(task: "translate", epochs: 1, limit: 400, output: translate, showProgress: false))
        _ = try Tasks.train(Self.request("sentiment", epochs: 1, output: sentiment))
        _ = try Tasks.train(TrainRequest(task: "caption", epochs: 1, output: caption, options: ["scenes": "200"], showProgress: false))
        _ = try Tasks.train(Self.request("digits", model: "mlp", epochs: 1, output: digits))
        /// In `folder`'s last checkpoint, every tensor `value` gives numbers for (by flat index) filled with them.
        func rewrite(_ folder: String, _ value: (String, Int) -> Float?) throws {
            let path = folder + "/last.safetensors"
            var file = try SafeTensorsFile.read(contentsOf: path)
            for (name, entry) in file.entries where value(name, 0) != nil {
                let scalars = (0..<entry.shape.reduce(1, *)).map { value(name, $0)! }
                file.entries[name] = SafeTensorsEntry(Tensor(shape: Shape(entry.shape), scalars: scalars))
            }
            try file.write(to: path)
        }
        // The output layer's weight all 3e38, finite: a logit sums 3e38·h_j over the hidden units.
        try rewrite(translate) { name, _ in name == "model.output.weight" ? 3e38 : nil }
        // The digits MLP's hidden units pinned at ReLU(0·x + 1) = 1, its output weight all 3e38: every logit is +∞.
        try rewrite(digits) { name, _ in name == "model.2.weight" ? 3e38 : name == "model.0.bias" ? 1 : name == "model.0.weight" ? 0 : nil }
        // In the char-LM and the captioner every h_j is also pinned at tanh(1)…1 (input and recurrent weights 0,
        // every gate's bias 100, so i = f = o = 1, g = 1, and c, starting at 0, grows by 1 a step): every logit is
        // +∞ and log-softmax's x − max is NaN, whatever the input.
        let pinned: (String, Int) -> Float? = { name, _ in
            switch name {
            case "model.output.weight": 3e38
            case "model.lstm.weight_ih_l0", "model.lstm.weight_hh_l0", "model.decoder.weight_ih_l0", "model.decoder.weight_hh_l0": 0
            case "model.cell_bridge.weight", "model.cell_bridge.bias": 0
            case "model.lstm.bias_l0", "model.decoder.bias_l0": 100
            default: nil
            }
        }
        try rewrite(charlm, pinned)
        try rewrite(caption, pinned)
        // In the sentiment run both: the output weight as above, and embeddings all 3e38 times input weights of
        // alternating sign ±2, whose products overflow to +∞ and −∞. A fused multiply-add onto ±∞ stays ±∞, so a
        // batch's GEMM keeps the gates finite (σ and tanh of ±∞), but one sentence's few rows are summed lane by
        // lane (`GEMM.rowDots`), where +∞ meets −∞: the gate trace of one sentence is NaN.
        try rewrite(sentiment) { name, index in
            switch name {
            case "model.output.weight", "model.embedding.weight": 3e38
            case "model.lstm.weight_ih_l0": index % 2 == 0 ? 2 : -2
            default: nil
            }
        }
        let named: (Error) -> Bool = { error in error is NonFiniteScores && "\(error)".contains("last.safetensors") && "\(error)".contains("not finite") }
        let before = try [charlm, translate, sentiment, caption, digits].map(Self.snapshot)
        #expect(throws: NonFiniteScores.self) { try CharLMTask.sample(directory: charlm, prime: "RO", temperature: 1, length: 5, seed: 1) }
        #expect { try CharLMTask.sample(directory: charlm, prime: "RO", temperature: 0, length: 5, seed: 1) } throws: { named($0) }
        #expect { try Tasks.evaluate(directory: charlm, data: nil) } throws: { named($0) }
        #expect { try TranslateTask.translate(directory: translate, sentence: "the cat", beamWidth: 3) } throws: { named($0) }
        #expect { try Tasks.evaluate(directory: translate, data: nil) } throws: { named($0) }
        #expect { try SentimentTask.predict(directory: sentiment, sentence: "a fine film") } throws: { named($0) }
        #expect { try Tasks.evaluate(directory: sentiment, data: nil) } throws: { named($0) }
        #expect { try GateInspection.sentimentTrace(directory: sentiment, sentence: "a fine film") } throws: { named($0) }
        #expect { try Tasks.evaluate(directory: caption, data: nil) } throws: { named($0) }
        // The scene is written only once its caption stands: a refusal leaves no file.
        let scene = temporaryRunFolder() + ".ppm"
        #expect { try CaptionTask.caption(directory: caption, image: nil, scene: 3, beamWidth: 2, writeScene: scene) } throws: { named($0) }
        #expect(!FileManager.default.fileExists(atPath: scene), "a refused caption wrote its scene")
        #expect { try DigitsTask.predict(directory: digits, input: Array(repeating: "3", count: 64).joined(separator: ",")) } throws: { named($0) }
        #expect { try Tasks.evaluate(directory: digits, data: nil) } throws: { named($0) }
        #expect(try [charlm, translate, sentiment, caption, digits].map(Self.snapshot) == before, "a refused command changed a run folder")
    }

    /// A run stopped before its first checkpoint has its task.json but nothing trained: resumed, it starts again
    /// on the settings it began with. It used to start a new run on the defaults and rewrite task.json to match.
    @Test func resumingARunStoppedBeforeItsFirstCheckpointKeepsItsSettings() throws {
        let folder = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try Tasks.train(TrainRequest(task: "digits", model: "cnn", epochs: 1, seed: 5, output: folder, showProgress: false))
        for name in ["last.safetensors", "best.safetensors"] { try FileManager.default.removeItem(atPath: folder + "/" + name) }
        let report = try Tasks.train(Self.request("digits", epochs: 2, output: folder, resume: true))
        #expect(report.epochs == 2)
        let settings = try RunDirectory(folder).readSettings()
        #expect(settings.model == "cnn" && settings.seed == 5 && settings.epochs == 2, "\(settings)")
    }

    /// One training session writes a run folder at a time: a second one (here, a hold taken by the test) is
    /// refused before it writes anything. Once the folder is free, a file an interrupted save left behind
    /// (`NAME.partial-PID`, its process gone) is cleared away by the next session.
    @Test func aRunFolderTrainsOneSessionAtATime() throws {
        let folder = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try Tasks.train(Self.request("digits", epochs: 1, output: folder))
        let hold = try RunFolderLock(folder)
        let before = try Self.snapshot(folder)
        #expect { try Tasks.train(Self.request("digits", epochs: 2, output: folder, resume: true)) } throws: { "\($0)".contains("another `recurrent train` is writing this run folder") }
        #expect(try Self.snapshot(folder) == before, "a refused resume changed the run folder")
        hold.release()
        let leftover = folder + "/last.safetensors.partial-2147483647"
        try Data("half a checkpoint".utf8).write(to: URL(fileURLWithPath: leftover))
        #expect(try Tasks.train(Self.request("digits", epochs: 2, output: folder, resume: true)).epochs == 2)
        #expect(!FileManager.default.fileExists(atPath: leftover), "the stale partial file is still there")
    }

    /// metrics.csv cut short (a line of fewer fields than the header, as a crash mid-write leaves it) or replaced
    /// by a folder: the resume is refused naming the file and line, and nothing in the folder changes. A line
    /// past the checkpoint's epoch is what an interrupted run wrote after its last checkpoint, and is dropped.
    @Test func damagedMetricsLogIsRefusedOnResume() throws {
        let folder = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try Tasks.train(Self.request("digits", epochs: 1, output: folder))
        let path = folder + "/metrics.csv"
        let log = try String(contentsOfFile: path, encoding: .utf8)
        let lines = log.split(separator: "\n").map(String.init)
        try #require(lines.count == 2 && lines[1].hasPrefix("1,"), "one epoch logged: \(log)")
        for (damaged, expected) in [(lines[0] + "\n1,38", "metrics.csv:2: epoch 1 has 2 fields"), (lines[0] + "\n1\n", "metrics.csv:2: epoch 1 has 1 field;"),
                                    (lines[0] + "\nnonsense\n", "metrics.csv:2: 'nonsense' does not start with an epoch number"),
                                    ("loss\n" + lines[1] + "\n", "metrics.csv:1: expected the header")] {
            try damaged.write(toFile: path, atomically: true, encoding: .utf8)
            let before = try Self.snapshot(folder)
            #expect { try Tasks.train(Self.request("digits", epochs: 2, output: folder, resume: true)) } throws: { "\($0)".contains(expected) }
            #expect(try Self.snapshot(folder) == before, "a refused resume changed the run folder")
        }
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        let settings = try Data(contentsOf: URL(fileURLWithPath: folder + "/task.json"))
        #expect { try Tasks.train(Self.request("digits", epochs: 2, output: folder, resume: true)) } throws: { "\($0)".contains(path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/task.json")) == settings, "a refused resume rewrote task.json")
        // A folder where the run writes a file of its own is named before any training, not after it.
        try FileManager.default.removeItem(atPath: path)
        try log.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: folder + "/best.safetensors")
        try FileManager.default.createDirectory(atPath: folder + "/best.safetensors", withIntermediateDirectories: false)
        let kept = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0 != "best.safetensors" }
        let keptFiles = try kept.map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) }
        #expect { try Tasks.train(Self.request("digits", epochs: 2, output: folder, resume: true)) } throws: { "\($0)".contains("best.safetensors: is a folder") }
        #expect(try kept.map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) } == keptFiles, "a refused resume changed the run folder")
        try FileManager.default.removeItem(atPath: folder + "/best.safetensors")
        // Whole again, with a line from an epoch after the checkpoint: that line goes, and the run resumes.
        try FileManager.default.removeItem(atPath: path)
        try (log + "2,99,0.5,0.9,,\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Tasks.train(Self.request("digits", epochs: 2, output: folder, resume: true)).epochs == 2)
        let resumed = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(resumed.count == 3 && resumed[1] == lines[1] && !resumed[2].hasPrefix("2,99,"), "\(resumed)")
    }

    /// task.json edited by hand: a value its field cannot hold is named; a limit that leaves nothing held out
    /// refuses evaluation instead of scoring zero examples.
    @Test func editedSettingsAreNamed() throws {
        let folder = temporaryRunFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try Tasks.train(Self.request("digits", epochs: 1, output: folder))
        let path = folder + "/task.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        for (key, value, expected) in [("seed", "-5", "field 'seed': -5 is not a whole number"), ("epochs", "1.5", "field 'epochs': 1.5"),
                                       ("model", "\"transformer\"", "field 'model': 'transformer' is not a model of the digits task (mlp, cnn)"),
                                       ("task", "\"poetry\"", "field 'task': 'poetry' is not a task"), ("data", "\"\"", "field 'data' is an empty path"),
                                       ("epochs", "\"two\"", "field 'epochs' is not a whole number"), ("limit", "3", "held-out split is empty")] {
            var object = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
            object[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
            #expect { try Tasks.evaluate(directory: folder, data: nil) } throws: { "\($0)".contains(expected) }
        }
    }
}
