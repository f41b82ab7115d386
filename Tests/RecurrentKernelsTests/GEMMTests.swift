import Testing
import RecurrentKernels

/// Matrices in row-major storage with the leading dimension possibly padded, filled from a seed.
struct MatrixFixture {
    var a: [Float], b: [Float], c: [Float]
    let lda: Int, ldb: Int, ldc: Int

    init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, padding: Int, seed: UInt64) {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Float {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state % 2001) / 1000 - 1
        }
        let aRows = transposeA ? k : m, aColumns = transposeA ? m : k
        let bRows = transposeB ? n : k, bColumns = transposeB ? k : n
        lda = aColumns + padding; ldb = bColumns + padding; ldc = n + padding
        a = (0..<(aRows * lda)).map { _ in next() }
        b = (0..<(bRows * ldb)).map { _ in next() }
        c = (0..<(m * ldc)).map { _ in next() }
    }
}

@Suite struct GEMMTests {
    /// Shapes chosen to cross every blocking boundary: edge tiles (M % 6, N % 16), several depth blocks
    /// (K > 256), several row blocks (M > 144), narrow column blocks (N > 256) and a tiny K; and every way rows are
    /// cut into panels: six-row only, then one four-row panel (64, and 148 in its second row block), two (32, 8),
    /// or a partial one (2, 7, 13). With alpha 1, whole panels and a depth block of at most 64, A is read in place (6, 8, 24, 148, 150, and
    /// the last depth blocks of 4 × 300 and 145 × 520, at a depth offset).
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (6, 16, 8), (7, 17, 3), (13, 33, 257), (150, 20, 31), (37, 300, 19), (145, 70, 520), (64, 48, 600),
        (32, 40, 70), (8, 16, 5), (2, 20, 9), (148, 24, 30),
        // A few rows times a transposed B take the row-dot kernel: odd row counts, B rows not a multiple of four,
        // depths with a tail past the last eight.
        (3, 37, 21), (4, 130, 300), (5, 9, 64), (23, 30, 8), (24, 2, 17), (25, 33, 40),
        // The AVX-512 kernel takes B panels in pairs (32 columns), then a single one, then leaves a partial one
        // to the AVX2 edge tile; its B blocks are 512 columns wide: 1,100 columns are three blocks, 34 pairs and
        // a partial panel of 12.
        (12, 1100, 70), (30, 48, 33), (10, 80, 260),
        // A transposed A times at most 32 columns is read in place whatever the depth: LSTM a's weight gradient
        // dPᵀ·h (64 gates, three depth blocks here), and with 6, 8, 148 and 150 rows above (20 columns: a pair
        // of panels in AVX-512, the partial one in the AVX2 edge tile).
        (64, 32, 600),
        // A large M keeps its packed A blocks for every B block of a depth block (AVX-512: two B blocks of 512
        // columns here, two row blocks, two depth blocks).
        (150, 530, 260),
        // A large M times at most 512 columns reads a row-major A in place whatever the depth, with alpha 1 and
        // whole panels: three row blocks (144, 144, 12), two depth blocks, 12 pairs of B panels, a single one and
        // a partial one (also 145 × 70 above, whose second row block of one row is packed).
        (300, 200, 300),
        // A partial panel of 1, 2, 3 or 5 rows gets an AVX-512 tile of exactly its rows (13, 7 and 37 rows above
        // end in one; 3 × 37 and 23 × 30 too when B is not transposed): two rows and five against pairs of panels.
        (2, 40, 30), (11, 70, 20),
    ]

    /// The micro-kernel's vector widths this CPU can run: AVX2 always (on x86), AVX-512 where present.
    static let vectorWidths: [Bool] = KernelInfo.avx512Usable ? [false, true] : [false]

    /// The micro-kernels this CPU can run, as (AVX-512, B panel outer): AVX2; and where AVX-512 is present, its
    /// tiles in both loop orders, whichever this CPU would choose (`GEMM.bPanelOuter`).
    static let kernels: [TileKernel] = [TileKernel(avx512: false, bPanelOuter: false)]
        + (KernelInfo.avx512Usable ? [TileKernel(avx512: true, bPanelOuter: false), TileKernel(avx512: true, bPanelOuter: true)] : [])

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)], kernels)
    func blockedMatchesReference(transposes: (Bool, Bool), kernel: TileKernel) {
        let (transposeA, transposeB) = transposes
        for (index, shape) in Self.shapes.enumerated() {
            for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (-0.5, 2)] {
                for threads in [1, 2] {
                    var fixture = MatrixFixture(transposeA: transposeA, transposeB: transposeB, m: shape.m, n: shape.n, k: shape.k, padding: index % 3, seed: UInt64(index + 1))
                    var expected = fixture.c
                    GEMM.reference(transposeA: transposeA, transposeB: transposeB, m: shape.m, n: shape.n, k: shape.k, alpha: alpha,
                                   a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, beta: beta, c: &expected, ldc: fixture.ldc)
                    GEMM.blocked(transposeA: transposeA, transposeB: transposeB, m: shape.m, n: shape.n, k: shape.k, alpha: alpha,
                                 a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, beta: beta, c: &fixture.c, ldc: fixture.ldc, threads: threads,
                                 avx512: kernel.avx512, bPanelOuter: kernel.bPanelOuter)
                    let worst = zip(fixture.c, expected).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
                    #expect(worst < 1e-4, "\(shape) transposeA=\(transposeA) transposeB=\(transposeB) alpha=\(alpha) beta=\(beta) threads=\(threads) \(kernel): worst relative error \(worst)")
                }
            }
        }
    }

    /// More rows than one super-block (`GEMM.rowSuperBlock`) of kept A blocks: the second super-block packs its
    /// own (A transposed and alpha −0.5, so it is packed, not read in place), kept over two B blocks with AVX-512.
    @Test(arguments: kernels)
    func rowsPastOneSuperBlock(kernel: TileKernel) {
        let (m, n, k) = (GEMM.rowSuperBlock + 10, 530, 3)
        var fixture = MatrixFixture(transposeA: true, transposeB: false, m: m, n: n, k: k, padding: 1, seed: 5)
        var expected = fixture.c
        GEMM.reference(transposeA: true, transposeB: false, m: m, n: n, k: k, alpha: -0.5, a: fixture.a, lda: fixture.lda,
                       b: fixture.b, ldb: fixture.ldb, beta: 1, c: &expected, ldc: fixture.ldc)
        GEMM.blocked(transposeA: true, transposeB: false, m: m, n: n, k: k, alpha: -0.5, a: fixture.a, lda: fixture.lda,
                     b: fixture.b, ldb: fixture.ldb, beta: 1, c: &fixture.c, ldc: fixture.ldc, avx512: kernel.avx512, bPanelOuter: kernel.bPanelOuter)
        let worst = zip(fixture.c, expected).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
        #expect(worst < 1e-4, "\(kernel): worst relative error \(worst)")
    }

    /// A deep weight gradient (Aᵀ·B over 2,101 rows) is summed in two halves of its depth: it must match the
    /// naive GEMM (odd depth, so the halves differ; B either way; beta 0, 1 and 2; garbage in C under beta 0),
    /// and give the same bits on one thread and on two, on either backend.
    @Test(arguments: [false, true])
    func deepWeightGradientSummedInDepthHalves(transposeB: Bool) {
        let (m, n, k) = (40, 53, 2101)
        #expect(GEMM.splitsDepth(transposeA: true, m: m, n: n, k: k))
        #expect(!GEMM.splitsDepth(transposeA: false, m: m, n: n, k: k) && !GEMM.splitsDepth(transposeA: true, m: m, n: n, k: 1000))
        let backends: [GEMMBackend] = SystemBLAS.shared == nil ? [.swift] : [.swift, .blas]
        for backend in backends {
            for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (-0.5, 2)] {
                var results: [[Float]] = []
                for threads in [1, 2] {
                    var fixture = MatrixFixture(transposeA: true, transposeB: transposeB, m: m, n: n, k: k, padding: 2, seed: 9)
                    var expected = fixture.c
                    GEMM.reference(transposeA: true, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                   a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, beta: beta, c: &expected, ldc: fixture.ldc)
                    if beta == 0 { fixture.c = [Float](repeating: .nan, count: fixture.c.count) }
                    GEMM.multiply(transposeA: true, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: fixture.a, lda: fixture.lda,
                                  b: fixture.b, ldb: fixture.ldb, beta: beta, c: &fixture.c, ldc: fixture.ldc, backend: backend, threads: threads)
                    let ldc = fixture.ldc
                    var worst: Float = 0, paddingKept = true
                    var values: [Float] = []
                    for i in 0..<m {
                        for j in 0..<n {
                            let got = fixture.c[i * ldc + j], want = expected[i * ldc + j]
                            worst = Swift.max(worst, got.isNaN ? .infinity : Swift.abs(got - want) / Swift.max(1, Swift.abs(want)))
                            values.append(got)
                        }
                        // The padding columns of C are left alone.
                        for j in n..<ldc where !(beta == 0 ? fixture.c[i * ldc + j].isNaN : fixture.c[i * ldc + j] == expected[i * ldc + j]) { paddingKept = false }
                    }
                    #expect(worst < 1e-4, "\(backend) alpha=\(alpha) beta=\(beta) threads=\(threads): worst relative error \(worst)")
                    #expect(paddingKept, "\(backend) alpha=\(alpha) beta=\(beta) threads=\(threads): a padding column of C changed")
                    results.append(values)
                }
                #expect(results[0] == results[1], "\(backend) alpha=\(alpha) beta=\(beta): one thread and two differ")
            }
        }
    }

    @Test func betaZeroIgnoresGarbageInC() {
        var fixture = MatrixFixture(transposeA: false, transposeB: false, m: 9, n: 20, k: 5, padding: 0, seed: 3)
        fixture.c = [Float](repeating: .nan, count: fixture.c.count)
        GEMM.blocked(m: 9, n: 20, k: 5, a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, beta: 0, c: &fixture.c, ldc: fixture.ldc)
        #expect(fixture.c.allSatisfy { $0.isFinite })
    }

    @Test func paddingColumnsAreNotTouched() {
        var fixture = MatrixFixture(transposeA: false, transposeB: false, m: 7, n: 18, k: 9, padding: 3, seed: 4)
        let before = fixture.c
        GEMM.blocked(m: 7, n: 18, k: 9, a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, c: &fixture.c, ldc: fixture.ldc)
        for row in 0..<7 { for column in 18..<21 { #expect(fixture.c[row * 21 + column] == before[row * 21 + column]) } }
    }

    @Test func emptyDepthScalesC() {
        var c: [Float] = [1, 2, 3, 4]
        GEMM.blocked(m: 2, n: 2, k: 0, a: [], lda: 1, b: [], ldb: 2, beta: 3, c: &c, ldc: 2)
        #expect(c == [3, 6, 9, 12])
    }

    @Test func float64MatchesReference() {
        let a: [Double] = (0..<35).map { Double($0) * 0.1 - 1 }, b: [Double] = (0..<35).map { 1 / Double($0 + 1) }
        for (transposeA, transposeB) in [(false, false), (true, true), (false, true), (true, false)] {
            var c = [Double](repeating: 1, count: 25), expected = c
            GEMM.reference(transposeA: transposeA, transposeB: transposeB, m: 5, n: 5, k: 7, alpha: 2, a: a, lda: transposeA ? 5 : 7, b: b, ldb: transposeB ? 7 : 5, beta: 0.5, c: &expected, ldc: 5)
            GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: 5, n: 5, k: 7, alpha: 2, a: a, lda: transposeA ? 5 : 7, b: b, ldb: transposeB ? 7 : 5, beta: 0.5, c: &c, ldc: 5, backend: .swift)
            #expect(zip(c, expected).allSatisfy { Swift.abs($0 - $1) < 1e-12 })
        }
    }

    @Test func systemBLASAgreesWhenPresent() throws {
        guard SystemBLAS.shared != nil else { return }   // nothing to compare on a machine without one
        var fixture = MatrixFixture(transposeA: true, transposeB: false, m: 33, n: 70, k: 40, padding: 1, seed: 5)
        var expected = fixture.c
        GEMM.reference(transposeA: true, m: 33, n: 70, k: 40, alpha: 1, a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, beta: 1, c: &expected, ldc: fixture.ldc)
        GEMM.multiply(transposeA: true, m: 33, n: 70, k: 40, a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, beta: 1, c: &fixture.c, ldc: fixture.ldc, backend: .blas, threads: 1)
        #expect(zip(fixture.c, expected).allSatisfy { Swift.abs($0 - $1) < 1e-4 })
    }

    /// The automatic backend's rule, by the shapes it was measured on: only deep weight gradients (Aᵀ·B), small
    /// or large, go to a loaded BLAS; every A·B and A·Bᵀ, and every shallow product, stays on the Swift kernel.
    @Test func automaticBackendSendsOnlyDeepWeightGradientsToBLAS() {
        #expect(GEMM.prefersSwiftKernel(m: 32, n: 64, k: 16))
        #expect(GEMM.prefersSwiftKernel(m: 6400, n: 1024, k: 256, transposeB: true))
        #expect(GEMM.prefersSwiftKernel(m: 3200, n: 2048, k: 512, transposeB: true))
        #expect(GEMM.prefersSwiftKernel(m: 3200, n: 512, k: 2048))
        #expect(GEMM.prefersSwiftKernel(m: 4, n: 5728, k: 512, transposeB: true))
        #expect(GEMM.prefersSwiftKernel(m: 1024, n: 1024, k: 1024))
        #expect(GEMM.prefersSwiftKernel(m: 768, n: 256, k: 256, transposeA: true))
        #expect(!GEMM.prefersSwiftKernel(m: 16, n: 16, k: 4096, transposeA: true))
        #expect(!GEMM.prefersSwiftKernel(m: 64, n: 16, k: 2048, transposeA: true))
        #expect(!GEMM.prefersSwiftKernel(m: 1024, n: 256, k: 3200, transposeA: true))
        #expect(!GEMM.prefersSwiftKernel(m: 2048, n: 512, k: 3200, transposeA: true, transposeB: true))
        #expect(!GEMM.prefersSwiftKernel(m: 768, n: 256, k: 257, transposeA: true))
    }

    /// An OpenBLAS older than the CPU runs its fallback kernels; the automatic backend must see that from the
    /// core name it reports.
    @Test func openBLASCoreNamesGiveTheirVectorWidth() {
        #expect(SystemBLAS.vectorBits(ofOpenBLASCore: "SkylakeX") == 512)
        #expect(SystemBLAS.vectorBits(ofOpenBLASCore: "Haswell") == 256)
        #expect(SystemBLAS.vectorBits(ofOpenBLASCore: "Zen") == 256)
        #expect(SystemBLAS.vectorBits(ofOpenBLASCore: "Prescott") == 128)
        #expect(SystemBLAS.vectorBits(ofOpenBLASCore: "NeoverseN1") == nil)
    }

    /// The micro-kernel's ceiling counts the FLOPs its tiles do: below the FMA peak (a tile cannot beat a loop of
    /// nothing but FMAs; counted twice over it would read up to twice the peak), and not a small fraction of it (a
    /// tile that did not run would read absurdly high or low). Other suites run beside this one on a 2-core
    /// machine, so each side is the best of five short trials, alternating: a trial that lost its core does not
    /// decide.
    @Test func microKernelCeilingIsAShareOfThePeak() {
        var peak = 0.0, ceiling = 0.0
        for _ in 0..<5 {
            peak = max(peak, MachinePeak.measureSingleCore(seconds: 0.02))
            ceiling = max(ceiling, MachinePeak.measureMicroKernel(seconds: 0.02))
        }
        #expect(ceiling > 0.3 * peak && ceiling < 1.3 * peak, "micro-kernel \(ceiling) GFLOP/s against a peak of \(peak)")
    }

    @Test func splitRangesCoverWithoutOverlap() {
        for (count, parts, granularity) in [(100, 2, 16), (5, 4, 6), (1024, 3, 16), (17, 8, 1)] {
            let ranges = splitRanges(count: count, parts: parts, granularity: granularity)
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(ranges.dropLast().allSatisfy { $0.upperBound % granularity == 0 })
        }
    }
}

