// A product of a few rows with a right operand stored transposed, C = alpha·A·Bᵀ + beta·C with B stored (N, K):
// every value of C is the dot product of two contiguous rows. A decoder step is this form — a beam of one to
// four hidden states times an output layer thousands of words wide, or times a GRU's input weight — and for it
// the blocked kernel's packing of all of B on every call costs more than the multiply itself (measured: 12.5
// GFLOP/s at 4×256·256×5728, most of a beam search's time). Here B streams through once, four rows at a
// time, and each pass over K serves two rows of A from eight accumulators.

extension GEMM {
    /// Products with at most this many rows of C, B stored transposed and A not, take `rowDots`. Measured against
    /// the blocked kernel, 1 thread, GFLOP/s: 17 / 3.5 at 1×256·256×5728, 41 / 14 at 4×256·256×768, 45 / 14 at
    /// 6×512·512×2048, 44 / 32 at 12×256·256×5728, 57 / 41 at 24×512·512×2048, even at 32×256·256×1024 and
    /// behind at 64 rows, where packing B pays for itself.
    public static let rowDotRowLimit = 24

    static func prefersRowDots(transposeA: Bool, transposeB: Bool, m: Int) -> Bool {
        transposeB && !transposeA && m <= rowDotRowLimit
    }

    /// C (M, N) = alpha · A (M, K) · Bᵀ + beta · C, B stored (N, K); split over `threads` by ranges of B's rows.
    static func rowDots(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        let usefulThreads = max(1, min(threads, m * n * k / minimumWorkPerThread))
        let ranges = splitRanges(count: n, parts: usefulThreads, granularity: 4)
        parallelFor(parts: ranges.count) { part in
            for j in stride(from: ranges[part].lowerBound, to: ranges[part].upperBound, by: 4) {
                let columns = min(4, ranges[part].upperBound - j)
                // A short last group repeats its last row of B (a valid read) and drops those results.
                let b0 = b + j * ldb
                let b1 = columns > 1 ? b0 + ldb : b0, b2 = columns > 2 ? b0 + 2 * ldb : b1, b3 = columns > 3 ? b0 + 3 * ldb : b2
                var i = 0
                while i < m {
                    let pair = i + 1 < m
                    let a0 = a + i * lda, a1 = pair ? a0 + lda : a0
                    let sums = dots2x4(depth: k, a0, a1, b0, b1, b2, b3)
                    store(sums.lowHalf, alpha: alpha, beta: beta, into: c + i * ldc + j, count: columns)
                    if pair { store(sums.highHalf, alpha: alpha, beta: beta, into: c + (i + 1) * ldc + j, count: columns) }
                    i += 2
                }
            }
        }
    }

    @inline(__always)
    static func store(_ sums: SIMD4<Float>, alpha: Float, beta: Float, into c: UnsafeMutablePointer<Float>, count: Int) {
        for column in 0..<count {
            c[column] = beta == 0 ? alpha * sums[column] : alpha * sums[column] + beta * c[column]
        }
    }

    /// The eight dot products of rows a0, a1 with rows b0 … b3 (length `depth`), as [a0·b0 … a0·b3, a1·b0 … a1·b3].
    @inline(__always)
    static func dots2x4(
        depth: Int, _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>,
        _ b0: UnsafePointer<Float>, _ b1: UnsafePointer<Float>, _ b2: UnsafePointer<Float>, _ b3: UnsafePointer<Float>
    ) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        var s00 = V(), s01 = V(), s02 = V(), s03 = V(), s10 = V(), s11 = V(), s12 = V(), s13 = V()
        let ra0 = UnsafeRawPointer(a0), ra1 = UnsafeRawPointer(a1)
        let rb0 = UnsafeRawPointer(b0), rb1 = UnsafeRawPointer(b1), rb2 = UnsafeRawPointer(b2), rb3 = UnsafeRawPointer(b3)
        var offset = 0
        let vectorEnd = depth / 8 * 32
        while offset < vectorEnd {
            let x0 = ra0.loadUnaligned(fromByteOffset: offset, as: V.self), x1 = ra1.loadUnaligned(fromByteOffset: offset, as: V.self)
            let y0 = rb0.loadUnaligned(fromByteOffset: offset, as: V.self), y1 = rb1.loadUnaligned(fromByteOffset: offset, as: V.self)
            let y2 = rb2.loadUnaligned(fromByteOffset: offset, as: V.self), y3 = rb3.loadUnaligned(fromByteOffset: offset, as: V.self)
            s00 = s00.addingProduct(x0, y0); s01 = s01.addingProduct(x0, y1); s02 = s02.addingProduct(x0, y2); s03 = s03.addingProduct(x0, y3)
            s10 = s10.addingProduct(x1, y0); s11 = s11.addingProduct(x1, y1); s12 = s12.addingProduct(x1, y2); s13 = s13.addingProduct(x1, y3)
            offset += 32
        }
        var result = SIMD8<Float>(
            lowHalf: horizontalSums(s00, s01, s02, s03),
            highHalf: horizontalSums(s10, s11, s12, s13))
        for p in (depth / 8 * 8)..<depth {
            result += SIMD8<Float>(lowHalf: SIMD4(b0[p], b1[p], b2[p], b3[p]) * a0[p], highHalf: SIMD4(b0[p], b1[p], b2[p], b3[p]) * a1[p])
        }
        return result
    }

    /// [Σ lanes of w, Σ x, Σ y, Σ z], folding halves so the additions stay in vector registers.
    @inline(__always)
    static func horizontalSums(_ w: SIMD8<Float>, _ x: SIMD8<Float>, _ y: SIMD8<Float>, _ z: SIMD8<Float>) -> SIMD4<Float> {
        let w4 = w.lowHalf + w.highHalf, x4 = x.lowHalf + x.highHalf, y4 = y.lowHalf + y.highHalf, z4 = z.lowHalf + z.highHalf
        // Pairs (w, x) and (y, z) side by side, then fold again: lane i ends holding the sum of vector i.
        let wx = SIMD4(lowHalf: w4.evenHalf, highHalf: x4.evenHalf) + SIMD4(lowHalf: w4.oddHalf, highHalf: x4.oddHalf)
        let yz = SIMD4(lowHalf: y4.evenHalf, highHalf: z4.evenHalf) + SIMD4(lowHalf: y4.oddHalf, highHalf: z4.oddHalf)
        return SIMD4(lowHalf: wx.evenHalf, highHalf: yz.evenHalf) + SIMD4(lowHalf: wx.oddHalf, highHalf: yz.oddHalf)
    }
}
