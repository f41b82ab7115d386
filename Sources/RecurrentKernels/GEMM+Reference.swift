// The naive GEMM: the definition, written as plainly as possible. It is the oracle the fast kernels are tested
// and benchmarked against, so it must stay obviously right rather than fast.

extension GEMM {
    /// C[i][j] = alpha · Σ_p op(A)[i][p] · op(B)[p][j] + beta · C[i][j], one dot product per element.
    public static func reference<T: GEMMScalar>(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: T = 1,
        a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
        beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        checkStrides(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        for i in 0..<m {
            for j in 0..<n {
                c[i * ldc + j] = referenceElement(
                    i: i, j: j, transposeA: transposeA, transposeB: transposeB, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, cOld: c[i * ldc + j])
            }
        }
    }

    /// One element of the reference product; `cOld` is ignored when beta == 0.
    public static func referenceElement<T: GEMMScalar>(
        i: Int, j: Int, transposeA: Bool, transposeB: Bool, k: Int, alpha: T,
        a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int, beta: T, cOld: T
    ) -> T {
        var sum: T = 0
        for p in 0..<k {
            let aValue = transposeA ? a[p * lda + i] : a[i * lda + p]
            let bValue = transposeB ? b[j * ldb + p] : b[p * ldb + j]
            sum += aValue * bValue
        }
        return beta == 0 ? alpha * sum : alpha * sum + beta * cOld
    }

    /// A simple generic loop that streams rows of op(B) (i-p-j order, vectorisable): fast enough for Float64
    /// gradient checks, no packing or threads.
    static func rowStreaming<T: GEMMScalar>(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: T,
        a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
        beta: T, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
        guard m > 0, n > 0, k > 0, alpha != 0 else { return }
        // op(B) as a contiguous (K, N) matrix when B is stored transposed.
        let bRows = UnsafeMutablePointer<T>.allocate(capacity: transposeB ? k * n : 0)
        defer { bRows.deallocate() }
        if transposeB {
            for p in 0..<k { for j in 0..<n { bRows[p * n + j] = b[j * ldb + p] } }
        }
        let bBase = transposeB ? UnsafePointer(bRows) : b
        let bStride = transposeB ? n : ldb
        for i in 0..<m {
            let cRow = c + i * ldc
            for p in 0..<k {
                let aValue = alpha * (transposeA ? a[p * lda + i] : a[i * lda + p])
                let bRow = bBase + p * bStride
                for j in 0..<n { cRow[j] += aValue * bRow[j] }
            }
        }
    }
}
