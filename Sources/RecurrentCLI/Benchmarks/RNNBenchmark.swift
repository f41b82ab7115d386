// The recurrent-layer benchmark: inference and training steps of fused RNN/LSTM/GRU layers at the shapes that
// matter, beside PyTorch's for the same shapes in the same run when it can be imported.

import Foundation
import Recurrent

struct RNNBenchmark {
    struct Case {
        let cell: RecurrentCellKind
        let label: String
        let steps: Int, batch: Int, input: Int, hidden: Int, layers: Int

        /// Forward GEMM FLOPs: 2·T·B·G·H·(I + H) per layer (layers above the first read H features).
        var forwardFlops: Double {
            (0..<layers).reduce(0.0) { total, layer in
                let input = layer == 0 ? self.input : hidden
                return total + 2 * Double(steps * batch * cell.gateCount * hidden * (input + hidden))
            }
        }

        var pytorchCell: String { cell == .rnnTanh ? "rnn" : cell.rawValue }
    }

    enum Mode: String, CaseIterable {
        case infer, train, trainWithInputGradient = "train+dx"
        var flopFactor: Double { self == .infer ? 1 : 3 }
    }

    /// LSTM at a–e; GRU and RNN at c.
    static let standardCases: [Case] = [
        Case(cell: .lstm, label: "a", steps: 64, batch: 32, input: 32, hidden: 16, layers: 1),
        Case(cell: .lstm, label: "b", steps: 100, batch: 64, input: 128, hidden: 128, layers: 1),
        Case(cell: .lstm, label: "c", steps: 100, batch: 64, input: 256, hidden: 256, layers: 1),
        Case(cell: .lstm, label: "d", steps: 50, batch: 64, input: 512, hidden: 512, layers: 1),
        Case(cell: .lstm, label: "e", steps: 100, batch: 32, input: 64, hidden: 512, layers: 2),
        Case(cell: .gru, label: "c", steps: 100, batch: 64, input: 256, hidden: 256, layers: 1),
        Case(cell: .rnnTanh, label: "c", steps: 100, batch: 64, input: 256, hidden: 256, layers: 1),
    ]

    /// Median milliseconds per iteration after two warm-up iterations.
    static func time(_ benchmarkCase: Case, mode: Mode, iterations: Int) -> Double {
        let layer = RecurrentLayer(benchmarkCase.cell, inputSize: benchmarkCase.input, hiddenSize: benchmarkCase.hidden, layerCount: benchmarkCase.layers, seed: 1)
        var generator = SeededGenerator(seed: 2)
        var x = Tensor.normal([benchmarkCase.batch, benchmarkCase.steps, benchmarkCase.input], using: &generator)
        if mode == .trainWithInputGradient { x = x.requiringGradient() }
        var samples: [Double] = []
        for iteration in 0..<(iterations + 2) {
            let start = monotonicSeconds()
            switch mode {
            case .infer:
                _ = noGrad { layer(x).output }
            case .train, .trainWithInputGradient:
                layer.zeroGradients()
                x.zeroGradient()
                layer(x).output.sum().backward()
            }
            if iteration >= 2 { samples.append((monotonicSeconds() - start) * 1000) }
        }
        return median(samples)
    }

    /// PyTorch's times for the same cases, keyed by "cell/shape/mode", or nil when torch cannot be imported.
    static func pytorchTimes(cases: [Case], modes: [Mode], iterations: Int, threads: Int, python: String) -> [String: Double]? {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Scripts/bench/pytorch_rnn.py")
        guard FileManager.default.fileExists(atPath: script.path) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script.path]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        var requests = ""
        for benchmarkCase in cases {
            let request: [String: Any] = [
                "cell": benchmarkCase.pytorchCell, "shape": benchmarkCase.label, "T": benchmarkCase.steps, "B": benchmarkCase.batch,
                "I": benchmarkCase.input, "H": benchmarkCase.hidden, "L": benchmarkCase.layers,
                "modes": modes.map(\.rawValue), "iterations": iterations, "threads": threads,
            ]
            if let data = try? JSONSerialization.data(withJSONObject: request) { requests += String(decoding: data, as: UTF8.self) + "\n" }
        }
        input.fileHandleForWriting.write(Data(requests.utf8))
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        var times: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let cell = object["cell"] as? String, let shape = object["shape"] as? String,
                  let mode = object["mode"] as? String, let ms = object["ms"] as? Double else { continue }
            times["\(cell)/\(shape)/\(mode)"] = ms
        }
        return times
    }
}
