// GEMM against a right-hand operand packed once and used many times: the recurrent weights, multiplied by a
// small batch of hidden states at every time step. A BLAS call repacks the whole weight each step (for a
// (64, 256)·(256, 1024) step that copy costs about a third of the multiply); packing it once per sequence
// leaves each step with only the small left operand to pack, or none when it is read in place (see
// `GEMM.readsAInPlace`).

/// op(B), (K, N), packed into the blocked kernel's panel layout: for each depth block of up to KC rows, the
/// NR-wide column panels one after another, zero-padded to a multiple of NR columns.
public final class PackedGEMMOperand: @unchecked Sendable {
    public let depth: Int
    public let columns: Int
    let paddedColumns: Int
    let panels: UnsafeMutablePointer<Float>

    /// Packs op(B) (K, N) from B stored (K, N), or (N, K) when `transposed`, with row stride `ldb`.
    public init(transposed: Bool, b: UnsafePointer<Float>, ldb: Int, depth: Int, columns: Int) {
        GEMM.checkStrides(transposeA: false, transposeB: transposed, m: 0, n: columns, k: depth, lda: max(1, depth), ldb: ldb, ldc: max(1, columns))
        self.depth = depth
        self.columns = columns
        paddedColumns = (columns + GEMM.microColumns - 1) / GEMM.microColumns * GEMM.microColumns
        let count = max(1, depth * paddedColumns)
        panels = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        for pc in stride(from: 0, to: depth, by: GEMM.depthBlock) {
            GEMM.packBBlock(transposeB: transposed, b: b, ldb: ldb, row: pc, column: 0, depth: min(GEMM.depthBlock, depth - pc),
                            columns: columns, into: panels + pc * paddedColumns)
        }
    }

    deinit { panels.deallocate() }
}

extension GEMM {
    /// C = alpha·op(A)·B + beta·C with B packed beforehand, on the Swift kernel, split over `threads` by columns
    /// (`avx512` as in `blocked`; `bPanelOuter` defaults to this CPU's choice for B's size, `prefersBPanelOuter`).
    public static func multiply(
        transposeA: Bool = false, m: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        packed b: PackedGEMMOperand, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int? = nil,
        avx512: Bool? = nil, bPanelOuter: Bool? = nil
    ) {
        let wide = (avx512 ?? ComputeSettings.usesAVX512) && KernelInfo.avx512Usable
        let order = bPanelOuter ?? GEMM.prefersBPanelOuter(floats: b.depth * b.paddedColumns)
        let n = b.columns, k = b.depth
        checkStrides(transposeA: transposeA, transposeB: false, m: m, n: n, k: k, lda: lda, ldb: max(1, n), ldc: ldc)
        guard m > 0, n > 0 else { return }
        guard k > 0, alpha != 0 else {
            scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        let usefulThreads = max(1, min(threads ?? ComputeSettings.threads, m * n * k / minimumWorkPerThread))
        /// C's columns `range`, on the calling thread.
        func multiplyColumns(_ range: Range<Int>) {
            let packedARows = (min(m, rowBlock) + microRows - 1) / microRows * microRows
            let scratch = GEMMScratch.take(aCount: packedARows * depthBlock, bCount: 0)
            defer { GEMMScratch.give(scratch) }
            for pc in stride(from: 0, to: k, by: depthBlock) {
                let depth = min(depthBlock, k - pc)
                let betaNow: Float = pc == 0 ? beta : 1
                // Panel q of this depth block starts at q·NR·depth; the range starts on a panel boundary.
                let bBlock = b.panels + pc * b.paddedColumns + range.lowerBound * depth
                // What this thread's tiles read after a row block: the same B block for the next rows, or the next
                // depth block's columns of this range (fetched ahead into L2 by the tiles; see `macroKernel`).
                let nextDepthBlock = pc + depthBlock < k ? b.panels + (pc + depthBlock) * b.paddedColumns + range.lowerBound * min(depthBlock, k - pc - depthBlock) : nil
                for ic in stride(from: 0, to: m, by: rowBlock) {
                    let rows = min(rowBlock, m - ic)
                    let block = aBlock(transposeA: transposeA, a: a, lda: lda, row: ic, column: pc, rows: rows, depth: depth, columns: range.count, alpha: alpha, scratch: scratch.a)
                    macroKernel(rows: rows, columns: range.count, depth: depth, a: block.a, inPlace: block.inPlace, b: bBlock,
                                c: c + ic * ldc + range.lowerBound, ldc: ldc, beta: betaNow, edgeTile: scratch.edge, wide: wide,
                                bPanelOuter: order, nextBlock: ic + rowBlock < m ? bBlock : nextDepthBlock)
                }
            }
        }
        // One thread (a recurrent step on one core, many times a sequence) allocates no list of ranges.
        if usefulThreads == 1 {
            multiplyColumns(0..<n)
            return
        }
        let ranges = splitRanges(count: n, parts: usefulThreads, granularity: microColumns)
        parallelFor(parts: ranges.count) { multiplyColumns(ranges[$0]) }
    }
}