@Suite struct ComputeSettingsTests {
    @Test func parsingRejectsNonsense() throws {
        #expect(throws: ComputeSettingsError.unknownBackend("cuda")) { try GEMMBackendPreference(parsing: "cuda") }
        #expect(try GEMMBackendPreference(parsing: "SWIFT") == .forced(.swift))
        #expect(throws: ComputeSettingsError.invalidThreadCount("-2")) { try ComputeSettings.parseThreads("-2") }
        #expect(throws: ComputeSettingsError.invalidThreadCount("0")) { try ComputeSettings.parseThreads("0") }
        #expect(throws: ComputeSettingsError.invalidThreadCount("two")) { try ComputeSettings.parseThreads("two") }
        #expect(try ComputeSettings.parseThreads(" 2 ") == 2)
        #expect(throws: ComputeSettingsError.invalidThreadCount("0")) { try ComputeSettings.setThreads(0) }
        if !KernelInfo.avx512Usable {
            #expect(throws: ComputeSettingsError.avx512Unavailable) { try ComputeSettings.setAVX512(true) }
            #expect(!ComputeSettings.usesAVX512)
        }
    }
}

@Suite struct PackedGEMMTests {
    /// alpha 0.5 packs A; alpha 1 with whole six- and four-row panels and a depth up to 64 reads A in place
    /// (32 rows: four six-row panels and two four-row ones; 148: a second row block of four rows).
    /// 1,060 columns: the AVX-512 kernel walks a pre-packed B in 512-column chunks, the last ending in a partial panel.
    @Test(arguments: [false, true], GEMMTests.kernels)
    func prepackedMatchesReference(transposed: Bool, kernel: TileKernel) {
        for (m, n, k) in [(5, 17, 3), (64, 70, 300), (150, 33, 513), (1, 1, 1), (32, 48, 40), (20, 33, 17), (32, 64, 16), (148, 24, 64), (10, 1060, 40)] {
            for (threads, alpha) in [(1, Float(0.5)), (2, 0.5), (1, 1), (2, 1)] {
                let fixture = MatrixFixture(transposeA: false, transposeB: transposed, m: m, n: n, k: k, padding: 1, seed: UInt64(m + n))
                var expected = fixture.c, actual = fixture.c
                GEMM.reference(transposeB: transposed, m: m, n: n, k: k, alpha: alpha, a: fixture.a, lda: fixture.lda, b: fixture.b, ldb: fixture.ldb, beta: 1, c: &expected, ldc: fixture.ldc)
                let packed = fixture.b.withUnsafeBufferPointer { PackedGEMMOperand(transposed: transposed, b: $0.baseAddress!, ldb: fixture.ldb, depth: k, columns: n) }
                GEMM.multiply(m: m, alpha: alpha, a: fixture.a, lda: fixture.lda, packed: packed, beta: 1, c: &actual, ldc: fixture.ldc, threads: threads,
                              avx512: kernel.avx512, bPanelOuter: kernel.bPanelOuter)
                let worst = zip(actual, expected).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
                #expect(worst < 1e-4, "(\(m), \(n), \(k)) transposed=\(transposed) threads=\(threads) alpha=\(alpha) \(kernel): \(worst)")
            }
        }
    }
}

/// One choice of GEMM micro-kernel for the tests that run each.
struct TileKernel: Sendable, CustomTestStringConvertible {
    let avx512: Bool, bPanelOuter: Bool
    var testDescription: String { avx512 ? "AVX-512, \(bPanelOuter ? "B" : "A") panel outer" : "AVX2" }
}
