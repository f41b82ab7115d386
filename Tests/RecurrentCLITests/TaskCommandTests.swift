import Testing
import Foundation
import RecurrentCLI
import Recurrent

@Suite struct TaskCommandTests {
    /// A bad data file: exit 2, the message names the file and line, and no run folder is left behind.
    @Test(arguments: [
        ("sentiment", "empty.tsv", Data(), nil as Int?),
        ("sentiment", "label.tsv", Data("1\tgood\n7\tbad label\n".utf8), 2),
        ("sentiment", "no-tab.tsv", Data("1\tfine\n0 no tab here\n".utf8), 2),
        ("sentiment", "latin1.tsv", Data("1\tgood\n0\tcaf".utf8) + Data([0xE9, 0x0A]), 2),
        ("translate", "one-field.tsv", Data("Hello.\tBonjour.\nGoodbye.\n".utf8), 2),
        ("digits", "ragged.csv", Data(("label," + (0..<64).map { "p\($0)" }.joined(separator: ",") + "\n3," + Array(repeating: "0", count: 63).joined(separator: ",") + "\n").utf8), 2),
        ("digits", "label.csv", Data(("label," + (0..<64).map { "p\($0)" }.joined(separator: ",") + "\n12," + Array(repeating: "0", count: 64).joined(separator: ",") + "\n").utf8), 2),
        ("charlm", "binary.txt", Data([0x41, 0x0A, 0xFF, 0xFE, 0x0A]), 2),
        // A CSV whose first line is data, not a header; a sentence far longer than a recurrent layer should unroll.
        ("digits", "no-header.csv", Data((0..<3).map { _ in "3," + Array(repeating: "0", count: 64).joined(separator: ",") + "\n" }.joined().utf8), 1),
        ("sentiment", "long.tsv", Data(("1\tgood\n0\t" + Array(repeating: "word", count: 1001).joined(separator: " ") + "\n").utf8), 2),
        // Too few lines to hold any out: refused before a run folder is made (a score on 0 examples means nothing).
        ("sentiment", "two.tsv", Data("1\tgood\n0\tbad\n".utf8), nil),
        ("digits", "README.md", Data("not digits\n".utf8), nil),
    ])
    func badDataFileIsNamedWithItsLine(task: String, name: String, contents: Data, line: Int?) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent(name).path, output = folder.appendingPathComponent("run").path
        try #require(FileManager.default.createFile(atPath: file, contents: contents), "could not write the test file")
        guard let result = try runRecurrent(["train", task, "--data", file, "--out", output, "--quiet"]) else { return }
        #expect(result.status == 2, "\(result.error)")
        #expect(result.error.contains(file + (line.map { ":\($0):" } ?? ":")), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: output), "a run folder was written for bad data")
    }

    @Test(arguments: [
        ["train", "poetry", "--out", "/tmp/never"], ["train", "digits", "--model", "rnn", "--out", "/tmp/never"],
        ["train", "digits", "--epochs", "0"], ["train", "digits", "--set", "hidden"], ["evaluate", "/nonexistent-run"],
        ["predict", "/nonexistent-run", "hello"], ["sample", "/nonexistent-run", "--length", "0"], ["caption", "/x", "--beam", "0", "--scene", "1"],
        ["translate", "/nonexistent-run", "hello"], ["train", "action", "--data", "/etc/hostname", "--out", "/tmp/never"],
        ["train", "charlm", "--set", "sequence=0", "--out", "/tmp/never"], ["train", "charlm", "--set", "hidden=abc", "--out", "/tmp/never"],
        ["train", "sentiment", "--set", "colour=blue", "--out", "/tmp/never"], ["train", "translate", "--set", "hidden=2.5", "--out", "/tmp/never"],
        ["train", "digits", "--set", "learning-rate=-1", "--out", "/tmp/never"], ["evaluate", "/nonexistent-run", "--model", "worst"],
        // Whole-number options must read as integers: "1e1" passed a Double check, then fell back to the default.
        ["train", "sentiment", "--set", "hidden=1e1", "--out", "/tmp/never"], ["train", "sentiment", "--set", "hidden=0x0a", "--out", "/tmp/never"],
        // 8×8 digits through two unpadded 3×3 convolutions and poolings leave no features: an error, not a trap.
        ["train", "digits", "--model", "cnn", "--set", "padding=0", "--out", "/tmp/never"],
        // An option the task does not read would be recorded and change nothing.
        ["train", "action", "--set", "layers=8", "--out", "/tmp/never"], ["train", "digits", "--set", "hidden=32", "--out", "/tmp/never"],
    ])
    func badTaskRequestExitsWithStatusTwo(arguments: [String]) {
        #expect(RecurrentCommand.run(arguments: arguments) == 2)
    }

    /// A CNN too small for its images suggests only a padding that fits. 1×1 images need padding 2: with padding 1
    /// set, the message used to suggest padding 1 again.
    @Test func tooSmallForTheCNNSuggestsAPaddingThatFits() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let count = 100   // ten a class, so the split holds some out
        try Data(bigEndian([2051, UInt32(count), 1, 1]) + (0..<count).map { UInt8($0 * 2) }).write(to: folder.appendingPathComponent("images.idx3-ubyte"))
        try Data(bigEndian([2049, UInt32(count)]) + (0..<count).map { UInt8($0 % 10) }).write(to: folder.appendingPathComponent("labels.idx1-ubyte"))
        guard let result = try runRecurrent(["train", "digits", "--model", "cnn", "--data", folder.path, "--set", "padding=1", "--out", "/tmp/never"]) else { return }
        #expect(result.status == 2)
        #expect(result.error.contains("too small for the CNN with padding 1") && result.error.contains("or --set padding=2"), "\(result.error)")
    }

    /// An IDX header is read for what it says is wrong: no images, a side out of range, or a size the file does not
    /// have. Zero images used to be reported as a size mismatch ("0 images of 8×8, but the file has 16 bytes").
    @Test(arguments: [
        ([UInt32(0), 8, 8], 0, "header says 0 images"), ([3, 0, 8], 3 * 0, "each side must be 1 to 4096"),
        ([3, 8, 5000], 0, "each side must be 1 to 4096"), ([3, 8, 8], 3 * 64 - 1, "header says 3 images of 8×8, but the file has 207 bytes"),
    ])
    func malformedIDXHeaderIsNamed(header: [UInt32], pixels: Int, expected: String) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(bigEndian([2051] + header) + [UInt8](repeating: 7, count: pixels)).write(to: folder.appendingPathComponent("images.idx3-ubyte"))
        try Data(bigEndian([2049, header[0]]) + [UInt8](repeating: 1, count: Int(header[0]))).write(to: folder.appendingPathComponent("labels.idx1-ubyte"))
        guard let result = try runRecurrent(["train", "digits", "--data", folder.path, "--out", "/tmp/never"]) else { return }
        #expect(result.status == 2)
        #expect(result.error.contains("images.idx3-ubyte") && result.error.contains(expected), "\(result.error)")
    }

    /// Options each in range but too big together are refused before anything is allocated or written: exit 2, the
    /// message gives the estimate and the options to lower. The budget comes from RECURRENT_MEMORY_LIMIT here, so the
    /// test does not depend on this machine's memory; a malformed budget names its variable.
    @Test func runTooBigForTheMemoryBudgetIsRefusedUpFront() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-memory-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        // The default generated char-LM (1 × 128 units, batches of 32 × 50) needs a few MB: refused under 1 MB.
        guard let refused = try runRecurrent(["train", "charlm", "--out", output, "--quiet", "--set", "batch=512"],
                                             environment: ["RECURRENT_MEMORY_LIMIT": "1M"]) else { return }
        #expect(refused.status == 2, "\(refused.error)")
        #expect(refused.error.contains("needs about") && refused.error.contains("RECURRENT_MEMORY_LIMIT") && refused.error.contains("batch"), "\(refused.error)")
        // Sizes in the unit that shows them: a budget of 1 MiB is not "0.0 GiB".
        #expect(refused.error.contains("MiB") && !refused.error.contains("0.0 GiB"), "\(refused.error)")
        #expect(!FileManager.default.fileExists(atPath: output), "a run folder was written for a run that cannot fit")
        guard let malformed = try runRecurrent(["train", "charlm", "--out", output, "--quiet"], environment: ["RECURRENT_MEMORY_LIMIT": "lots"]) else { return }
        #expect(malformed.status == 2)
        #expect(malformed.error.contains("RECURRENT_MEMORY_LIMIT=lots"), "\(malformed.error)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// Empty paths (a script's unset variable) are named, not turned into "." or a bare ": not a training run folder".
    @Test(arguments: [
        ["train", "digits", "--data", "", "--out", "/tmp/never"], ["train", "digits", "--out", ""], ["evaluate", ""], ["predict", "", "x"],
        ["sample", ""], ["translate", "", "hello"], ["caption", "", "--scene", "1"], ["memory", "--out", ""], ["gates", "--run", ""],
        ["tour", "--data-dir", ""],
    ])
    func emptyPathIsNamed(arguments: [String]) throws {
        guard let result = try runRecurrent(arguments) else { return }
        #expect(result.status == 2)
        #expect(result.error.contains("the path is empty"), "\(result.error)")
    }

    /// A digits CSV with Windows line ends reads as the same data (a Swift String takes "\r\n" as one Character).
    @Test func digitsCSVWithCRLFLineEndsReads() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-crlf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let header = "label," + (0..<64).map { "p\($0)" }.joined(separator: ",")
        let rows = (0..<20).map { "\($0 % 10)," + (0..<64).map { String(($0 * 7) % 17) }.joined(separator: ",") }
        let file = folder.appendingPathComponent("crlf.csv").path
        try #require(FileManager.default.createFile(atPath: file, contents: Data(([header] + rows).joined(separator: "\r\n").utf8 + Data("\r\n".utf8))))
        let images = try readDigitsCSV(file)
        #expect(images.count == 20)
        #expect(images.labels.prefix(3) == [0, 1, 2])
    }

    /// Settings edited after training are checked when a run is loaded: an error naming task.json, not a trap in
    /// a layer's initialiser. A resumed run refuses a changed seed or limit, and fewer epochs than it has trained.
    @Test func storedSettingsAndResumeRequestsAreChecked() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-settings-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = folder.appendingPathComponent("run").path
        #expect(RecurrentCommand.run(arguments: ["train", "digits", "--epochs", "2", "--out", run, "--quiet"]) == 0)
        for arguments in [["--epochs", "1"], ["--epochs", "3", "--seed", "7"], ["--epochs", "3", "--limit", "50"]] {
            guard let refused = try runRecurrent(["train", "digits", "--resume", "--out", run, "--quiet"] + arguments) else { return }
            #expect(refused.status == 2, "\(arguments): \(refused.error)")
        }
        let settingsFile = run + "/task.json"
        let stored = try String(contentsOfFile: settingsFile, encoding: .utf8)
        #expect(stored.contains("\"epochs\" : 2"), "a refused resume rewrote the settings:\n\(stored)")
        let edited = stored.replacingOccurrences(of: "\"options\" : {", with: "\"options\" : {\n    \"hidden\" : \"0\",")
        try #require(edited != stored)
        try edited.write(toFile: settingsFile, atomically: true, encoding: .utf8)
        guard let result = try runRecurrent(["evaluate", run]) else { return }
        #expect(result.status == 2)
        #expect(result.error.contains(settingsFile) && result.error.contains("hidden=0"), "\(result.error)")
    }

    /// An alphabet with a combining mark that could fuse with its neighbour reads back as the same characters.
    @Test func charlmAlphabetKeepsCombiningMarksApart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-alphabet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = (0..<40).map { "\u{301}e ab\($0 % 3 == 0 ? "c" : "d")\n" }.joined()
        let file = folder.appendingPathComponent("text.txt").path, run = folder.appendingPathComponent("run").path
        try #require(FileManager.default.createFile(atPath: file, contents: Data(text.utf8)))
        #expect(RecurrentCommand.run(arguments: ["train", "charlm", "--data", file, "--epochs", "1", "--set", "sequence=8", "--set", "hidden=8", "--set", "layers=1", "--out", run, "--quiet"]) == 0)
        guard let result = try runRecurrent(["sample", run, "--length", "20"]) else { return }
        #expect(result.status == 0, "\(result.error)")
    }

    @Test func trainEvaluateAndPredictFromTheCommandLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-cli-\(UUID().uuidString)").path
        guard let trained = try runRecurrent(["train", "digits", "--epochs", "3", "--out", folder, "--quiet"]) else { return }
        #expect(trained.status == 0, "\(trained.error)")
        for file in ["task.json", "last.safetensors", "best.safetensors", "metrics.csv", "training.svg"] {
            #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(file) missing")
        }
        #expect((try FileManager.default.contentsOfDirectory(atPath: folder)).contains { $0.hasPrefix("events.out.tfevents.") })
        guard let evaluated = try runRecurrent(["evaluate", folder, "--json"]) else { return }
        let object = try JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any]
        #expect(object?["task"] as? String == "digits" && object?["metric"] as? String == "accuracy")
        #expect((object?["value"] as? Double).map { (0...1).contains($0) } == true && object?["examples"] as? Int == 300)
        // The final model by default; the best epoch on request, and a clear error once its file is gone.
        guard let best = try runRecurrent(["evaluate", folder, "--model", "best"]) else { return }
        #expect(best.status == 0 && best.output.hasPrefix("digits: accuracy"), "\(best.output) \(best.error)")
        try FileManager.default.removeItem(atPath: folder + "/best.safetensors")
        guard let missing = try runRecurrent(["evaluate", folder, "--model", "best"]), let last = try runRecurrent(["evaluate", folder, "--json"]) else { return }
        #expect(missing.status == 2 && missing.error.contains("best.safetensors"), "\(missing.error)")
        #expect(last.status == 0 && last.output == evaluated.output, "\(last.output) \(last.error)")
        // A PGM image of a generated "1": a vertical bar.
        let image = folder + "/one.pgm"
        let pixels = (0..<64).map { $0 % 8 == 3 || $0 % 8 == 4 ? "16" : "0" }.joined(separator: " ")
        try #require(FileManager.default.createFile(atPath: image, contents: Data("P2\n8 8\n16\n\(pixels)\n".utf8)), "could not write the test file")
        guard let predicted = try runRecurrent(["predict", folder, image]) else { return }
        #expect(predicted.status == 0 && predicted.output.hasPrefix("class "), "\(predicted.output) \(predicted.error)")
        // A row typed on the command line is read as strictly as a row of the CSV file: with or without the label,
        // but no empty field, no hexadecimal, and a label that is a digit.
        let zeros = Array(repeating: "0", count: 63).joined(separator: ",")
        for (row, expected) in [("", "the input is empty"), ("1,0," + zeros, nil), ("0," + zeros, nil), ("0,," + zeros, "value 2 is ''"), ("0x10," + zeros, "value 1 is '0x10'"),
                                ("999,0," + zeros, "the label in front, 999, is not a digit"), ("0," + zeros + ",0,0", "66 comma-separated values")] {
            guard let result = try runRecurrent(["predict", folder, row]) else { return }
            if let expected {
                #expect(result.status == 2 && result.error.contains(expected), "\(row.prefix(12)): \(result.status) \(result.error)")
            } else {
                #expect(result.status == 0 && result.output.hasPrefix("class "), "\(row.prefix(12)): \(result.output) \(result.error)")
            }
        }
    }
}

/// 32-bit words in big-endian bytes, as IDX headers store them.
func bigEndian(_ values: [UInt32]) -> [UInt8] { values.flatMap { value in (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } } }
