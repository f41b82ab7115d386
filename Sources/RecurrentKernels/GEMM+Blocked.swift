#if arch(x86_64) && RECURRENT_X86_FMA
import _Builtin_intrinsics.intel
#endif
import RecurrentAVX512

// The fast Float32 GEMM, in the style of BLIS (Van Zee & van de Geijn):
//
//   for pc in K by KC
//     for jc in N by NC            B block (KC, NC) packed, lives in L2/L3
//       for ic in M by MC        A block (MC, KC) packed into L2 with the first B block, alpha folded in
//         for ir in MC by MR     A micro-panel (MR, KC) held in L1
//           for jr in NC by NR   micro-kernel: a (MR, NR) tile of C held in registers across KC
//
// (BLIS puts jr outside ir; here the A panel stays in L1 while B streams, which measured faster on Zen 3.)
// Packing copies op(A) and op(B) into contiguous, zero-padded panels so the micro-kernel sees one layout for
// every transpose case and never branches on edges. With a single A block (M ≤ MC, the RNN case of a small
// batch times a wide weight) A is packed once per depth block. A shallow block (depth ≤ 64) of a plain A, or a
// transposed A times at most 32 columns, with alpha 1 and whole six- and four-row panels, is read in place
// instead (`readsAInPlace`). Threads take disjoint
// column (or row) ranges of C and run the serial algorithm.

extension GEMM {
    // MR × NR = 6 × 16: twelve 8-lane accumulators plus two B vectors and one broadcast A value fill the 16
    // vector registers of AVX2 (and leave room on arm64's 32). KC keeps a B micro-panel (16 KiB) in L1, MC an A
    // block (144 KiB) in L2, NC a B block (4 MiB) in L3.
    static let microRows = 6
    static let microColumns = 16
    static let depthBlock = 256
    static let rowBlock = 144
    static let columnBlock = 4080
    /// NC for the AVX-512 kernel: a (KC, NC) B block of 512 KiB, in L2. Measured on a 2 MiB-L2 Xeon (one run,
    /// OpenBLAS's AVX-512 kernels beside): (64, 512)·(512, 2048) 0.75× OpenBLAS with NC = 4080, 0.94× with
    /// 1024, 1.04–1.16× with 512, 1.04× with 256; squares within noise of each other from 512 to 1024.
    static let wideColumnBlock = 512
    /// Below this many multiply-adds per thread, waking another thread costs more than it saves.
    static let minimumWorkPerThread = 1 << 21

