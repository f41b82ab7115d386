// General matrix multiply, the heart of every layer: C = alpha·op(A)·op(B) + beta·C, all row-major.
//
// Shape legend: op(A) is (M, K), op(B) is (K, N), C is (M, N). `transposeA` means A is stored (K, M) and used
// transposed; likewise B stored (N, K). lda/ldb/ldc are row strides in elements. Backward needs all three
// forms: dX = dY·W (A·B), dW = dYᵀ·X (Aᵀ·B), Y = X·Wᵀ (A·Bᵀ), each with beta = 1 to accumulate.
//
// Three implementations: `reference` (the naive triple loop, the specification), `blocked` (packed panels and
// a register-blocked SIMD micro-kernel, split over the cores) and the system BLAS when one is loaded.

/// Element types the GEMM entry points accept.
public protocol GEMMScalar: BinaryFloatingPoint, Sendable {}
extension Float: GEMMScalar {}
extension Double: GEMMScalar {}

public enum GEMM {
    /// Multiplies with the active backend and thread count (see `ComputeSettings`), or the ones given.
    public static func multiply(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
        backend: GEMMBackend? = nil, threads: Int? = nil
    ) {
        checkStrides(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        let threads = threads ?? ComputeSettings.threads
        let chosen = backend ?? ComputeSettings.activeBackend
        // Left to choose, only deep products in the weight-gradient form (Aᵀ·B, depth > 256) go to the BLAS; the
        // Swift kernel measured faster or even everywhere else. At depth ≤ 256 OpenBLAS spends a separate pass
        // zeroing C, its packing is a large share of the work and its call overhead shows on small products:
        // 1.33–1.67× at depth 32–64 and 1.11–1.29× at depth 256 (1 and 2 threads), 48 vs 36 GFLOP/s at
        // 32×16·16×64. Deeper A·B and A·Bᵀ measured 0.99–1.10× (3200×512·512×2048 NT, 3200×2048·2048×512,
        // 512×5728·5728×256, 2048³ NT, 64×2048·2048×32); whole LSTM training steps (shapes d and e) came out the
        // same within noise either way. Deep weight gradients Aᵀ·B measured 0.38–0.92× at every size tried, from
        // 16×4096·4096×16 to 2048×3200·3200×1024, so they went to the BLAS; since the transposed-A packing copies
        // whole panels as vectors they run level (1 thread 0.90–1.24× at the weight gradients of the LSTM bench
        // shapes, the char-LM and the translation model; 2 threads 0.96–1.10×), and the BLAS keeps them.
        // A few rows times a transposed B (a decoder step) take the row-dot kernel: 2.4× at 6×512·512×2048,
        // 1.1× at 24×512·512×2048.
        let automatic = backend == nil && ComputeSettings.backendPreference == .automatic
        // A split product's halves are at least 512 deep, so they go where the whole would.
        let keepsToSwift = Self.prefersSwiftKernel(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
            || SystemBLAS.shared?.kernelsKeepUpWithOurs == false
        let backend = automatic && keepsToSwift ? .swift : chosen
        if splitsDepth(transposeA: transposeA, m: m, n: n, k: k) {
            inDepthHalves(transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads) {
                (m, n, k, a, lda, b, ldb, beta, c, ldc, threads) in
                whole(transposeA: true, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc, backend: backend, threads: threads)
            }
            return
        }
        whole(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              beta: beta, c: c, ldc: ldc, backend: backend, threads: threads)
    }

    /// One product on one backend, split over `threads` by rows or columns of C.
    static func whole(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, backend: GEMMBackend, threads: Int
    ) {
        if backend == .blas, m > 0, n > 0, k > 0, let blas = SystemBLAS.shared, SystemBLAS.fits(m, n, k, lda, ldb, ldc) {
            blas.sgemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads)
        } else {
            blocked(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads)
        }
    }

    /// Float64 multiply, used by gradient checks: the system BLAS's dgemm when it runs, else a simple
    /// cache-friendly loop (Float64 is for checking, not for speed).
    public static func multiply(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Double = 1,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int,
        backend: GEMMBackend? = nil, threads: Int? = nil
    ) {
        checkStrides(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        let backend = backend ?? ComputeSettings.activeBackend
        if backend == .blas, m > 0, n > 0, k > 0, let blas = SystemBLAS.shared, blas.hasDoublePrecision,
           SystemBLAS.fits(m, n, k, lda, ldb, ldc) {
            blas.dgemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads ?? ComputeSettings.threads)
        } else {
            rowStreaming(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// Weight gradients Aᵀ·B at least this deep (K: one row per sample and time step) are summed in two halves.
    public static let depthSplitMinimum = 1024

    /// Whether op(A)·op(B) is summed as two halves of its depth (see `inDepthHalves`). It depends on the shape
    /// alone, never on the thread count, so one thread and two give the same bits.
    public static func splitsDepth(transposeA: Bool, m: Int, n: Int, k: Int) -> Bool {
        transposeA && k >= depthSplitMinimum && m * n * k >= 2 * minimumWorkPerThread
    }

    /// C = alpha·Aᵀ·op(B) + beta·C as the sum of two products over the halves of the depth: the first into C, the
    /// second into a scratch matrix added to C afterwards, whatever the thread count (so the bits do not depend
    /// on it). With two threads or more each half runs on its own core.
    ///
    /// Why: a weight gradient is a small C (G·H, H) over thousands of rows. Split by rows of C (as `whole` splits
    /// it, C having more rows than columns), two cores measured 1.1–1.6× one core's speed at
    /// (1024, 3200)·(3200, 256) on either backend, while the other forms reach 1.85–1.9×; split by depth,
    /// 1.95–2.0× in the same runs. Each core then reads its own half of A and of B.
    static func inDepthHalves(
        transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int,
        _ product: (_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ threads: Int) -> Void
    ) {
        let firstDepth = k / 2
        let partial = UnsafeMutableRawPointer.allocate(byteCount: m * n * MemoryLayout<Float>.stride, alignment: 64).bindMemory(to: Float.self, capacity: m * n)
        defer { partial.deallocate() }
        // A is stored (K, M): the second half starts firstDepth rows down; op(B) (K, N) likewise, by rows of B or
        // (stored transposed) by columns.
        let secondB = transposeB ? b + firstDepth : b + firstDepth * ldb
        // With more than two threads each half splits again over its share (an odd one goes to the second half).
        let cores = min(2, threads), firstThreads = max(1, threads / 2), secondThreads = max(1, threads - threads / 2)
        func half(_ index: Int) {
            if index == 0 {
                product(m, n, firstDepth, a, lda, b, ldb, beta, c, ldc, firstThreads)
            } else {
                product(m, n, k - firstDepth, a + firstDepth * lda, lda, secondB, ldb, 0, partial, n, secondThreads)
            }
        }
        if cores == 2 { parallelFor(parts: 2, half) } else { half(0); half(1) }
        let rows = splitRanges(count: m, parts: min(threads, max(1, m * n >> 16)), granularity: 1)
        parallelFor(parts: rows.count) { part in
            for i in rows[part] {
                let target = c + i * ldc, source = UnsafePointer(partial + i * n)
                for j in 0..<n { target[j] += source[j] }
            }
        }
    }

    /// Products with A transposed this shallow or shallower (K) run on the Swift kernel when the backend is automatic.
    public static let shallowDepthLimit = 256

    /// Whether the automatic backend keeps op(A)·op(B) on the Swift kernel even when a BLAS is loaded: everything
    /// but a deep product with A transposed (a weight gradient). (`multiply` keeps that too on the Swift kernel
    /// when the BLAS's kernels are narrower than ours: `SystemBLAS.kernelsKeepUpWithOurs`.)
    public static func prefersSwiftKernel(m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false) -> Bool {
        !transposeA || k <= shallowDepthLimit
    }

    /// Strides too small for the shapes would read or write out of bounds: that is a bug in the caller.
    static func checkStrides(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
        require(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size m=\(m) n=\(n) k=\(k)")
        require(lda >= max(1, transposeA ? m : k), "GEMM: lda=\(lda) too small for op(A) (\(m), \(k))")
        require(ldb >= max(1, transposeB ? k : n), "GEMM: ldb=\(ldb) too small for op(B) (\(k), \(n))")
        require(ldc >= max(1, n), "GEMM: ldc=\(ldc) too small for C (\(m), \(n))")
    }

    /// C = beta·C, with beta == 0 writing zeros (so NaNs in uninitialised C do not survive).
    @inlinable
    static func scale<T: GEMMScalar>(m: Int, n: Int, beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                row.update(repeating: 0, count: n)
            } else if beta != 1 {
                for j in 0..<n { row[j] *= beta }
            }
        }
    }
}
