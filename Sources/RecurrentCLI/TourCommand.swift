// `recurrent tour`: the lecture, made executable. For now it shows the machine and checks the foundations the
// rest stands on; each later part of the library adds its chapter.

import ArgumentParser
import Recurrent

struct TourCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tour",
        abstract: "Walk through what Recurrent computes, checking each claim as it goes.")

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try compute.apply()
        print("== The machine")
        for line in InfoCommand.report() { print(line) }

        print("\n== Matrix multiply, the heart of every layer")
        var implementations: [GEMMBackend] = [.swift]
        if SystemBLAS.shared != nil { implementations.append(.blas) }
        let check = GEMMBenchmark.selfCheck(shapes: [.init(m: 64, n: 2048, k: 512)], implementations: implementations)
        guard check.worstRelativeError < 1e-4 else {
            throw BenchmarkFailure("GEMM self-check failed: relative error \(check.worstRelativeError) for \(check.worstCase)")
        }
        print("  self-check: \(check.comparisons) elements of blocked SIMD\(implementations.count > 1 ? " and BLAS" : "") GEMMs match the naive triple loop (worst relative error \(format(check.worstRelativeError * 1e6, 2))e-6)")
        let shape = GEMMBenchmark.ProblemShape(m: 64, n: 2048, k: 512)
        let measured = GEMMBenchmark.time(shape, threads: 1, implementations: implementations, rounds: 3, minimumRoundSeconds: 0.02)
        for measurement in measured {
            print("  \(shape) (one LSTM step, batch 64, 512 units), 1 thread, \(measurement.implementation): \(format(measurement.milliseconds, 3)) ms, \(format(measurement.gigaflops, 1)) GFLOP/s")
        }

        print("\n== Gradients, checked by finite differences")
        var generator = SeededGenerator(seed: 2)
        let x = Tensor.normal([4, 3], using: &generator), w = Tensor.normal([3, 5], using: &generator), v = Tensor.normal([5, 2], using: &generator)
        let labels = [0, 1, 1, 0]
        let network: ([Tensor]) -> Tensor = { p in
            -p[0].matmul(p[1]).tanh().matmul(p[2]).logSoftmax().gather(lastAxisIndices: labels).mean()
        }
        let result = GradientCheck.check([x, w, v], network)
        print("  a two-layer tanh network with a cross-entropy loss: \(result)")
        guard result.passed else { throw BenchmarkFailure("gradient check failed") }
        let wrong = GradientCheck.check([x]) { p in
            Tensor.custom("cube with a wrong derivative", inputs: [p[0]], forward: { $0[0] * $0[0] * $0[0] },
                          backward: { grad, inputs in [grad * 2 * inputs[0] * inputs[0]] })
        }
        print("  a deliberately wrong derivative (d/dx x³ = 2x²): \(wrong.passed ? "NOT caught" : "caught, \(wrong.failureCount) of \(wrong.checkedElements) elements flagged")")
        guard !wrong.passed else { throw BenchmarkFailure("the gradient check missed a wrong derivative") }
        print("\n== Parameters, counted and explained")
        for (kind, hidden) in [(RecurrentCellKind.rnnTanh, 16), (.lstm, 16), (.gru, 16)] {
            let layer = RecurrentLayer(kind, inputSize: 32, hiddenSize: hidden)
            print("  \(kind.displayName), 32 inputs, \(hidden) units: \(kind.parameterFormula(inputSize: 32, hiddenSize: hidden)) (walked: \(layer.parameterCount); PyTorch's two biases: \(layer.pytorchParameterCount))")
        }

        print("\n== Recurrent layers: fused kernels against the plain step-by-step loop")
        var sequenceGenerator = SeededGenerator(seed: 3)
        let batch = Tensor.normal([4, 12, 3], dtype: .float64, using: &sequenceGenerator)
        for kind in RecurrentCellKind.allCases {
            let layer = RecurrentLayer(kind, inputSize: 3, hiddenSize: 5, seed: 4, dtype: .float64)
            let fused = noGrad { layer(batch, lengths: [12, 7, 3, 12]).output }
            let cell = layer.cells[0][0]
            var state = cell.zeroState(batch: 4)
            var worst = 0.0
            noGrad {
                for t in 0..<12 {
                    state = cell(batch.slice(alongAxis: 1, t..<(t + 1)).reshaped([4, 3]), state)
                    let expected = state.hidden.doubles, actual = fused.slice(alongAxis: 1, t..<(t + 1)).doubles
                    for b in 0..<4 where t < [12, 7, 3, 12][b] {
                        for j in 0..<5 { worst = max(worst, abs(expected[b * 5 + j] - actual[b * 5 + j])) }
                    }
                }
            }
            let check = GradientCheck.check([batch.slice(alongAxis: 1, 0..<6)] + layer.namedParameters.map(\.value)) { p in
                var index = 1
                layer.visitParameters { _, parameter in parameter = p[index]; index += 1 }
                return layer(p[0], lengths: [6, 4, 2, 5]).output
            }
            print("  \(kind.displayName): fused vs loop, worst |Δ| = \(scientific(worst)); gradient check through time with lengths: \(check.passed ? "passed" : "FAILED") (\(check.checkedElements) elements)")
            guard check.passed else { throw BenchmarkFailure("gradient check failed for \(kind.displayName): \(check)") }
        }

        print("\n== Memory through time, a first look: ‖∂h_63/∂x_t‖ at initialisation (64 steps, 32 units)")
        var memoryGenerator = SeededGenerator(seed: 5)
        let sequence = Tensor.normal([1, 64, 8], using: &memoryGenerator)
        for (name, layer) in [("tanh RNN", RecurrentLayer(.rnnTanh, inputSize: 8, hiddenSize: 32, seed: 6)),
                              ("LSTM, forget-gate bias 3", RecurrentLayer(.lstm, inputSize: 8, hiddenSize: 32, forgetGateBias: 3, seed: 6))] {
            let x = sequence.requiringGradient()
            let last = layer(x).output.slice(alongAxis: 1, 63..<64).sum()
            let gradient = last.gradients(withRespectTo: [x])[0]
            func norm(_ t: Int) -> Double { gradient.slice(alongAxis: 1, t..<(t + 1)).doubles.reduce(0) { $0 + $1 * $1 }.squareRoot() }
            print("  \(name): t = 63: \(scientific(norm(63))), t = 32: \(scientific(norm(32))), t = 0: \(scientific(norm(0)))")
        }
        print("  The plain RNN's gradient shrinks step after step through tanh; the LSTM's memory line c carries it.")

        print("\n== Training: two interleaved spirals, generated here (a one-to-one model, MLP 2-32-32-2)")
        var spiralGenerator = SeededGenerator(seed: 7)
        var points: [Float] = [], spiralLabels: [Int] = []
        for index in 0..<400 {
            let label = index % 2, t = Double(index / 2) / 200 * 3 * Double.pi
            let radius = 0.1 + t / (3 * Double.pi)
            let angle = t + Double(label) * Double.pi
            points += [Float(radius * libmCos(angle) + 0.02 * spiralGenerator.nextNormal()),
                       Float(radius * libmCos(angle - Double.pi / 2) + 0.02 * spiralGenerator.nextNormal())]
            spiralLabels.append(label)
        }
        let split = Batching.stratifiedSplit(labels: spiralLabels, validationFraction: 0.25, seed: 8)
        let model = Sequential([Dense(inputSize: 2, outputSize: 32, seed: 9), Activation(.tanh), Dense(inputSize: 32, outputSize: 32, seed: 10),
                                Activation(.tanh), Dense(inputSize: 32, outputSize: 2, seed: 11)])
        func spiralBatch(_ indices: [Int]) -> BatchResult {
            let logits = model(Tensor(shape: [indices.count, 2], scalars: indices.flatMap { [points[2 * $0], points[2 * $0 + 1]] }))
            let targets = indices.map { spiralLabels[$0] }
            let correct = zip(logits.argmax(alongAxis: 1), targets).filter { $0 == $1 }.count
            return BatchResult(loss: Loss.crossEntropy(logits: logits, targets: targets), examples: indices.count, correct: correct)
        }
        var lastLine = ""
        let trainer = Trainer(model: model, optimizer: Adam(learningRate: 1e-2), configuration: TrainingConfiguration(epochs: 150, batchSize: 32, seed: 12),
                              observers: [ProgressReporter(interactive: false) { lastLine = $0 }])
        let start = monotonicSeconds()
        try trainer.fit(count: split.training.count, batch: { spiralBatch($0.map { split.training[$0] }) })
        let held = trainer.evaluate(count: split.validation.count) { spiralBatch($0.map { split.validation[$0] }) }
        print("  \(lastLine.split(separator: "\n").first.map(String.init) ?? "") — \(format(monotonicSeconds() - start, 2)) s in all")
        print("  held-out accuracy: \(format(100 * (held.accuracy ?? 0), 1)) % (chance 50 %)")

        print("\nThe four model shapes on real data and the full memory experiments join this tour as they land.")
    }
}

/// "1.23e-5" style, without Foundation.
func scientific(_ value: Double) -> String {
    guard value.isFinite, value != 0 else { return value == 0 ? "0" : "\(value)" }
    var exponent = 0
    var mantissa = Swift.abs(value)
    while mantissa >= 10 { mantissa /= 10; exponent += 1 }
    while mantissa < 1 { mantissa *= 10; exponent -= 1 }
    return (value < 0 ? "-" : "") + format(mantissa, 2) + "e" + String(exponent)
}
