// The GEMM benchmark: checks the fast kernels against the naive one, then times the Swift kernel and the
// system BLAS (when one loads) side by side, interleaved round by round so that a noisy neighbour slows both.

import Recurrent

/// What `bench gemm` times: a backend's one-call product, or the Swift kernel against a right-hand operand packed
/// once outside the timed loop — how a recurrent layer multiplies every step by the same weight, which a BLAS call
/// must repack each time.
/// Where the CPU has AVX-512 the Swift kernel uses it, and `swift-avx2` times the same kernel held to AVX2.
enum GEMMBenchImplementation: String, CustomStringConvertible {
    case swift
    case avx2 = "swift-avx2"
    case prepacked = "swift-prepacked"
    case blas

    var backend: GEMMBackend { self == .blas ? .blas : .swift }
    var description: String { rawValue }
    /// Width of this implementation's time and ratio columns in the table (its name heads them).
    var columnWidth: Int { self == .prepacked ? 22 : self == .avx2 ? 17 : 12 }
}

struct GEMMBenchmark {
    /// C (M, N) = op(A) (M, K) · op(B) (K, N), with A and/or B stored transposed: backward's products are
    /// A·Bᵀ (a layer's forward pass, X·Wᵀ), Aᵀ·B (weight gradients) and A·B (input gradients).
    struct ProblemShape: CustomStringConvertible {
        let m: Int, n: Int, k: Int
        var transposeA = false, transposeB = false
        /// "nn", "nt", "tn" or "tt": which operands are stored transposed.
        var form: String { (transposeA ? "t" : "n") + (transposeB ? "t" : "n") }
        var description: String { "\(m)×\(k)·\(k)×\(n)" + (form == "nn" ? "" : " " + form.uppercased()) }
        var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        var lda: Int { transposeA ? m : k }
        var ldb: Int { transposeB ? k : n }
    }

    struct Measurement {
        let shape: ProblemShape
        let threads: Int
        let implementation: GEMMBenchImplementation
        let milliseconds: Double
        var gigaflops: Double { shape.flops / milliseconds / 1e6 }

        var json: String {
            // The form is named only when an operand is transposed, so the standard rows keep the documented fields.
            "{\"bench\":\"gemm\",\"m\":\(shape.m),\"n\":\(shape.n),\"k\":\(shape.k),"
                + (shape.form == "nn" ? "" : "\"form\":\"\(shape.form)\",")
                + "\"threads\":\(threads),\"impl\":\"\(implementation)\",\"ms\":\(format(milliseconds, 4)),\"gflops\":\(format(gigaflops, 2))}"
        }
    }

    /// Squares 256–2048, the LSTM recurrent step (batch 64, hidden 512, four gates) and the seed LSTM's step.
    static let standardShapes = [
        ProblemShape(m: 256, n: 256, k: 256), ProblemShape(m: 512, n: 512, k: 512),
        ProblemShape(m: 1024, n: 1024, k: 1024), ProblemShape(m: 2048, n: 2048, k: 2048),
        ProblemShape(m: 64, n: 2048, k: 512), ProblemShape(m: 32, n: 64, k: 16),
    ]

    /// Matrices filled with a fixed pattern in [-1, 1].
    final class Operands {
        let a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>
        init(_ shape: ProblemShape, seed: UInt64 = 1) {
            var generator = SeededGenerator(seed: seed)
            a = .allocate(capacity: shape.m * shape.k)
            b = .allocate(capacity: shape.k * shape.n)
            c = .allocate(capacity: shape.m * shape.n)
            for i in 0..<(shape.m * shape.k) { a[i] = Float(generator.nextUniform() * 2 - 1) }
            for i in 0..<(shape.k * shape.n) { b[i] = Float(generator.nextUniform() * 2 - 1) }
            c.initialize(repeating: 0, count: shape.m * shape.n)
        }
        deinit { a.deallocate(); b.deallocate(); c.deallocate() }
    }

    // MARK: - Checking

    struct CheckReport {
        var comparisons = 0
        var worstRelativeError = 0.0
        var worstCase = ""
    }

