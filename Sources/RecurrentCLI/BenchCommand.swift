// `recurrent bench …`: speed, measured as ratios in one run, after checking results against the references.

import ArgumentParser
import Recurrent

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: check the fast kernels against their references, then time them.",
        subcommands: [GEMMBenchCommand.self, RNNBenchCommand.self, GatesBenchCommand.self])
}

struct GEMMBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Check the SIMD GEMM against the naive one, then time it beside the system BLAS.",
        discussion: """
            Shapes: squares 256, 512, 1024, 2048 and the RNN steps 64×512·512×2048 and 32×16·16×64, each with 1 and \
            2 threads (or --threads), for the Swift kernel and, when one loads, the system BLAS. Times are medians \
            over interleaved rounds. --json prints one JSON object per measurement.

            Implementations: swift and blas time one complete call, packing included. swift-prepacked times the Swift \
            kernel against a right-hand operand packed once, outside the timed loop: that is how a recurrent layer \
            multiplies each step's hidden state by the same weight, which a BLAS call must repack on every step.
            """)

    @Flag(name: .long, help: "One JSON object per line instead of a table.")
    var json = false

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Thread counts to measure, comma-separated.", valueName: "list"))
    var threads: String = "1,2"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Square sizes or MxNxK shapes, comma-separated, each optionally ending :nt, :tn or :tt to store B, A or both transposed (default: the standard set).", valueName: "list"))
    var shapes: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Timed rounds per measurement.", valueName: "n"))
    var rounds: Int = 7

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Implementations to time, comma-separated: swift, swift-avx2 (the Swift kernel held to AVX2, where it would use AVX-512), swift-prepacked, blas.", valueName: "list"))
    var implementations: String = "swift,swift-avx2,swift-prepacked,blas"

    func parsedThreads() throws -> [Int] {
        try threads.split(separator: ",", omittingEmptySubsequences: false).map { text in
            do { return try ComputeSettings.parseThreads(String(text)) } catch { throw ValidationError("--threads: \(error)") }
        }
    }

    func parsedShapes() throws -> [GEMMBenchmark.ProblemShape] {
        guard let shapes else { return GEMMBenchmark.standardShapes }
        return try shapes.split(separator: ",", omittingEmptySubsequences: false).map { token in
            let invalid = ValidationError("--shapes: '\(token)' is not a size (1 to 16384) or an MxNxK shape, optionally ending :nn, :nt, :tn or :tt")
            let pieces = token.split(separator: ":", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw invalid }
            var transposeA = false, transposeB = false
            if pieces.count == 2 {
                guard let form = ["nn", "nt", "tn", "tt"].first(where: { $0 == pieces[1].lowercased() }) else { throw invalid }
                transposeA = form.hasPrefix("t"); transposeB = form.hasSuffix("t")
            }
            let parts = pieces[0].split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            if parts.count == 1, let size = parts[0], size > 0, size <= 16384 {
                return .init(m: size, n: size, k: size, transposeA: transposeA, transposeB: transposeB)
            }
            if parts.count == 3, let m = parts[0], let n = parts[1], let k = parts[2],
               [m, n, k].allSatisfy({ (1...16384).contains($0) }) {
                return .init(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
            }
            throw invalid
        }
    }

    func parsedImplementations() throws -> [GEMMBenchImplementation] {
        try implementations.split(separator: ",", omittingEmptySubsequences: false).map { name in
            guard let implementation = GEMMBenchImplementation(rawValue: String(name).lowercased()) else {
                throw ValidationError("--implementations: unknown implementation '\(name)': expected swift, swift-avx2, swift-prepacked or blas")
            }
            return implementation
        }
    }

    func validate() throws {
        for (name, list) in [("--threads", threads), ("--shapes", shapes ?? "default"), ("--implementations", implementations)] where list.isEmpty {
            throw ValidationError("\(name): the list is empty")
        }
        _ = try parsedThreads()
        _ = try parsedShapes()
        _ = try parsedImplementations()
        guard (1...1000).contains(rounds) else { throw ValidationError("--rounds: \(rounds) is not between 1 and 1000") }
    }

    func run() throws {
        let threadCounts = try parsedThreads()
        let shapes = try parsedShapes()
        var implementations = try parsedImplementations()
        if SystemBLAS.shared == nil {
            if implementations.contains(.blas) {
                // Asked for the BLAS alone, there would be nothing left to time: an empty table is no answer.
                guard implementations.contains(where: { $0 != .blas }) else {
                    throw UsageError("--implementations blas: no system BLAS loads (\(SystemBLAS.searchReport)), so there is nothing to time; install one (apt-get install libopenblas0) or add swift")
                }
                writeToStandardError("note: no system BLAS loads (\(SystemBLAS.searchReport)); timing the Swift kernel alone\n")
            }
            implementations.removeAll { $0 == .blas }
        }
        if !ComputeSettings.usesAVX512 {
            // Without AVX-512 the Swift kernel already is the AVX2 one: asked for, it is timed once, as swift.
            implementations = implementations.reduce(into: []) { kept, implementation in
                let timed = implementation == .avx2 ? GEMMBenchImplementation.swift : implementation
                if !kept.contains(timed) { kept.append(timed) }
            }
        }
        let log: (String) -> Void = json ? { writeToStandardError($0 + "\n") } : { print($0) }
        if KernelInfo.isDebugBuild { log("warning: debug build; use `swift run -c release recurrent bench gemm` for real numbers") }

        let check = GEMMBenchmark.selfCheck(shapes: shapes, implementations: implementations)
        guard check.worstRelativeError < 1e-4 else {
            throw BenchmarkFailure("GEMM self-check failed: relative error \(check.worstRelativeError) for \(check.worstCase)")
        }
        log("self-check: \(implementations.map(\.rawValue).joined(separator: ", ")) against the naive GEMM, \(check.comparisons) elements, worst relative error \(format(check.worstRelativeError * 1e6, 2))e-6: ok")

        let peak = MachinePeak.measureSingleCore()
        log("machine FMA peak (measured now, one core): \(format(peak, 1)) GFLOP/s\(SystemBLAS.shared.map { "; BLAS: \($0.versionDescription)" } ?? "")")
        let ceiling = MachinePeak.measureMicroKernel()
        log("micro-kernel alone (one tile on the same small panels, no packing, no misses): \(format(ceiling, 1)) GFLOP/s, \(format(100 * ceiling / peak, 0))% of the peak")
        // Each Swift implementation is compared with the BLAS, when it is timed too.
        let comparedWithBLAS = implementations.contains(.blas) ? implementations.filter { $0 != .blas } : []
        if !json {
            var header = pad("shape", 20) + pad("threads", 8)
            for implementation in implementations {
                header += pad("\(implementation) ms", implementation.columnWidth) + pad("GFLOP/s", 9) + pad("% peak", 8)
            }
            for implementation in comparedWithBLAS { header += pad("\(implementation)/blas", implementation.columnWidth) }
            print(header)
        }
        for shape in shapes {
            for threads in threadCounts {
                let measurements = GEMMBenchmark.time(shape, threads: threads, implementations: implementations, rounds: rounds, minimumRoundSeconds: 0.03)
                if json {
                    for measurement in measurements { print(measurement.json) }
                    continue
                }
                var row = pad("\(shape)", 20) + pad("\(threads)", 8)
                for measurement in measurements {
                    row += pad(format(measurement.milliseconds, 3), measurement.implementation.columnWidth)
                        + pad(format(measurement.gigaflops, 1), 9)
                        + pad(format(100 * measurement.gigaflops / (peak * Double(threads)), 0) + "%", 8)
                }
                if let blas = measurements.first(where: { $0.implementation == .blas }) {
                    for measurement in measurements where comparedWithBLAS.contains(measurement.implementation) {
                        row += pad(format(measurement.gigaflops / blas.gigaflops, 2) + "×", measurement.implementation.columnWidth)
                    }
                }
                print(row)
            }
        }
    }
}