    /// The blocked SIMD kernel, split over `threads`. `avx512` chooses the micro-kernel's vectors (default: the
    /// process setting, `ComputeSettings.usesAVX512`); asking for AVX-512 where the CPU lacks it runs AVX2.
    /// `bPanelOuter` chooses the AVX-512 loop order (default: A panel outer, which measured faster for these
    /// one-off products on both the Zen 5 and the Xeon; see `GEMM.bPanelOuter`).
    public static func blocked(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1, avx512: Bool? = nil, bPanelOuter: Bool? = nil
    ) {
        let wide = (avx512 ?? ComputeSettings.usesAVX512) && KernelInfo.avx512Usable
        let order = bPanelOuter ?? false
        checkStrides(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        guard m > 0, n > 0 else { return }
        guard k > 0, alpha != 0 else {
            scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        if prefersRowDots(transposeA: transposeA, transposeB: transposeB, m: m) {
            rowDots(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads)
            return
        }
        let usefulThreads = max(1, min(threads, m * n * k / minimumWorkPerThread))
        // Split the longer side of C (in whole tiles) so each thread keeps full-width micro-kernels.
        let splitColumns = (n + microColumns - 1) / microColumns >= (m + microRows - 1) / microRows
        let ranges = splitColumns
            ? splitRanges(count: n, parts: usefulThreads, granularity: microColumns)
            : splitRanges(count: m, parts: usefulThreads, granularity: microRows)
        parallelFor(parts: ranges.count) { part in
            let range = ranges[part]
            if splitColumns {
                let bOffset = transposeB ? range.lowerBound * ldb : range.lowerBound
                serialBlocked(
                    transposeA: transposeA, transposeB: transposeB, m: m, n: range.count, k: k, alpha: alpha,
                    a: a, lda: lda, b: b + bOffset, ldb: ldb, beta: beta, c: c + range.lowerBound, ldc: ldc, wide: wide, bPanelOuter: order)
            } else {
                let aOffset = transposeA ? range.lowerBound : range.lowerBound * lda
                serialBlocked(
                    transposeA: transposeA, transposeB: transposeB, m: range.count, n: n, k: k, alpha: alpha,
                    a: a + aOffset, lda: lda, b: b, ldb: ldb, beta: beta, c: c + range.lowerBound * ldc, ldc: ldc, wide: wide, bPanelOuter: order)
            }
        }
    }

    static func serialBlocked(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, wide: Bool, bPanelOuter: Bool
    ) {
        let mr = microRows, nr = microColumns
        // A small M (a batch of hidden states times a wide weight) fits one A block: pack it once per depth
        // block, then B block by block. A B block larger than one sliver of two panels goes sliver by sliver
        // instead: the sliver (32 columns × KC, 32 KiB) is packed into L1 and every A panel multiplies it there,
        // where the whole block, packed first, was read from L2 once per A panel. Measured (AVX-512, Zen 5, one
        // call): (64, 512)·(512, 2048) 0.88 → 0.66 ms, (100, 256)·(256, 3000) 0.87 → 0.69, (144, 1024)·(1024, 1024)
        // 1.56 → 1.36; B stored transposed even; a B of one sliver or less keeps one block (two calls cost more there).
        let smallM = m <= rowBlock
        let bBlockWidth = wide ? wideColumnBlock : columnBlock
        // A large M keeps every packed A block of a depth block (up to `rowSuperBlock` rows) for all the B blocks,
        // so each value of A is packed once per depth block whatever N is; packed per B block, it was packed N / NC
        // times, 10 % of a 2048³ product (the same FMAs in the same order, so the same bits). Measured (AVX-512,
        // Zen 5, 1 thread, medians of 8 runs against OpenBLAS SkylakeX in each): 2048³ 0.94 → 0.98–1.00×, 1024³
        // 0.98 → 1.01×. With one B block there is nothing to keep: every A block goes into the same buffer, which
        // stays in cache (distinct buffers cost 512³ 2 %).
        let superRows = min(m, rowSuperBlock)
        let keepsABlocks = !smallM && n > bBlockWidth
        let packedARows = keepsABlocks ? (superRows + rowBlock - 1) / rowBlock * rowBlock : (min(m, rowBlock) + mr - 1) / mr * mr
        let packedBColumns = (min(n, bBlockWidth) + nr - 1) / nr * nr
        let scratch = GEMMScratch.take(aCount: packedARows * depthBlock, bCount: packedBColumns * depthBlock)
        defer { GEMMScratch.give(scratch) }
        let packedA = scratch.a, packedB = scratch.b

        if smallM {
            for pc in stride(from: 0, to: k, by: depthBlock) {
                let depth = min(depthBlock, k - pc)
                let betaNow: Float = pc == 0 ? beta : 1
                let block = aBlock(transposeA: transposeA, a: a, lda: lda, row: 0, column: pc, rows: m, depth: depth, columns: n, alpha: alpha, scratch: packedA)
                let sliver = n * depth > 2 * nr * depthBlock ? 2 * nr : bBlockWidth
                for jc in stride(from: 0, to: n, by: sliver) {
                    let columns = min(sliver, n - jc)
                    packBBlock(transposeB: transposeB, b: b, ldb: ldb, row: pc, column: jc, depth: depth, columns: columns, into: packedB)
                    macroKernel(rows: m, columns: columns, depth: depth, a: block.a, inPlace: block.inPlace, b: packedB, c: c + jc, ldc: ldc, beta: betaNow, edgeTile: scratch.edge, wide: wide,
                                bPanelOuter: bPanelOuter)
                }
            }
        } else {
            for superStart in stride(from: 0, to: m, by: superRows) {
                let superCount = min(superRows, m - superStart)
                for pc in stride(from: 0, to: k, by: depthBlock) {
                    let depth = min(depthBlock, k - pc)
                    let betaNow: Float = pc == 0 ? beta : 1
                    for jc in stride(from: 0, to: n, by: bBlockWidth) {
                        let columns = min(bBlockWidth, n - jc)
                        packBBlock(transposeB: transposeB, b: b, ldb: ldb, row: pc, column: jc, depth: depth, columns: columns, into: packedB)
                        for ic in stride(from: 0, to: superCount, by: rowBlock) {
                            let rows = min(rowBlock, superCount - ic), row = superStart + ic
                            // Packed with the first B block, just before its first use (while it is in L2).
                            let block = aBlock(transposeA: transposeA, a: a, lda: lda, row: row, column: pc, rows: rows, depth: depth, columns: n, alpha: alpha,
                                               scratch: keepsABlocks ? packedA + ic * depthBlock : packedA, pack: jc == 0, narrowInPlace: true)
                            macroKernel(rows: rows, columns: columns, depth: depth, a: block.a, inPlace: block.inPlace, b: packedB, c: c + row * ldc + jc, ldc: ldc,
                                        beta: betaNow, edgeTile: scratch.edge, wide: wide, bPanelOuter: bPanelOuter)
                        }
                    }
                }
            }
        }
    }

    /// Rows of A whose packed blocks are kept at once for a large M: 16 384 rows × KC = 16 MiB of scratch at most.
    /// Public for the tests that cross it.
    public static let rowSuperBlock = 16_384

    /// C block (rows, columns) = beta·C + packed A block · packed B block, A micro-panel outer: each A panel
    /// stays in L1 while the B panels stream past it from L2/L3. Measured on a Zen 5 core against the
    /// B-panel-outer order as it then was (B panel in L1, A panels streamed, no prefetch of the next B): 90
    /// against 80 GFLOP/s at (64, 512)·(512, 2048) with B pre-packed, up to 95 on recurrent steps, and no loss on
    /// large squares. (Those GFLOP/s predate the corrected peak; the ratio stands.) Against a pre-packed B on
    /// Intel cores, AVX-512 takes the other order, with prefetching (`bPanelOuter`).
    ///
    /// A is the packed block, or with `inPlace` the block read where it lies (see `readsAInPlace`). `nextBlock`
    /// is the B the caller reads after this block, if any: with a pre-packed B, whose chunks stream from L3, the
    /// tiles fetch it ahead as they do each next chunk (measured on a Xeon with 2 MB of L2, B packed:
    /// (64, 512)·(512, 2048) 140 → 150 GFLOP/s, (32, 512)·(512, 2048) 122 → 143, no change where B fits L2).
    @inline(__always)
    static func macroKernel(
        rows: Int, columns: Int, depth: Int, a: UnsafePointer<Float>, inPlace: InPlaceStrides? = nil, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float, edgeTile: UnsafeMutablePointer<Float>, wide: Bool,
        bPanelOuter: Bool, nextBlock: UnsafePointer<Float>? = nil
    ) {
        let panels = RowPanels(rows: rows)
        if wide && bPanelOuter {
            wideTilesBPanelOuter(panels: panels, columns: columns, depth: depth, a: a, inPlace: inPlace, b: b, c: c, ldc: ldc,
                                 beta: beta, edgeTile: edgeTile, nextBlock: nextBlock)
            return
        }
        // The AVX-512 kernel takes B twice as fast: a B block that does not fit L2 starves it (see
        // `wideColumnBlock`), so with a pre-packed B it walks the columns in L2-sized chunks.
        let chunk = wide ? wideColumnBlock : max(columns, 1)
        for jc in stride(from: 0, to: columns, by: chunk) {
            let chunkEnd = min(columns, jc + chunk)
            for index in 0..<panels.count {
                let (start, count) = panels[index]
                let panel = inPlace.map { a + start * $0.row } ?? a + index * microRows * depth
                var jr = jc
                if wide {
                    // While the first panels pass over this chunk of B, their tiles fetch the next chunk into L2,
                    // an eighth of it per pass (see `wideTiles`), two eighths with fewer than eight panels: the
                    // pass after them would otherwise wait on L3 for every line of it (a B larger than L2: the
                    // weights of H = 512, or of an input and a hidden product of H = 256 together).
                    let next = chunkEnd < columns ? b + chunkEnd * depth : nextBlock
                    let fetches = prefetchPieces(of: next, pieceFloats: (chunkEnd - jc) * depth / 8, pieces: 8, panel: index, panels: panels.count)
                    jr += wideTiles(panelRows: count, a: panel, inPlace: inPlace, columns: chunkEnd - jc, depth: depth, b: b + jc * depth,
                                    c: c + start * ldc + jc, ldc: ldc, beta: beta, prefetch: fetches.first, prefetch2: fetches.second)
                }
                while jr < chunkEnd {
                    tile(row: start, panelRows: count, a: panel, inPlace: inPlace, column: jr, columns: columns, depth: depth,
                         b: b, c: c, ldc: ldc, beta: beta, edgeTile: edgeTile)
                    jr += microColumns
                }
            }
        }
    }

    /// Whether the AVX-512 macro-kernel runs B panel outer (`wideTilesBPanelOuter`) rather than A panel outer in
    /// products against a pre-packed B (`multiply(…packed:…)`, a recurrent step's): on Intel cores. Measured on a
    /// Xeon (2 MB of L2), B packed, best of eight runs: (64, 256)·(256, 1024) 157 → 162 GFLOP/s, (64, 512)·(512,
    /// 2048) 157 → 161, (32, 512)·(512, 2048) 143 → 147; LSTM inference c 51.4 → 48.2 ms, e 165 → 155. Not for
    /// `blocked`, whose B block was just packed into L2: there A panel outer measured faster on the same Xeon
    /// (best of six: 2048³ 152 against 126 GFLOP/s, 1024³ 150 against 145, (6400, 256)·(256, 1024) 152 against
    /// 146). On a Zen 5 core the A-panel-outer order measured faster than B panel outer did before it prefetched
    /// (see `macroKernel`). Measured since on a Zen 5 core (1 MiB of L2), B packed, with the prefetching form:
    /// A panel outer stays ahead while B fits L2 (LSTM inference best of five, b 9.43 against 9.45 ms, c 33.7
    /// against 35.3), B panel outer wins once it does not (LSTM e inference, H = 512, median of twelve: 113.3
    /// against 108.8 ms; the backward step's (32, 2048)·(2048, 512), median of seven: 175 against 184 GFLOP/s),
    /// so other cores take B panel outer for a B larger than `bPanelOuterFloats` (see `prefersBPanelOuter`).
    static let bPanelOuter = recurrent_cpu_is_intel()

    /// The size, in floats, of a packed B past which every core takes B panel outer: 1 MiB, a Zen 5 core's L2.
    /// A larger B comes from L3 at every step whatever the order, and B panel outer reads each sliver of it
    /// once, against A panels that stay in L1 and L2.
    static let bPanelOuterFloats = 1 << 18

    /// This CPU's order for a product against a packed B of `floats` floats.
    static func prefersBPanelOuter(floats: Int) -> Bool {
        bPanelOuter || floats > bPanelOuterFloats
    }

    /// Where the tiles of panel `panel` (of `panels`) fetch from the next B, cut into `pieces` pieces of
    /// `pieceFloats`: piece `panel`, and with fewer panels than pieces piece `panel + panels` too, so that every
    /// piece is fetched while panels last (at most two each: with fewer than half as many panels as pieces, the
    /// rest waits on L3 as before). With one piece per panel, a batch of 32 rows (six panels) fetched six eighths
    /// of the next B and read the other two from L3. Nil where there is nothing to fetch.
    @inline(__always)
    static func prefetchPieces(
        of next: UnsafePointer<Float>?, pieceFloats: Int, pieces: Int, panel: Int, panels: Int
    ) -> (first: UnsafePointer<Float>?, second: UnsafePointer<Float>?) {
        guard let next else { return (nil, nil) }
        return (panel < pieces ? next + panel * pieceFloats : nil, panel + panels < pieces ? next + (panel + panels) * pieceFloats : nil)
    }

    /// The AVX-512 tiles in B-panel-outer order: each 32-column pair of B panels (KC·32 floats, 32 KiB, in L1)
    /// against every A panel of the block (in L2) before the next pair. While the first A panels run, their
    /// tiles fetch the next pair into L2, an eighth each, two with fewer than eight panels (the next block's first
    /// pair after the last one).
    /// Columns past the last full 16-wide panel go to the AVX2 edge tile.
    @inline(__always)
    static func wideTilesBPanelOuter(
        panels: RowPanels, columns: Int, depth: Int, a: UnsafePointer<Float>, inPlace: InPlaceStrides?, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float, edgeTile: UnsafeMutablePointer<Float>, nextBlock: UnsafePointer<Float>?
    ) {
        let nr = microColumns
        let (rs, ks) = inPlace.map { ($0.row, $0.depth) } ?? (1, microRows)
        let fullColumns = columns / nr * nr
        @inline(__always) func panel(_ index: Int) -> UnsafePointer<Float> {
            inPlace.map { a + panels[index].start * $0.row } ?? a + index * microRows * depth
        }
        var jr = 0
        while jr < fullColumns {
            let width = jr + 2 * nr <= fullColumns ? 2 * nr : nr
            let b0 = b + jr * depth
            let next = jr + width < fullColumns ? b0 + width * depth : nextBlock
            for index in 0..<panels.count {
                let (start, count) = panels[index]
                // Piece p of the next pair is its lines 4·depth·p ..< 4·depth·(p+1), one line per four k of a tile.
                let fetches = prefetchPieces(of: next, pieceFloats: 4 * depth, pieces: width / 4, panel: index, panels: panels.count)
                let prefetch = fetches.first ?? b0
                recurrent_avx512_gemm_tile(Int32(count), width == 2 * nr ? 2 : 1, depth, panel(index), rs, ks, b0, b0 + nr * depth,
                                           c + start * ldc + jr, ldc, beta, prefetch, fetches.second ?? prefetch)
            }
            jr += width
        }
        if fullColumns < columns {
            for index in 0..<panels.count {
                tile(row: panels[index].start, panelRows: panels[index].count, a: panel(index), inPlace: inPlace, column: fullColumns,
                     columns: columns, depth: depth, b: b, c: c, ldc: ldc, beta: beta, edgeTile: edgeTile)
            }
        }
    }

    /// The AVX-512 tiles of one A panel (any of its 1 to 6 rows) against the full 16-wide B panels: two panels at
    /// a time (a 6 × 32 tile, twelve 16-lane accumulators, the same register budget as the AVX2 6 × 16 tile with
    /// twice the work per FMA), then one. Returns the first column left to the AVX2 kernel (a partial last
    /// panel, computed there through the edge tile). A panel of fewer rows gets a tile of exactly its rows: the
    /// AVX2 edge tile computed all six, so one row of a batch-1 step cost six (measured, B packed: (1, 256)·
    /// (256, 1024) 22 → 47 GFLOP/s, (3, 256)·(256, 1024) 65 → 139, (5, 256)·(256, 1024) 85 → 188).
    @inline(__always)
    static func wideTiles(
        panelRows: Int, a: UnsafePointer<Float>, inPlace: InPlaceStrides?, columns: Int, depth: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float, prefetch: UnsafePointer<Float>? = nil,
        prefetch2: UnsafePointer<Float>? = nil
    ) -> Int {
        let nr = microColumns
        let (rs, ks) = inPlace.map { ($0.row, $0.depth) } ?? (1, microRows)
        var jr = 0
        while jr + nr <= columns {
            let pair = jr + 2 * nr <= columns
            let b0 = b + jr * depth
            // Each tile fetches its share of `prefetch` (and of `prefetch2`): one line per four k, 4·depth floats,
            // an eighth of what its 32 columns of B hold. With nothing to fetch it touches its own B, in cache.
            let first = prefetch.map { $0 + jr / 8 * depth } ?? b0
            recurrent_avx512_gemm_tile(Int32(panelRows), pair ? 2 : 1, depth, a, rs, ks, b0, b0 + nr * depth, c + jr, ldc, beta,
                                       first, prefetch2.map { $0 + jr / 8 * depth } ?? first)
            jr += pair ? 2 * nr : nr
        }
        return jr
    }

    /// Whether the kernels read A where it lies instead of packing it. Packing copies each value of A once per
    /// depth block, and the copy pays for itself over N/16 column panels: for a narrow C (a recurrent step's 64
    /// gates, an input projection at H = 16) it cost as much as the multiply. Row-major A: with a short depth the
    /// six rows of a panel are short runs that sit in L1 as well as a packed panel would. A stored transposed
    /// (the weight gradients dPᵀ·X, depth B·T): each k's six values lie side by side, so a panel reads one line
    /// per k; with at most two column panels (N ≤ 32, the H = 16 cells) each A panel is read once, and packing
    /// it was a copy for nothing (11 % of LSTM a's training step). `narrowInPlace` (the large-M path of `blocked`,
    /// where each A panel stays in L1 while the tiles of one B block pass it) also reads a row-major A in place
    /// when N is at most one wide column block: there each packed value served at most sixteen tiles, too few to
    /// pay for the copy. Measured on the Xeon, AVX-512, best of four: (6400, 1024)·(1024, 256) (the input
    /// gradient of LSTM c) 138 → 146 GFLOP/s, (6400, 512)·(512, 128) 133 → 148, (3200, 2048)·(2048, 512) 145 → 153,
    /// (2048, 2048)·(2048, 256) 137 → 148, 512³ 152 → 155; against 1024³ 145 → 107 with N = 1024, whose packed
    /// panels serve 32 tiles each; AVX2 within 3 %. Not for the small-M path, whose B slivers each pass every A
    /// panel (reading A in place there too took the LSTM c training step with the input's gradient 168 → 224 ms),
    /// nor for products against a pre-packed B (recurrent steps: 1–2 % slower in place).
    /// Needs whole six- and four-row panels (no zero padding to read) and alpha = 1 (packing is where alpha is
    /// folded in).
    static func readsAInPlace(transposeA: Bool, rows: Int, depth: Int, columns: Int, alpha: Float, narrowInPlace: Bool = false) -> Bool {
        guard alpha == 1 && RowPanels(rows: rows).partial == 0 else { return false }
        if transposeA { return columns <= 2 * microColumns }
        return depth <= 64 || (narrowInPlace && columns <= wideColumnBlock)
    }

    /// Where a block read in place keeps its values: op(A)[r, k] at a[r·row + k·depth] — (lda, 1) for a
    /// row-major A, (1, lda) for an A stored transposed. (A packed panel is (1, MR).)
    struct InPlaceStrides {
        let row: Int, depth: Int
    }

    /// The A block op(A)[row ..< row+rows, column ..< column+depth] as `macroKernel` takes it: where it lies, with
    /// its strides, when `readsAInPlace`; otherwise packed into `scratch` (alpha folded in), with none. `columns`
    /// is the product's N, which decides whether packing pays.
    @inline(__always)
    static func aBlock(
        transposeA: Bool, a: UnsafePointer<Float>, lda: Int, row: Int, column: Int, rows: Int, depth: Int, columns: Int, alpha: Float,
        scratch: UnsafeMutablePointer<Float>, pack: Bool = true, narrowInPlace: Bool = false
    ) -> (a: UnsafePointer<Float>, inPlace: InPlaceStrides?) {
        if readsAInPlace(transposeA: transposeA, rows: rows, depth: depth, columns: columns, alpha: alpha, narrowInPlace: narrowInPlace) {
            return transposeA ? (a + column * lda + row, InPlaceStrides(row: 1, depth: lda)) : (a + row * lda + column, InPlaceStrides(row: lda, depth: 1))
        }
        if pack {
            packABlock(transposeA: transposeA, a: a, lda: lda, row: row, column: column, rows: rows, depth: depth, alpha: alpha, into: scratch)
        }
        return (UnsafePointer(scratch), nil)
    }

    /// How an A block's rows are cut into micro-panels: six-row panels, then — when that covers an even row count
    /// exactly — one or two four-row panels (32 = 6·4 + 4·2, 16 = 6·2 + 4), so no kernel multiplies padding rows;
    /// any other count ends in one partial panel. Every panel is packed six rows wide (the four-row kernel reads
    /// that layout too), panel i at i·MR·KC, and there are never more panels than ⌈rows / 6⌉.
    struct RowPanels {
        let sixes: Int, fours: Int, partial: Int

        init(rows: Int) {
            let remainder = rows % 6
            fours = remainder == 4 ? 1 : (remainder == 2 && rows >= 8 ? 2 : 0)
            sixes = (rows - 4 * fours) / 6
            partial = rows - 6 * sixes - 4 * fours
        }

        var count: Int { sixes + fours + (partial > 0 ? 1 : 0) }

        /// The first row and the row count of panel `index`.
        subscript(index: Int) -> (start: Int, count: Int) {
            if index < sixes { return (6 * index, 6) }
            if index < sixes + fours { return (6 * sixes + 4 * (index - sixes), 4) }
            return (6 * sixes, partial)
        }
    }

    /// One MR × NR tile of C: the six- or four-row kernel straight into C, or into scratch and merged at edges.
    @inline(__always)
    static func tile(
        row ir: Int, panelRows: Int, a aPanel: UnsafePointer<Float>, inPlace: InPlaceStrides?, column jr: Int, columns: Int, depth: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float, edgeTile: UnsafeMutablePointer<Float>
    ) {
        let mr = microRows, nr = microColumns
        let panelColumns = min(nr, columns - jr)
        let bPanel = b + jr * depth, cTile = c + ir * ldc + jr
        /// The six- or four-row kernel (A packed or in place) into `target`.
        @inline(__always) func kernel(into target: UnsafeMutablePointer<Float>, ldc: Int, beta: Float) {
            switch (panelRows <= 4, inPlace) {
            case (false, nil): microKernel(depth: depth, a: aPanel, b: bPanel, c: target, ldc: ldc, beta: beta)
            case (true, nil): microKernel4(depth: depth, a: aPanel, b: bPanel, c: target, ldc: ldc, beta: beta)
            case (false, let strides?): microKernelInPlace(depth: depth, a: aPanel, strides: strides, b: bPanel, c: target, ldc: ldc, beta: beta)
            case (true, let strides?): microKernel4InPlace(depth: depth, a: aPanel, strides: strides, b: bPanel, c: target, ldc: ldc, beta: beta)
            }
        }
        if (panelRows == mr || panelRows == 4) && panelColumns == nr {
            kernel(into: cTile, ldc: ldc, beta: beta)
        } else {
            // Other edge tiles run whole in scratch (four rows when that covers them): C's valid corner copied in
            // (zeros around it), the accumulators starting from beta·C as a full tile's do, the valid corner copied
            // back. Each value of C gets the same FMAs in the same order as in a full tile, so the same bits: a
            // product split in two along its depth (A·B = A₁·B₁ + A₂·B₂, the second with beta = 1) then matches
            // the whole product everywhere, edges included. (A read in place has only whole panels, so only its
            // last columns come here.)
            copyEdgeTile(rows: panelRows, columns: panelColumns, from: cTile, ldc: ldc, into: edgeTile, reads: beta != 0)
            kernel(into: edgeTile, ldc: nr, beta: beta)
            for r in 0..<panelRows { (cTile + r * ldc).update(from: edgeTile + r * nr, count: panelColumns) }
        }
    }

    /// The 6 × 16 scratch tile, when the kernel reads C (beta ≠ 0): C's valid (rows, columns) corner, zeros
    /// elsewhere.
    @inline(__always)
    static func copyEdgeTile(rows: Int, columns: Int, from c: UnsafePointer<Float>, ldc: Int, into tile: UnsafeMutablePointer<Float>, reads: Bool) {
        guard reads else { return }
        tile.update(repeating: 0, count: microRows * microColumns)
        for r in 0..<rows { (tile + r * microColumns).update(from: c + r * ldc, count: columns) }
    }

    /// Packs op(B)[row ..< row+depth, column ..< column+columns] into NR-wide panels, one after another: panel q
    /// holds, for each k, the NR values of columns q·NR ..< q·NR+NR. Columns past the edge are zero. B stored
    /// (K, N) is read row by row so the hardware prefetcher sees long contiguous runs.
    @inline(__always)
    static func packBBlock(
        transposeB: Bool, b: UnsafePointer<Float>, ldb: Int, row: Int, column: Int, depth: Int, columns: Int,
        into packed: UnsafeMutablePointer<Float>
    ) {
        let nr = microColumns
        let fullPanels = columns / nr
        if transposeB {
            for panel in 0..<((columns + nr - 1) / nr) {
                packBPanel(
                    transposeB: true, b: b, ldb: ldb, row: row, column: column + panel * nr, depth: depth,
                    columns: min(nr, columns - panel * nr), into: packed + panel * nr * depth)
            }
            return
        }
        for p in 0..<depth {
            let source = UnsafeRawPointer(b + (row + p) * ldb + column)
            for panel in 0..<fullPanels {
                let target = UnsafeMutableRawPointer(packed + panel * nr * depth + p * nr)
                let offset = panel * nr * 4
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: offset + 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self)
            }
        }
        if columns % nr != 0 {
            packBPanel(
                transposeB: false, b: b, ldb: ldb, row: row, column: column + fullPanels * nr, depth: depth,
                columns: columns % nr, into: packed + fullPanels * nr * depth)
        }
    }

    /// Packs op(A)[row ..< row+rows, column ..< column+depth] · alpha into MR-row panels: panel p holds, for each
    /// k, the MR values of rows p·MR ..< p·MR+MR side by side. Rows past the edge are zero.
    @inline(__always)
    static func packABlock(
        transposeA: Bool, a: UnsafePointer<Float>, lda: Int, row: Int, column: Int, rows: Int, depth: Int,
        alpha: Float, into packed: UnsafeMutablePointer<Float>
    ) {
        let mr = microRows
        let panels = RowPanels(rows: rows)
        if transposeA {
            // A stored (K, M): stored row p holds the k = p value of every row of the block. Eight stored rows at
            // a time (in L1 once the first panel has read them), each six-row panel takes its 8 × 6 values as
            // eight eight-lane copies in order, 48 contiguous floats: each copy's two extra lanes read the next
            // rows of the block (so only panels with eight rows left before the block's end may) and land in the
            // slots of the next k, which the next copy overwrites. Row by row instead (each stored row dealt out
            // to all panels), (1024, 6400)·(6400, 256) with A transposed spent a fifth of its time packing. The
            // last chunk's last copy would spill into the next panel, so the last one to eight k go one at a time,
            // as do the other panels at every k.
            let vectorPanels = max(0, panels.sixes - (rows - 6 * panels.sixes >= 2 ? 0 : 1))
            let chunkedDepth = (depth - 1) / 8 * 8
            /// Panels `first...` at k = p, one value at a time (the eight-lane copy too while p + 1 < depth).
            func packOneK(_ p: Int, panelsFrom first: Int) {
                let source = a + (column + p) * lda + row
                let vectorCount = p + 1 < depth ? max(first, vectorPanels) : first
                for index in first..<vectorCount {
                    let from = UnsafeRawPointer(source + index * mr)
                    let target = UnsafeMutableRawPointer(packed + index * mr * depth + p * mr)
                    let values = from.loadUnaligned(as: SIMD8<Float>.self)
                    target.storeBytes(of: alpha == 1 ? values : values * alpha, as: SIMD8<Float>.self)
                }
                for index in vectorCount..<panels.count {
                    let (panelStart, validRows) = panels[index]
                    let from = source + panelStart, target = packed + index * mr * depth + p * mr
                    if validRows == mr {
                        target[0] = alpha * from[0]; target[1] = alpha * from[1]; target[2] = alpha * from[2]
                        target[3] = alpha * from[3]; target[4] = alpha * from[4]; target[5] = alpha * from[5]
                    } else {
                        for r in 0..<validRows { target[r] = alpha * from[r] }
                        for r in validRows..<mr { target[r] = 0 }
                    }
                }
            }
            let rowBytes = lda &* MemoryLayout<Float>.stride, slotBytes = mr &* MemoryLayout<Float>.stride
            for p in stride(from: 0, to: chunkedDepth, by: 8) {
                let source = UnsafeRawPointer(a + (column + p) * lda + row)
                for index in 0..<vectorPanels {
                    let from = source + index &* slotBytes
                    let target = UnsafeMutableRawPointer(packed + index * mr * depth + p * mr)
                    for q in 0..<8 {
                        let values = from.loadUnaligned(fromByteOffset: q &* rowBytes, as: SIMD8<Float>.self)
                        target.storeBytes(of: alpha == 1 ? values : values * alpha, toByteOffset: q &* slotBytes, as: SIMD8<Float>.self)
                    }
                }
                if vectorPanels < panels.count {
                    for q in 0..<8 { packOneK(p + q, panelsFrom: vectorPanels) }
                }
            }
            for p in chunkedDepth..<depth { packOneK(p, panelsFrom: 0) }
            return
        }
        for index in 0..<panels.count {
            let (panelStart, validRows) = panels[index]
            let panel = packed + index * mr * depth
            if validRows == mr {
                // Six rows read side by side: six sequential streams, one contiguous write stream.
                let r0 = a + (row + panelStart) * lda + column
                let r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda
                for p in 0..<depth {
                    let target = panel + p * mr
                    target[0] = alpha * r0[p]; target[1] = alpha * r1[p]; target[2] = alpha * r2[p]
                    target[3] = alpha * r3[p]; target[4] = alpha * r4[p]; target[5] = alpha * r5[p]
                }
            } else if validRows == 4 {
                // The same for a four-row panel. Its last two values per k stay unwritten: only the four-row
                // kernel reads such a panel, and it reads four.
                let r0 = a + (row + panelStart) * lda + column
                let r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda
                for p in 0..<depth {
                    let target = panel + p * mr
                    target[0] = alpha * r0[p]; target[1] = alpha * r1[p]; target[2] = alpha * r2[p]; target[3] = alpha * r3[p]
                }
            } else {
                for r in 0..<mr {
                    if r < validRows {
                        let source = a + (row + panelStart + r) * lda + column
                        for p in 0..<depth { panel[p * mr + r] = alpha * source[p] }
                    } else {
                        for p in 0..<depth { panel[p * mr + r] = 0 }
                    }
                }
            }
        }
    }

    /// Packs op(B)[row ..< row+depth, column ..< column+columns] into one NR-wide panel: for each k, NR values.
    /// Columns past the edge are zero.
    @inline(__always)
    static func packBPanel(
        transposeB: Bool, b: UnsafePointer<Float>, ldb: Int, row: Int, column: Int, depth: Int, columns: Int,
        into panel: UnsafeMutablePointer<Float>
    ) {
        let nr = microColumns
        if transposeB {
            // B stored (N, K): each column of op(B) is a contiguous row of B.
            var done = 0
            #if arch(x86_64) && RECURRENT_X86_FMA
            if columns == nr {
                // Eight k at a time: two 8×8 transposes in registers (16 rows of B in, eight 16-wide rows of the
                // panel out) instead of one scalar store per value.
                let first = b + column * ldb + row
                while done + 8 <= depth {
                    transposeEight(from: first + done, ldb: ldb, into: panel + done * nr, ldp: nr)
                    transposeEight(from: first + 8 * ldb + done, ldb: ldb, into: panel + done * nr + 8, ldp: nr)
                    done += 8
                }
            }
            #endif
            for col in 0..<nr where done < depth {
                if col < columns {
                    let source = b + (column + col) * ldb + row
                    for p in done..<depth { panel[p * nr + col] = source[p] }
                } else {
                    for p in done..<depth { panel[p * nr + col] = 0 }
                }
            }
        } else if columns == nr {
            for p in 0..<depth {
                let source = UnsafeRawPointer(b + (row + p) * ldb + column)
                let target = UnsafeMutableRawPointer(panel + p * nr)
                target.storeBytes(of: source.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                target.storeBytes(of: source.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), toByteOffset: 32, as: SIMD8<Float>.self)
            }
        } else {
            for p in 0..<depth {
                let source = b + (row + p) * ldb + column
                let target = panel + p * nr
                for col in 0..<columns { target[col] = source[col] }
                for col in columns..<nr { target[col] = 0 }
            }
        }
    }

    #if arch(x86_64) && RECURRENT_X86_FMA
    /// target[q·ldp + i] = source[i·ldb + q] for i, q < 8: the 8×8 block transposed with unpacks of 32- and 64-bit
    /// pairs, then 128-bit halves recombined.
    @inline(__always)
    static func transposeEight(from source: UnsafePointer<Float>, ldb: Int, into target: UnsafeMutablePointer<Float>, ldp: Int) {
        typealias V = SIMD8<Float>
        @inline(__always) func row(_ i: Int) -> V { UnsafeRawPointer(source + i * ldb).loadUnaligned(as: V.self) }
        let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
        // Pairs of rows interleaved: (r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]) and the like.
        let a0 = _mm256_unpacklo_ps(r0, r1), a1 = _mm256_unpackhi_ps(r0, r1)
        let a2 = _mm256_unpacklo_ps(r2, r3), a3 = _mm256_unpackhi_ps(r2, r3)
        let a4 = _mm256_unpacklo_ps(r4, r5), a5 = _mm256_unpackhi_ps(r4, r5)
        let a6 = _mm256_unpacklo_ps(r6, r7), a7 = _mm256_unpackhi_ps(r6, r7)
        // Then pairs of pairs: four rows' value q in each 128-bit half (q in the low half, q + 4 in the high).
        @inline(__always) func low(_ x: V, _ y: V) -> V { _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(x), _mm256_castps_pd(y))) }
        @inline(__always) func high(_ x: V, _ y: V) -> V { _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(x), _mm256_castps_pd(y))) }
        let q0 = low(a0, a2), q1 = high(a0, a2), q2 = low(a1, a3), q3 = high(a1, a3)
        let q4 = low(a4, a6), q5 = high(a4, a6), q6 = low(a5, a7), q7 = high(a5, a7)
        @inline(__always) func store(_ q: Int, _ value: V) { UnsafeMutableRawPointer(target + q * ldp).storeBytes(of: value, as: V.self) }
        store(0, V(lowHalf: q0.lowHalf, highHalf: q4.lowHalf)); store(4, V(lowHalf: q0.highHalf, highHalf: q4.highHalf))
        store(1, V(lowHalf: q1.lowHalf, highHalf: q5.lowHalf)); store(5, V(lowHalf: q1.highHalf, highHalf: q5.highHalf))
        store(2, V(lowHalf: q2.lowHalf, highHalf: q6.lowHalf)); store(6, V(lowHalf: q2.highHalf, highHalf: q6.highHalf))
        store(3, V(lowHalf: q3.lowHalf, highHalf: q7.lowHalf)); store(7, V(lowHalf: q3.highHalf, highHalf: q7.highHalf))
    }
    #endif

    // Each kernel is compiled twice: once for a packed A panel (the six values of each k side by side, rs = 1,
    // ks = 6, both constant; a four-row panel keeps that layout) and once for A read in place from row-major
    // storage (rs = lda, ks = 1). One copy each: inlining them into every call site only multiplies
    // compile time.
    @inline(never)
    static func microKernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float) {
        microKernelBody(depth: depth, a: a, rs: 1, ks: microRows, b: b, c: c, ldc: ldc, beta: beta)
    }

    @inline(never)
    static func microKernel4(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float) {
        microKernel4Body(depth: depth, a: a, rs: 1, ks: microRows, b: b, c: c, ldc: ldc, beta: beta)
    }

    @inline(never)
    static func microKernelInPlace(depth: Int, a: UnsafePointer<Float>, strides: InPlaceStrides, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float) {
        microKernelBody(depth: depth, a: a, rs: strides.row, ks: strides.depth, b: b, c: c, ldc: ldc, beta: beta)
    }

    @inline(never)
    static func microKernel4InPlace(depth: Int, a: UnsafePointer<Float>, strides: InPlaceStrides, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float) {
        microKernel4Body(depth: depth, a: a, rs: strides.row, ks: strides.depth, b: b, c: c, ldc: ldc, beta: beta)
    }

    /// C[0..<6, 0..<16] = beta · C + Σ_k A[r, k] · b[k·16 + c], with A[r, k] at a[r·rs + k·ks]. The accumulators
    /// start from beta · C, so the loads of C are issued first and their cache misses overlap the FMA loop instead
    /// of stalling the stores; `addingProduct` compiles to one FMA per vector on an FMA target.
    @inline(__always)
    static func microKernelBody(
        depth: Int, a: UnsafePointer<Float>, rs: Int, ks: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float
    ) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        if beta != 0 {
            (c00, c01) = loadRow(c, beta)
            (c10, c11) = loadRow(c + ldc, beta)
            (c20, c21) = loadRow(c + 2 * ldc, beta)
            (c30, c31) = loadRow(c + 3 * ldc, beta)
            (c40, c41) = loadRow(c + 4 * ldc, beta)
            (c50, c51) = loadRow(c + 5 * ldc, beta)
        }
        // Each k step: two B vectors, six broadcast A values, twelve FMAs. Unrolled by four (written out: a
        // nested function here makes the compiler spill the accumulators) so loop bookkeeping stays cheap.
        var pa = a
        var pb = UnsafeRawPointer(b)
        var b0 = V(), b1 = V(), av = V()
        for _ in 0..<(depth / 4) {
            b0 = pb.load(fromByteOffset: 0, as: V.self); b1 = pb.load(fromByteOffset: 32, as: V.self)
            av = V(repeating: pa[0]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: pa[4 * rs]); c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: pa[5 * rs]); c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            b0 = pb.load(fromByteOffset: 64, as: V.self); b1 = pb.load(fromByteOffset: 96, as: V.self)
            av = V(repeating: pa[ks]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[ks + rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[ks + 2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[ks + 3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: pa[ks + 4 * rs]); c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: pa[ks + 5 * rs]); c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            b0 = pb.load(fromByteOffset: 128, as: V.self); b1 = pb.load(fromByteOffset: 160, as: V.self)
            av = V(repeating: pa[2 * ks]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + 2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + 3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + 4 * rs]); c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + 5 * rs]); c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            b0 = pb.load(fromByteOffset: 192, as: V.self); b1 = pb.load(fromByteOffset: 224, as: V.self)
            av = V(repeating: pa[3 * ks]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + 2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + 3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + 4 * rs]); c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + 5 * rs]); c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            pa += 4 * ks
            pb += 256
        }
        for _ in 0..<(depth % 4) {
            b0 = pb.load(fromByteOffset: 0, as: V.self); b1 = pb.load(fromByteOffset: 32, as: V.self)
            av = V(repeating: pa[0]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: pa[4 * rs]); c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: pa[5 * rs]); c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            pa += ks
            pb += 64
        }
        storeRow(c, c00, c01)
        storeRow(c + ldc, c10, c11)
        storeRow(c + 2 * ldc, c20, c21)
        storeRow(c + 3 * ldc, c30, c31)
        storeRow(c + 4 * ldc, c40, c41)
        storeRow(c + 5 * ldc, c50, c51)
    }

    /// The four-row form of `microKernelBody`, for the last rows when M mod 6 is 4 or less — a batch of 64 is
    /// ten six-row tiles and one of four.
    @inline(__always)
    static func microKernel4Body(
        depth: Int, a: UnsafePointer<Float>, rs: Int, ks: Int, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float
    ) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        if beta != 0 {
            (c00, c01) = loadRow(c, beta)
            (c10, c11) = loadRow(c + ldc, beta)
            (c20, c21) = loadRow(c + 2 * ldc, beta)
            (c30, c31) = loadRow(c + 3 * ldc, beta)
        }
        var pa = a
        var pb = UnsafeRawPointer(b)
        var b0 = V(), b1 = V(), av = V()
        for _ in 0..<(depth / 4) {
            b0 = pb.load(fromByteOffset: 0, as: V.self); b1 = pb.load(fromByteOffset: 32, as: V.self)
            av = V(repeating: pa[0]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            b0 = pb.load(fromByteOffset: 64, as: V.self); b1 = pb.load(fromByteOffset: 96, as: V.self)
            av = V(repeating: pa[ks]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[ks + rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[ks + 2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[ks + 3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            b0 = pb.load(fromByteOffset: 128, as: V.self); b1 = pb.load(fromByteOffset: 160, as: V.self)
            av = V(repeating: pa[2 * ks]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + 2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[2 * ks + 3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            b0 = pb.load(fromByteOffset: 192, as: V.self); b1 = pb.load(fromByteOffset: 224, as: V.self)
            av = V(repeating: pa[3 * ks]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + 2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[3 * ks + 3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            pa += 4 * ks
            pb += 256
        }
        for _ in 0..<(depth % 4) {
            b0 = pb.load(fromByteOffset: 0, as: V.self); b1 = pb.load(fromByteOffset: 32, as: V.self)
            av = V(repeating: pa[0]); c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: pa[rs]); c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: pa[2 * rs]); c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: pa[3 * rs]); c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            pa += ks
            pb += 64
        }
        storeRow(c, c00, c01)
        storeRow(c + ldc, c10, c11)
        storeRow(c + 2 * ldc, c20, c21)
        storeRow(c + 3 * ldc, c30, c31)
    }

    @inline(__always)
    static func loadRow(_ row: UnsafeMutablePointer<Float>, _ beta: Float) -> (SIMD8<Float>, SIMD8<Float>) {
        let raw = UnsafeRawPointer(row)
        let low = raw.loadUnaligned(as: SIMD8<Float>.self)
        let high = raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        return beta == 1 ? (low, high) : (low * beta, high * beta)
    }

    @inline(__always)
    static func storeRow(_ row: UnsafeMutablePointer<Float>, _ low: SIMD8<Float>, _ high: SIMD8<Float>) {
        let raw = UnsafeMutableRawPointer(row)
        raw.storeBytes(of: low, as: SIMD8<Float>.self)
        raw.storeBytes(of: high, toByteOffset: 32, as: SIMD8<Float>.self)
    }
}
