// The recurrent-layer benchmark: inference and training steps of fused RNN/LSTM/GRU layers at the shapes that
// matter, beside PyTorch's for the same shapes in the same run when it can be imported.

import ArgumentParser
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
                return total + 2 * Double(steps * batch) * Double(cell.gateCount * hidden) * Double(input + hidden)
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

    /// A running `Scripts/bench/pytorch_rnn.py`, asked for one measurement at a time, so that PyTorch's time for a
    /// case is taken right beside ours: on a shared machine the load drifts over minutes, and timing all of one side
    /// before the other moved ratios by 0.3 from run to run.
    final class PyTorchSession {
        private let process: Process
        private let requests: FileHandle
        private let replies: FileHandle
        private var pending = Data()
        private let previousBrokenPipeHandler: sighandler_t?

        /// Starts the script with `python`; nil when the script is missing or the interpreter cannot start.
        init?(python: String) {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Scripts/bench/pytorch_rnn.py")
            guard FileManager.default.fileExists(atPath: script.path) else { return nil }
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, script.path]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            requests = input.fileHandleForWriting
            replies = output.fileHandleForReading
            // A script that dies mid-run must not take the benchmark with it: while the session lasts, a write to
            // its closed pipe fails with EPIPE instead of raising SIGPIPE.
            previousBrokenPipeHandler = signal(SIGPIPE, SIG_IGN)
            do { try process.run() } catch {
                signal(SIGPIPE, previousBrokenPipeHandler)
                return nil
            }
        }

        deinit {
            try? requests.close()
            process.waitUntilExit()
            signal(SIGPIPE, previousBrokenPipeHandler)
        }

        /// The script answers `{"ready": true}` once torch is imported, or exits when it cannot import it.
        func waitUntilReady() -> Bool { readReply()?["ready"] as? Bool == true }

        /// PyTorch's median milliseconds for one case and mode, or nil if the script stopped answering.
        func time(_ benchmarkCase: Case, mode: Mode, iterations: Int, threads: Int) -> Double? {
            let request: [String: Any] = [
                "cell": benchmarkCase.pytorchCell, "shape": benchmarkCase.label, "T": benchmarkCase.steps, "B": benchmarkCase.batch,
                "I": benchmarkCase.input, "H": benchmarkCase.hidden, "L": benchmarkCase.layers,
                "modes": [mode.rawValue], "iterations": iterations, "threads": threads,
            ]
            guard let data = try? JSONSerialization.data(withJSONObject: request),
                  (try? requests.write(contentsOf: data + Data("\n".utf8))) != nil else { return nil }
            // Anything else the script (or a library it loads) prints is passed over: only the reply for this
            // request counts, so one stray line cannot shift every later reply onto the wrong case.
            while let reply = readReply() {
                if reply["cell"] as? String == benchmarkCase.pytorchCell, reply["shape"] as? String == benchmarkCase.label,
                   reply["mode"] as? String == mode.rawValue, let ms = reply["ms"] as? Double {
                    return ms
                }
            }
            return nil
        }

        /// The next line of output that is a JSON object; nil once the script has exited.
        private func readReply() -> [String: Any]? {
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[pending.startIndex..<newline]
                    pending = Data(pending[pending.index(after: newline)...])
                    if let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] { return object }
                    continue
                }
                // availableData returns what the pipe holds now (read(upToCount:) would wait for the whole count).
                let chunk = replies.availableData
                guard !chunk.isEmpty else { return nil }
                pending += chunk
            }
        }
    }
}

extension RNNBenchmark.Case {
    /// A shape of one's own, CELL:TxBxIxHxL (e.g. the char-LM's layer, lstm:100x32x256x256x1); nil when the
    /// token is not of that form (CELL lstm, gru or rnn; sizes 1–100,000, L at most 16). Throws when a training
    /// step would need more than 4 GiB, before anything is allocated.
    init?(token: String) throws {
        let parts = token.lowercased().split(separator: ":").map(String.init)
        guard parts.count == 2, let cell = RecurrentCellKind(rawValue: parts[0]), cell != .rnnReLU else { return nil }
        let fields = parts[1].split(separator: "x", omittingEmptySubsequences: false), sizes = fields.compactMap { Int($0) }
        guard fields.count == 5, sizes.count == 5, sizes.allSatisfy({ (1...100_000).contains($0) }), sizes[4] <= 16 else { return nil }
        let (steps, batch, input, hidden, layers) = (sizes[0], sizes[1], sizes[2], sizes[3], sizes[4])
        // What a training step holds, roughly: the input, then per layer about a dozen (T, B, H) buffers (saved
        // gates, cells, outputs and their gradients) and the weights with theirs.
        let floats = Double(steps * batch) * Double(input) + Double(layers) * (Double(steps * batch) * Double(12 * hidden) + 8 * Double(hidden) * Double(input + hidden))
        guard floats * 4 <= 0x1p32 else {
            throw ValidationError("--cases: '\(token)' would need about \(format(floats * 4 / 0x1p30, 0)) GiB for a training step; at most 4 GiB")
        }
        self.init(cell: cell, label: parts[1], steps: steps, batch: batch, input: input, hidden: hidden, layers: layers)
    }
}
