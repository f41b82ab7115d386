// `recurrent tour`: the lecture, made executable. It checks the foundations (kernels, gradients, fused cells),
// then walks the lecture in order — the four shapes, parameters, memory, gates, order — printing as it goes,
// and gathers every number and plot into one self-contained report.html.

import ArgumentParser
import Foundation
import Recurrent

struct TourCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "tour",
        abstract: "Walk through the lecture on sequence models, checking each claim, and write report.html.",
        discussion: "Runs on data it generates (a few minutes on two cores). --data-dir points it at real datasets laid out like ../shared/data.")

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Folder for report.html, plots and the tour's runs.", valueName: "dir")) var out: String = "tour"
    @Option(name: .customLong("data-dir"), parsing: .unconditional, help: ArgumentHelp("Real datasets laid out like ../shared/data (digits8x8/, sentiment/, translation-en-fr/, tinyshakespeare/).", valueName: "dir"))
    var dataDirectory: String?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        try requireNonEmptyPaths(["--data-dir": dataDirectory, "--out": out])
        if let dataDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--data-dir \(dataDirectory): not a folder")
            }
            do { try LectureTour.checkDataDirectory(dataDirectory) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() throws {
        try compute.apply()
        let started = monotonicSeconds()
        try createOutputFolder(out)
        let report = HTMLReport(title: "Recurrent tour: sequence models, measured")
        var chapterLines: [String] = []
        func say(_ line: String) {
            print(line)
            chapterLines.append(line)
        }
        func chapter(_ title: String, id: String, _ body: () throws -> Void) rethrows {
            print("\n== " + title)
            chapterLines = []
            try body()
            report.section(title, id: id)
            report.preformatted(chapterLines)
            report.endSection()
        }
        print("Recurrent \(recurrentVersion): the lecture on sequence models, run and checked. Report: \(out)/report.html")
        try chapter("The machine and the matrix multiply under every layer", id: "machine") {
            try foundations(say)
        }
        let lecture = LectureTour(report: report, output: out, dataDirectory: dataDirectory) { line in print(line) }
        print("\n== The four shapes: one-to-one, many-to-one, one-to-many, many-to-many")
        try lecture.fourShapes()
        print("\n== Parameters, counted and explained")
        lecture.parameters()
        print("\n== Memory through time")
        lecture.memory(configuration: MemoryStudy.Configuration(
            variants: [.tanhRNN, .identityReLURNN, .lstm, .openLSTM(bias: 3), .gru], flowLength: 64, lengths: [16, 64], trainingSteps: 300))
        print("\n== Inside the LSTM: gates")
        lecture.gates()
        print("\n== Order matters")
        lecture.orderMatters()
        let path = out + "/report.html"
        try writeAtomically(Data(report.html.utf8), to: path)
        print(String(format: "\nDone in %.0f s", monotonicSeconds() - started) + " Report: " + path)
    }

    /// Machine, GEMM self-check, gradient checks and the fused recurrent kernels against the plain loop.
    func foundations(_ say: (String) -> Void) throws {
        for line in InfoCommand.report() { say(line) }

        var implementations: [GEMMBenchImplementation] = [.swift, .prepacked]
        if SystemBLAS.shared != nil { implementations.append(.blas) }
        let check = GEMMBenchmark.selfCheck(shapes: [.init(m: 64, n: 2048, k: 512)], implementations: implementations)
        guard check.worstRelativeError < 1e-4 else {
            throw BenchmarkFailure("GEMM self-check failed: relative error \(check.worstRelativeError) for \(check.worstCase)")
        }
        say("  self-check: \(check.comparisons) elements of blocked SIMD (one call, and against a prepacked weight)\(implementations.contains(.blas) ? " and BLAS" : "") GEMMs match the naive triple loop (worst relative error \(format(check.worstRelativeError * 1e6, 2))e-6)")
        let shape = GEMMBenchmark.ProblemShape(m: 64, n: 2048, k: 512)
        let measured = GEMMBenchmark.time(shape, threads: 1, implementations: implementations, rounds: 3, minimumRoundSeconds: 0.02)
        // swift-prepacked is how the LSTM runs this step: its weight is packed once for the whole sequence.
        for measurement in measured {
            say("  \(shape) (one LSTM step, batch 64, 512 units), 1 thread, \(measurement.implementation): \(format(measurement.milliseconds, 3)) ms, \(format(measurement.gigaflops, 1)) GFLOP/s")
        }

        say("Gradients, checked by central finite differences in Float64:")
        var generator = SeededGenerator(seed: 2)
        let x = Tensor.normal([4, 3], using: &generator), w = Tensor.normal([3, 5], using: &generator), v = Tensor.normal([5, 2], using: &generator)
        let labels = [0, 1, 1, 0]
        let network: ([Tensor]) -> Tensor = { p in
            -p[0].matmul(p[1]).tanh().matmul(p[2]).logSoftmax().gather(lastAxisIndices: labels).mean()
        }
        let result = GradientCheck.check([x, w, v], network)
        say("  a two-layer tanh network with a cross-entropy loss: \(result)")
        guard result.passed else { throw BenchmarkFailure("gradient check failed") }
        let wrong = GradientCheck.check([x]) { p in
            Tensor.custom("cube with a wrong derivative", inputs: [p[0]], forward: { $0[0] * $0[0] * $0[0] },
                          backward: { grad, inputs in [grad * 2 * inputs[0] * inputs[0]] })
        }
        say("  a deliberately wrong derivative (d/dx x³ = 2x²): \(wrong.passed ? "NOT caught" : "caught, \(wrong.failureCount) of \(wrong.checkedElements) elements flagged")")
        guard !wrong.passed else { throw BenchmarkFailure("the gradient check missed a wrong derivative") }
        say("Recurrent layers: fused kernels against the plain step-by-step loop:")
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
            say("  \(kind.displayName): fused vs loop, worst |Δ| = \(scientific(worst)); gradient check through time with lengths: \(check.passed ? "passed" : "FAILED") (\(check.checkedElements) elements)")
            guard check.passed else { throw BenchmarkFailure("gradient check failed for \(kind.displayName): \(check)") }
        }

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
