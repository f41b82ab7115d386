import Testing
import Foundation
import RecurrentIO
import RecurrentTraining
import RecurrentTensor

/// A Python that can import tensorboard, safetensors and numpy: $RECURRENT_PYTHON (which .ci/run sets up),
/// else python3 if it happens to have them. Without one these tests are reported as skipped.
let interopPython: String? = {
    let candidate = ProcessInfo.processInfo.environment["RECURRENT_PYTHON"] ?? "python3"
    return (try? runPython(candidate, ["-c", "import tensorboard, safetensors, numpy"]))?.status == 0 ? candidate : nil
}()

let checkScripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Scripts/check")

func runPython(_ python: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python] + arguments
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile(), err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

@Suite(.enabled(if: interopPython != nil, "needs a Python with tensorboard, safetensors and numpy (RECURRENT_PYTHON)"))
struct PythonInteropTests {
    @Test func tensorBoardReadsOurEventFiles() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory.path)
        for step in 0..<5 { try writer.addScalar("train/loss", 1 / Double(step + 1), step: step * 10) }
        _ = try writer.handle(.epochEnded(epoch: 1, step: 50, training: Metrics(loss: 0.25, accuracy: 0.75, examples: 8), validation: nil))
        let result = try runPython(interopPython!, [checkScripts.appendingPathComponent("read_tensorboard.py").path, directory.path])
        #expect(result.status == 0, "\(result.error)")
        let scalars = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: [[Double]]]
        #expect(scalars?["train/loss"]?.map { $0[0] } == [0, 10, 20, 30, 40])
        #expect(scalars?["train/loss"]?.map { Float($0[1]) } == [1, 0.5, Float(1.0 / 3), 0.25, 0.2])
        #expect(scalars?["epoch/accuracy"]?.first == [50, 0.75])
    }

    @Test func pythonSafetensorsReadsOurFilesAndWeReadItsFiles() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ours = directory.appendingPathComponent("ours.safetensors").path, theirs = directory.appendingPathComponent("theirs.safetensors").path
        try SafeTensorsFile(entries: [
            "weight": SafeTensorsEntry(Tensor([[1.5, -2], [0.25, 3e-8]])),
            "double": SafeTensorsEntry(Tensor(shape: [3], doubles: [0.1, -1e300, 7])),
            "lengths": SafeTensorsEntry(integers: [5, 3, 1]),
        ]).write(to: ours)
        let result = try runPython(interopPython!, [checkScripts.appendingPathComponent("safetensors_roundtrip.py").path, ours, theirs])
        #expect(result.status == 0, "\(result.error)")
        let tensors = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: [String: Any]]
        #expect(tensors?["weight"]?["dtype"] as? String == "float32")
        #expect((tensors?["weight"]?["values"] as? [Double])?.map { Float($0) } == [1.5, -2, 0.25, 3e-8])
        #expect(tensors?["double"]?["values"] as? [Double] == [0.1, -1e300, 7])
        #expect(tensors?["lengths"]?["values"] as? [Int] == [5, 3, 1])
        let back = try SafeTensorsFile.read(contentsOf: theirs)
        #expect(try back.tensor("from_python").scalars == [0, 0.25, 0.5, 0.75, 1, 1.25])
        #expect(try back.tensor("doubles").doubles == [1e-300, -2.5])
        #expect(back.metadata["writer"] == "python")
    }
}