struct GatesBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gates",
        abstract: "Check the vector gate passes of the LSTM and GRU against their scalar references, then time them.",
        discussion: """
            The gate pass is each step's work between two GEMMs: activations, cell or state update, and in backward \
            the gate gradients. It runs over 32 rows (a step of a batch of 32) at the hidden sizes of `bench rnn`'s \
            shapes, one thread; times are ns per hidden unit (all of a unit's gates), medians over interleaved \
            rounds. The vector passes run in AVX2 registers and, where the CPU has AVX-512, in AVX-512 registers \
            too; the two must agree bit for bit. --json prints one JSON object per measurement.
            """)

    @Flag(name: .long, help: "One JSON object per line instead of a table.")
    var json = false

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Hidden sizes, comma-separated (1 to 4096).", valueName: "list"))
    var hidden: String = GatesBenchmark.standardHidden.map(String.init).joined(separator: ",")

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Timed rounds per measurement.", valueName: "n"))
    var rounds: Int = 7

    func parsedHidden() throws -> [Int] {
        try hidden.split(separator: ",", omittingEmptySubsequences: false).map { token in
            guard let size = Int(token), (1...4096).contains(size) else { throw ValidationError("--hidden: '\(token)' is not a size from 1 to 4096") }
            return size
        }
    }

    func validate() throws {
        _ = try parsedHidden()
        guard (1...1000).contains(rounds) else { throw ValidationError("--rounds: \(rounds) is not between 1 and 1000") }
    }

    func run() throws {
        let sizes = try parsedHidden()
        let implementations = GatesBenchmark.Implementation.available
        let cases = GatesBenchmark.Cell.allCases.flatMap { cell in
            GatesBenchmark.Pass.allCases.flatMap { pass in sizes.map { GatesBenchmark.Case(cell: cell, pass: pass, hidden: $0) } }
        }
        let log: (String) -> Void = json ? { writeToStandardError($0 + "\n") } : { print($0) }
        if KernelInfo.isDebugBuild { log("warning: debug build; use `swift run -c release recurrent bench gates` for real numbers") }
        var worst = 0.0
        for benchmarkCase in cases {
            for implementation in implementations where implementation != .reference {
                let error = GatesBenchmark.check(benchmarkCase, implementation: implementation)
                guard error < 1e-5 else {
                    throw BenchmarkFailure("gate-pass self-check failed: \(implementation) \(benchmarkCase) differs from the reference by \(error) (relative)")
                }
                worst = max(worst, error)
            }
            if implementations.contains(.avx512) {
                // Same operations in the same order: any difference at all is a bug in one of them.
                let difference = GatesBenchmark.check(benchmarkCase, implementation: .avx512, against: .avx2)
                guard difference == 0 else {
                    throw BenchmarkFailure("gate-pass self-check failed: avx512 \(benchmarkCase) differs from avx2 by \(difference) (relative); they must agree bit for bit")
                }
            }
        }
        let agreement = implementations.contains(.avx512) ? "; avx512 equal to avx2 bit for bit" : ""
        log("self-check: vector gate passes against the scalar references, \(cases.count) cases, worst relative difference \(format(worst * 1e6, 2))e-6\(agreement): ok")
        if !json {
            print(pad("cell", 6) + pad("pass", 10) + pad("H", 6) + implementations.map { pad("\($0) ns", 14) }.joined()
                  + pad("reference/avx2", 16) + (implementations.contains(.avx512) ? pad("avx2/avx512", 14) : ""))
        }
        for benchmarkCase in cases {
            let times = GatesBenchmark.time(benchmarkCase, implementations: implementations, rounds: rounds)
            if json {
                for (implementation, ns) in zip(implementations, times) {
                    print("{\"bench\":\"gates\",\"cell\":\"\(benchmarkCase.cell.rawValue)\",\"pass\":\"\(benchmarkCase.pass.rawValue)\",\"hidden\":\(benchmarkCase.hidden),\"rows\":\(GatesBenchmark.rows),\"impl\":\"\(implementation.rawValue)\",\"ns_per_unit\":\(format(ns, 3))}")
                }
                continue
            }
            print(pad(benchmarkCase.cell.rawValue, 6) + pad(benchmarkCase.pass.rawValue, 10) + pad("\(benchmarkCase.hidden)", 6)
                  + times.map { pad(format($0, 2), 14) }.joined() + pad(format(times[0] / times[1], 2) + "×", 16)
                  + (times.count > 2 ? pad(format(times[1] / times[2], 2) + "×", 14) : ""))
        }
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct RNNBenchCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "rnn",
        abstract: "Time fused LSTM, GRU and RNN layers (inference and training) beside PyTorch when it is importable.",
        discussion: """
            Shapes (T, B, I, H, L): LSTM a (64,32,32,16,1), b (100,64,128,128,1), c (100,64,256,256,1), \
            d (50,64,512,512,1), e (100,32,64,512,2); GRU and RNN at c. Modes: infer; train (forward and backward \
            of the sum of all outputs, weights' gradients only); train+dx (the input's gradient too). Times are \
            medians after two warm-up iterations (with --rounds, the median of the rounds' medians); GFLOP/s counts the forward GEMMs, 2·T·B·G·H·(I+H) per layer, \
            three times for a training step. PyTorch runs from Scripts/bench/pytorch_rnn.py with --python.
            """)

    @Flag(name: .long, help: "One JSON object per line instead of a table.")
    var json = false

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Timed iterations per measurement.", valueName: "n"))
    var iterations: Int = 10

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Rounds per measurement, ours and PyTorch's alternating; times are the rounds' medians.", valueName: "n"))
    var rounds: Int = 1

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Cases to run, e.g. lstm:a,gru:c, or any shape as CELL:TxBxIxHxL, e.g. lstm:100x32x256x256x1 (default: all).", valueName: "list"))
    var cases: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Modes to run: infer, train, train+dx (default: all).", valueName: "list"))
    var modes: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Python with torch for the comparison (none to skip).", valueName: "path"))
    var python: String = "python3"

    @OptionGroup(title: "Compute (threads default to 1 here, for both sides)") var compute: ComputeOptions

    func selectedCases() throws -> [RNNBenchmark.Case] {
        guard let cases else { return RNNBenchmark.standardCases }
        return try cases.split(separator: ",", omittingEmptySubsequences: false).map { token in
            let parts = token.split(separator: ":").map(String.init)
            if parts.count == 2, let found = RNNBenchmark.standardCases.first(where: { $0.pytorchCell == parts[0].lowercased() && $0.label == parts[1].lowercased() }) {
                return found
            }
            guard let custom = try RNNBenchmark.Case(token: String(token)) else {
                throw ValidationError("--cases: '\(token)' is not one of \(RNNBenchmark.standardCases.map { "\($0.pytorchCell):\($0.label)" }.joined(separator: ", ")), nor CELL:TxBxIxHxL (CELL lstm, gru or rnn; sizes 1–100000, L at most 16)")
            }
            return custom
        }
    }

    func selectedModes() throws -> [RNNBenchmark.Mode] {
        guard let modes else { return RNNBenchmark.Mode.allCases }
        return try modes.split(separator: ",", omittingEmptySubsequences: false).map { token in
            guard let mode = RNNBenchmark.Mode(rawValue: String(token)) else {
                throw ValidationError("--modes: '\(token)' is not one of infer, train, train+dx")
            }
            return mode
        }
    }

    func validate() throws {
        for (name, list) in [("--cases", cases ?? "default"), ("--modes", modes ?? "default")] where list.isEmpty {
            throw ValidationError("\(name): the list is empty")
        }
        _ = try selectedCases()
        _ = try selectedModes()
        guard (1...10_000).contains(iterations) else { throw ValidationError("--iterations: \(iterations) is not between 1 and 10000") }
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds: \(rounds) is not between 1 and 100") }
    }

    func run() throws {
        try compute.apply()
        // One thread unless asked: the comparison with PyTorch is made per core.
        if compute.threads == nil { try ComputeSettings.setThreads(1) }
        let threadCount = ComputeSettings.threads
        let cases = try selectedCases()
        let modes = try selectedModes()
        let log: (String) -> Void = json ? { writeToStandardError($0 + "\n") } : { print($0) }
        let shapeWidth = max(6, (cases.map(\.label.count).max() ?? 0) + 2)
        if KernelInfo.isDebugBuild { log("warning: debug build; use `swift run -c release recurrent bench rnn` for real numbers") }
        let peak = MachinePeak.measureSingleCore()
        log("machine FMA peak (measured now, one core): \(format(peak, 1)) GFLOP/s, measured again before each round (% peak is against that one); GEMM backend: \(ComputeSettings.activeBackend) (\(ComputeSettings.backendReason)); threads: \(threadCount)")
        var torch = python == "none" ? nil : RNNBenchmark.PyTorchSession(python: python)
        if let session = torch, !session.waitUntilReady() { torch = nil }
        log(python == "none" ? "PyTorch: not compared (--python none) — Recurrent alone"
            : torch == nil ? "PyTorch: not importable with \(python) (pip install torch; --python PATH) — Recurrent alone"
            : "PyTorch: timed beside each measurement, alternating with ours over \(rounds) round\(rounds == 1 ? "" : "s"); ratio = median of the rounds' ratios")
        if !json {
            print(pad("cell", 6) + pad("shape", shapeWidth) + pad("mode", 10) + pad("ms", 10) + pad("GFLOP/s", 9) + pad("% peak", 8)
                  + (torch != nil ? pad("torch ms", 10) + pad("torch %", 8) + pad("ours/torch", 12) + (rounds > 1 ? pad("rounds' range", 15) : "") : ""))
        }
        for benchmarkCase in cases {
            for mode in modes {
                let flops = benchmarkCase.forwardFlops * mode.flopFactor
                var ours: [Double] = [], theirs: [Double] = [], ratios: [Double] = [], peakShares: [Double] = [], torchPeakShares: [Double] = []
                for round in 0..<rounds {
                    // Who goes first alternates, so neither side always runs on a cache the other just warmed.
                    var torchMs: Double?
                    func timePyTorch() {
                        guard let session = torch else { return }
                        torchMs = session.time(benchmarkCase, mode: mode, iterations: iterations, threads: threadCount)
                        if torchMs == nil {
                            log("PyTorch stopped answering at \(benchmarkCase.pytorchCell) \(benchmarkCase.label) \(mode.rawValue): Recurrent alone from here")
                            torch = nil
                        }
                    }
                    if round % 2 == 1 { timePyTorch() }
                    // The core's speed drifts on a shared machine (the FMA peak measured 83–98 GFLOP/s within one
                    // hour), so each round is set against the peak measured just before it.
                    let roundPeak = MachinePeak.measureSingleCore(seconds: 0.1)
                    let ms = RNNBenchmark.time(benchmarkCase, mode: mode, iterations: iterations)
                    if round % 2 == 0 { timePyTorch() }
                    ours.append(ms)
                    peakShares.append(flops / ms / 1e6 / (roundPeak * Double(threadCount)))
                    if let torchMs {
                        theirs.append(torchMs)
                        ratios.append(ms / torchMs)
                        // PyTorch's share of the same peak: how far from the machine's limit the side we are
                        // compared with already runs, which bounds the ratio any implementation can reach.
                        torchPeakShares.append(flops / torchMs / 1e6 / (roundPeak * Double(threadCount)))
                    }
                }
                let ms = median(ours)
                let gflops = flops / ms / 1e6
                let torchMs = theirs.count == rounds ? median(theirs) : nil, ratio = median(ratios)
                let peakShare = median(peakShares)
                if json {
                    var line = "{\"bench\":\"rnn\",\"cell\":\"\(benchmarkCase.pytorchCell)\",\"shape\":\"\(benchmarkCase.label)\",\"T\":\(benchmarkCase.steps),\"B\":\(benchmarkCase.batch),\"I\":\(benchmarkCase.input),\"H\":\(benchmarkCase.hidden),\"L\":\(benchmarkCase.layers),\"mode\":\"\(mode.rawValue)\",\"threads\":\(threadCount),\"ms\":\(format(ms, 3)),\"gflops\":\(format(gflops, 2)),\"peak_share\":\(format(peakShare, 3))"
                    if rounds > 1 { line += ",\"rounds\":\(rounds)" }
                    if let torchMs {
                        line += ",\"torch_ms\":\(format(torchMs, 3)),\"torch_peak_share\":\(format(median(torchPeakShares), 6)),\"ratio\":\(format(ratio, 3))"
                        if rounds > 1 { line += ",\"ratio_min\":\(format(ratios.min()!, 3)),\"ratio_max\":\(format(ratios.max()!, 3))" }
                    }
                    print(line + "}")
                } else {
                    var row = pad(benchmarkCase.pytorchCell, 6) + pad(benchmarkCase.label, shapeWidth) + pad(mode.rawValue, 10) + pad(format(ms, 2), 10)
                        + pad(format(gflops, 1), 9) + pad(format(100 * peakShare, 0) + "%", 8)
                    if let torchMs {
                        row += pad(format(torchMs, 2), 10) + pad(format(100 * median(torchPeakShares), 0) + "%", 8) + pad(format(ratio, 2) + "×", 12)
                        // The spread of the rounds' ratios: on a shared machine it shows whether a pass or a miss is real.
                        if rounds > 1 { row += pad(format(ratios.min()!, 2) + "–" + format(ratios.max()!, 2), 15) }
                    }
                    print(row)
                }
            }
        }
    }
}
