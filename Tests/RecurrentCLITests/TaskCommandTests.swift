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
    ])
    func badTaskRequestExitsWithStatusTwo(arguments: [String]) {
        #expect(RecurrentCommand.run(arguments: arguments) == 2)
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
    }
}
