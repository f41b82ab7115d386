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
        print("\nThe recurrent layers, training, the four model shapes and the memory experiments join this tour as they land.")
    }
}