    /// Every transpose form, alpha/beta, and edge shapes (compared in full), plus sampled elements of each
    /// benchmark shape, for each implementation asked for (the Swift kernel in one call and against a prepacked
    /// right operand, at 1 and 2 threads; the BLAS when present).
    static func selfCheck(shapes: [ProblemShape], implementations: [GEMMBenchImplementation]) -> CheckReport {
        var report = CheckReport()
        let edgeShapes = [ProblemShape(m: 7, n: 33, k: 300), ProblemShape(m: 150, n: 17, k: 5), ProblemShape(m: 31, n: 290, k: 64)]
        for shape in edgeShapes {
            for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
                for implementation in implementations {
                    for threads in [1, 2] {
                        compare(shape, transposeA: transposeA, transposeB: transposeB, alpha: 0.5, beta: 1,
                                implementation: implementation, threads: threads, sampled: false, into: &report)
                    }
                }
            }
        }
        for shape in shapes {
            for implementation in implementations {
                compare(shape, transposeA: shape.transposeA, transposeB: shape.transposeB, alpha: 1, beta: 0,
                        implementation: implementation, threads: 2, sampled: true, into: &report)
            }
        }
        return report
    }

    private static func compare(
        _ shape: ProblemShape, transposeA: Bool, transposeB: Bool, alpha: Float, beta: Float,
        implementation: GEMMBenchImplementation, threads: Int, sampled: Bool, into report: inout CheckReport
    ) {
        let operands = Operands(shape, seed: UInt64(shape.m * 31 + shape.n))
        let (m, n, k) = (shape.m, shape.n, shape.k)
        for i in 0..<(m * n) { operands.c[i] = Float(i % 7) - 3 }
        let original = Array(UnsafeBufferPointer(start: operands.c, count: m * n))
        let lda = transposeA ? m : k, ldb = transposeB ? k : n
        let packed = implementation == .prepacked
            ? PackedGEMMOperand(transposed: transposeB, b: operands.b, ldb: ldb, depth: k, columns: n) : nil
        multiply(implementation, packed: packed, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                 alpha: alpha, a: operands.a, lda: lda, b: operands.b, ldb: ldb, beta: beta, c: operands.c, threads: threads)
        // The reference accumulates in Float64, so its own rounding is far below the kernels'.
        let aDouble = (0..<(m * k)).map { Double(operands.a[$0]) }, bDouble = (0..<(k * n)).map { Double(operands.b[$0]) }
        var generator = SeededGenerator(seed: 99)
        let elements = sampled ? (0..<256).map { _ in Int(generator.next() % UInt64(m * n)) } : Array(0..<(m * n))
        for element in elements {
            let i = element / n, j = element % n
            let expected = GEMM.referenceElement(
                i: i, j: j, transposeA: transposeA, transposeB: transposeB, k: k, alpha: Double(alpha),
                a: aDouble, lda: lda, b: bDouble, ldb: ldb, beta: Double(beta),
                cOld: Double(original[element]))
            let error = abs(Double(operands.c[element]) - expected) / max(1, abs(expected))
            report.comparisons += 1
            if !(error <= report.worstRelativeError) {
                report.worstRelativeError = error
                report.worstCase = "\(implementation) \(shape) transposeA=\(transposeA) transposeB=\(transposeB) threads=\(threads) at (\(i), \(j))"
            }
        }
    }

    /// C = alpha·op(A)·op(B) + beta·C by `implementation`; `packed` is op(B) packed, for `.prepacked`.
    private static func multiply(
        _ implementation: GEMMBenchImplementation, packed: PackedGEMMOperand?, transposeA: Bool, transposeB: Bool,
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, threads: Int
    ) {
        if let packed {
            GEMM.multiply(transposeA: transposeA, m: m, alpha: alpha, a: a, lda: lda, packed: packed, beta: beta, c: c, ldc: n, threads: threads)
        } else if implementation == .avx2 {
            GEMM.blocked(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                         b: b, ldb: ldb, beta: beta, c: c, ldc: n, threads: threads, avx512: false)
        } else {
            GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: n, backend: implementation.backend, threads: threads)
        }
    }

    // MARK: - Timing

    /// Median milliseconds per call for each implementation, measured in interleaved rounds.
    static func time(
        _ shape: ProblemShape, threads: Int, implementations: [GEMMBenchImplementation], rounds: Int, minimumRoundSeconds: Double
    ) -> [Measurement] {
        let operands = Operands(shape)
        let packed = implementations.contains(.prepacked)
            ? PackedGEMMOperand(transposed: shape.transposeB, b: operands.b, ldb: shape.ldb, depth: shape.k, columns: shape.n) : nil
        func call(_ implementation: GEMMBenchImplementation) {
            multiply(implementation, packed: implementation == .prepacked ? packed : nil, transposeA: shape.transposeA,
                     transposeB: shape.transposeB, m: shape.m, n: shape.n, k: shape.k, alpha: 1, a: operands.a, lda: shape.lda,
                     b: operands.b, ldb: shape.ldb, beta: 0, c: operands.c, threads: threads)
        }
        // Warm up and size each round to at least `minimumRoundSeconds`.
        var repetitions: [Int] = []
        for implementation in implementations {
            call(implementation)
            let start = monotonicSeconds()
            call(implementation)
            let single = max(1e-7, monotonicSeconds() - start)
            repetitions.append(max(1, Int((minimumRoundSeconds / single).rounded(.up))))
        }
        var samples = [[Double]](repeating: [], count: implementations.count)
        for _ in 0..<rounds {
            for (index, implementation) in implementations.enumerated() {
                let start = monotonicSeconds()
                for _ in 0..<repetitions[index] { call(implementation) }
                samples[index].append((monotonicSeconds() - start) / Double(repetitions[index]) * 1000)
            }
        }
        return implementations.indices.map { index in
            Measurement(shape: shape, threads: threads, implementation: implementations[index], milliseconds: median(samples[index]))
        }
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// A number with `digits` decimals, without Foundation.
func format(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let whole = Int(rounded / scale)
    var fraction = String(Int(rounded - Double(whole) * scale))
    while fraction.count < digits { fraction = "0" + fraction }
    return (value < 0 && rounded != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + fraction : "")
}

/// Right-aligns `text` in `width` columns.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
