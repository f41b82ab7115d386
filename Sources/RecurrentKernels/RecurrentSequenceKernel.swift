// Fused recurrent sequences (one layer, one direction), forward and backward, for the vanilla RNN, LSTM and
// GRU, as cuDNN and oneDNN do it:
//
//   forward:  P = X·W_ihᵀ                              one GEMM over all B·T rows (inference with a batch
//                                                       of 8 or more: P_t = X_t·W_ihᵀ at each step instead)
//             for t: P_t += h_{t-1}·W_hhᵀ              one small GEMM per step
//                    P_t += b, then one fused pass: gates, state update, output
//   backward: for t from T−1 down: one fused pass turning dh, dc into gate gradients dP_t,
//                                  and dh_{t-1} = dP_t·W_hh (one small GEMM per step)
//             dW_ih = dPᵀ·X, dW_hh = dPᵀ·H_prev, db = Σ dP, dX = dP·W_ih   big GEMMs over all steps
//
// Shape legend: B batch, T steps, I input, H hidden, G gates (1 RNN, 4 LSTM, 3 GRU). Row-major, batch first.
// Gate order i, f, g, o (LSTM) and r, z, n (GRU), weights (G·H, I) and (G·H, H): PyTorch's layout.
//
//   RNN:  h' = act(W_ih x + W_hh h + b)                         act = tanh or relu
//   LSTM: i, f, o = σ(·), g = tanh(·) of W_ih x + W_hh h + b;   c' = f ⊙ c + i ⊙ g;   h' = o ⊙ tanh(c')
//   GRU:  r, z = σ(W_i{r,z} x + W_h{r,z} h + b_{r,z});  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//         h' = (1 − z) ⊙ n + z ⊙ h
//
// One-hot inputs (`inputTokens`: the index of the one in each of the B·T rows; x is not read) take the gather
// W_ihᵀ[token] for the input projection and a scatter-add for dW_ih: no (B·T, I)·(I, G·H) products for a
// character model's 65-symbol alphabet, and no input gradient.
//
// `lengths` gives each sample's valid steps: past its length a sample's state is carried unchanged, its output
// is zero and it contributes nothing to any gradient. Backward accumulates (+=) into every gradient buffer.

/// The recurrent cell a sequence kernel runs.
public enum RecurrentCellKind: String, Sendable, CaseIterable {
    case rnnTanh = "rnn", rnnReLU = "rnn-relu", lstm, gru

    /// Gate blocks in the weights: G.
    public var gateCount: Int {
        switch self {
        case .rnnTanh, .rnnReLU: 1
        case .lstm: 4
        case .gru: 3
        }
    }

    /// Whether the state includes a cell state c (LSTM).
    public var hasCellState: Bool { self == .lstm }
}

/// Sizes of one sequence kernel call.
public struct RecurrentSequenceShape: Sendable, Equatable {
    public var batch: Int, steps: Int, input: Int, hidden: Int
    public init(batch: Int, steps: Int, input: Int, hidden: Int) {
        self.batch = batch
        self.steps = steps
        self.input = input
        self.hidden = hidden
    }
}

/// Buffers a forward pass fills and its backward reads. All are (B, T, ·) except the final states.
public struct RecurrentSequenceBuffers<T: KernelScalar> {
    /// (B, T, H): h_t, zero past each sample's length. Sample b's rows start at b·`outputSampleStride`.
    public var output: UnsafeMutablePointer<T>
    /// Elements from one sample's first output row to the next's: T·H when nil. The tensor op writes h_t straight
    /// into its (B, T + 1 or 2, H) result, final states after each sample's rows, so nothing is copied after.
    public var outputSampleStride: Int?
    /// (B, H): the state after each sample's last valid step.
    public var finalHidden: UnsafeMutablePointer<T>
    /// (B, H): LSTM only.
    public var finalCell: UnsafeMutablePointer<T>?
    /// (B, T, G·H): the activated gates (LSTM i f g o; GRU r z n; RNN h'). Backward needs them; inference may
    /// pass nil, and each step's gates then live in a step-sized buffer (see `forward`).
    public var gates: UnsafeMutablePointer<T>?
    /// (B, T, H): h_{t-1}, the state each step started from; backward needs it, inference may pass nil.
    public var hiddenBefore: UnsafeMutablePointer<T>?
    /// (B, T, H): LSTM c_t after each step (carried past the length); backward needs it, inference may pass nil.
    public var cells: UnsafeMutablePointer<T>?
    /// (B, T, H): GRU W_hn h_{t-1} + b_hn; backward needs it, inference may pass nil.
    public var candidateHidden: UnsafeMutablePointer<T>?

    public init(
        output: UnsafeMutablePointer<T>, finalHidden: UnsafeMutablePointer<T>, finalCell: UnsafeMutablePointer<T>?,
        gates: UnsafeMutablePointer<T>?, hiddenBefore: UnsafeMutablePointer<T>?, cells: UnsafeMutablePointer<T>?,
        candidateHidden: UnsafeMutablePointer<T>?, outputSampleStride: Int? = nil
    ) {
        self.output = output
        self.outputSampleStride = outputSampleStride
        self.finalHidden = finalHidden
        self.finalCell = finalCell
        self.gates = gates
        self.hiddenBefore = hiddenBefore
        self.cells = cells
        self.candidateHidden = candidateHidden
    }
}

/// The weights of one layer-direction.
public struct RecurrentSequenceWeights<T: KernelScalar> {
    /// (G·H, I)
    public var inputWeight: UnsafePointer<T>
    /// (G·H, H)
    public var hiddenWeight: UnsafePointer<T>
    /// (G·H): one bias per gate (for GRU's n gate, the input-side b_in only).
    public var bias: UnsafePointer<T>
    /// (H): GRU's b_hn, inside the reset gate's product.
    public var candidateBias: UnsafePointer<T>?

    public init(inputWeight: UnsafePointer<T>, hiddenWeight: UnsafePointer<T>, bias: UnsafePointer<T>, candidateBias: UnsafePointer<T>?) {
        self.inputWeight = inputWeight
        self.hiddenWeight = hiddenWeight
        self.bias = bias
        self.candidateBias = candidateBias
    }
}

/// Gradient buffers, accumulated into (+=). A nil buffer is not computed.
public struct RecurrentSequenceGradients<T: KernelScalar> {
    public var input: UnsafeMutablePointer<T>?
    public var inputWeight: UnsafeMutablePointer<T>?
    public var hiddenWeight: UnsafeMutablePointer<T>?
    public var bias: UnsafeMutablePointer<T>?
    public var candidateBias: UnsafeMutablePointer<T>?
    public var initialHidden: UnsafeMutablePointer<T>?
    public var initialCell: UnsafeMutablePointer<T>?

    public init(
        input: UnsafeMutablePointer<T>?, inputWeight: UnsafeMutablePointer<T>?, hiddenWeight: UnsafeMutablePointer<T>?,
        bias: UnsafeMutablePointer<T>?, candidateBias: UnsafeMutablePointer<T>?,
        initialHidden: UnsafeMutablePointer<T>?, initialCell: UnsafeMutablePointer<T>?
    ) {
        self.input = input
        self.inputWeight = inputWeight
        self.hiddenWeight = hiddenWeight
        self.bias = bias
        self.candidateBias = candidateBias
        self.initialHidden = initialHidden
        self.initialCell = initialCell
    }
}

public enum RecurrentSequenceKernel {
    /// How the step loop is split over the cores: by batch rows. Samples never meet inside a layer, so each part
    /// runs its rows through every step on its own — its slice of each step's GEMM, then their gate pass — and
    /// the cores meet once per sequence instead of once per step. A batch too small to split keeps one part,
    /// whose GEMMs may split by columns instead.
    static func stepSplit(batch: Int, gateWidth: Int, hidden: Int) -> (rows: [Range<Int>], gemmThreads: Int?) {
        let threads = ComputeSettings.threads
        let useful = min(threads, batch * gateWidth * hidden / GEMM.minimumWorkPerThread, batch / GEMM.microRows)
        guard useful > 1 else { return ([0..<batch], nil) }
        return (splitRanges(count: batch, parts: useful, granularity: 1), 1)
    }

    /// Runs `body` over ranges of `count` (rows or columns) split over the cores, for the passes outside the step
    /// loop that are only memory traffic (the one-hot gather, sums of gradient rows: 13 MB each for a character
    /// model's 3,200 rows × 1,024 gates), which on one core left the others waiting. Each range is `granularity`
    /// wide (a cache line of columns), and a pass under 64K elements stays on the calling thread.
    static func forRanges(of count: Int, elements: Int, granularity: Int, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(ComputeSettings.threads, elements >> 16))
        let ranges = splitRanges(count: count, parts: parts, granularity: granularity)
        parallelFor(parts: ranges.count) { body(ranges[$0]) }
    }

    /// target(row)[j] += source(row)[j] for every row and j < width: split over the cores by column ranges, so
    /// each column is still summed in row order on one core (the same result for any thread count).
    static func addRows<T: KernelScalar>(
        _ rows: Int, width: Int, from source: (Int) -> UnsafePointer<T>, into target: (Int) -> UnsafeMutablePointer<T>
    ) {
        forRanges(of: width, elements: rows * width, granularity: 16) { columns in
            for row in 0..<rows {
                let from = source(row), to = target(row)
                for j in columns { to[j] += from[j] }
            }
        }
    }

    /// W_ih (G·H, I) transposed to (I, G·H), so a one-hot input's projection is one contiguous row per token.
    static func transposedInputWeight<T: KernelScalar>(_ weight: UnsafePointer<T>, gateWidth: Int, inputSize: Int) -> UnsafeMutablePointer<T> {
        let table = UnsafeMutablePointer<T>.allocate(capacity: inputSize * gateWidth)
        for gate in 0..<gateWidth {
            for v in 0..<inputSize { table[v * gateWidth + gate] = weight[gate * inputSize + v] }
        }
        return table
    }

    /// target[0..<count] = source[0..<count] for a short row, copied inline in 32-byte pieces: the library
    /// memmove called once per row of x_t cost 6 % of LSTM a's inference.
    @inline(__always)
    static func copyShortRow<T>(from source: UnsafePointer<T>, to target: UnsafeMutablePointer<T>, count: Int) {
        let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(target)
        let bytes = count * MemoryLayout<T>.stride
        var offset = 0
        while offset + 32 <= bytes {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), toByteOffset: offset, as: SIMD8<Float>.self)
            offset += 32
        }
        while offset < bytes {   // Float and Double rows are whole numbers of 4-byte words
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: UInt32.self), toByteOffset: offset, as: UInt32.self)
            offset += 4
        }
    }

    /// Valid steps of sample b (T when no lengths are given).
    @inline(__always)
    static func length(_ lengths: UnsafeBufferPointer<Int>?, _ b: Int, _ steps: Int) -> Int {
        lengths.map { $0[b] } ?? steps
    }

    // MARK: - Forward

    /// The smallest batch whose inference projects its inputs step by step (see `forward`). Measured at LSTM
    /// (100, B, 256, 256): B = 1 5.3 against 2.7 ms all at once, B = 4 3.2–3.5 against 2.9–3.0, B = 8 even,
    /// B = 16 9.5–10.0 against 10.3–10.6.
    static let perStepProjectionBatch = 8

    /// The largest I + H whose LSTM or RNN cell, projecting step by step, multiplies [x_t | h_{t-1}] by
    /// [W_ih | W_hh]ᵀ in one product instead of two: with depths this short each tile's fixed cost (loading and
    /// storing its C, the call) is a large share of its work, and one tile of depth I + H pays it once where two
    /// paid it twice. LSTM a (T 64, B 32, I 32, H 16) inference on the Xeon: 0.204 → 0.187 ms (three alternating
    /// runs each). At b–d (I + H of 256 to 1,024) joining measured within noise of two products, so they keep two.
    static let joinedDepthLimit = 64

    /// Runs the sequence; `x` is (B, T, I), `initialHidden`/`initialCell` (B, H).
    // Specialised here for both element types: called from another module, a generic kernel would otherwise run
    // through protocol witnesses element by element (measured: ten times slower).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func forward<T: KernelScalar>(
        kind: RecurrentCellKind, shape: RecurrentSequenceShape, x: UnsafePointer<T>,
        weights: RecurrentSequenceWeights<T>, initialHidden: UnsafePointer<T>, initialCell: UnsafePointer<T>?,
        lengths: UnsafeBufferPointer<Int>?, buffers: RecurrentSequenceBuffers<T>, inputTokens: UnsafePointer<Int>? = nil
    ) {
        let (batch, steps, inputSize, hidden) = (shape.batch, shape.steps, shape.input, shape.hidden)
        let gateWidth = kind.gateCount * hidden
        let outputStride = buffers.outputSampleStride ?? steps * hidden
        let table = inputTokens == nil ? nil : transposedInputWeight(weights.inputWeight, gateWidth: gateWidth, inputSize: inputSize)
        defer { table?.deallocate() }

        // P = X·W_ihᵀ (+ b in the step loop): for one-hot inputs, row v of W_ihᵀ for token v. Projected all at once
        // into (B, T, G), step t's rows at stride T·G; or, with a batch of at least `perStepProjectionBatch` rows
        // and the gates not kept (inference), step by step into a (B, G) buffer just before the step's recurrent
        // product, so the step's gates stay in cache instead of making a round trip through a (B, T, G) buffer
        // far larger than L2 (26 MB at LSTM c): 3–6 % of LSTM and GRU inference at shapes b–e. A smaller batch's
        // per-step products have too few rows (B = 1: twice the time of one product over all T rows). The same
        // FMAs in the same order either way, so the same bits — except where the whole sequence has at most
        // `GEMM.rowDotRowLimit` rows, whose one big product takes the row-dot kernel.
        let projectsPerStep = batch >= perStepProjectionBatch && buffers.gates == nil
        let ownedGates = buffers.gates == nil ? UnsafeMutablePointer<T>.allocate(capacity: (projectsPerStep ? 1 : steps) * batch * gateWidth) : nil
        defer { ownedGates?.deallocate() }
        let gates = buffers.gates ?? ownedGates!
        let stepStride = projectsPerStep ? gateWidth : steps * gateWidth
        /// The gate row of sample b at step t.
        func stepRow(_ b: Int, _ t: Int) -> Int { projectsPerStep ? b : b * steps + t }
        // A small LSTM or RNN cell projecting step by step joins the step's two products into one:
        // [x_t | h_{t-1}]·[W_ih | W_hh]ᵀ (see `joinedDepthLimit`). Each row [x_t | h_{t-1}] lies side by side in
        // `joinedRows`: x_t copied in at each step, h written there by the previous step's gate pass.
        let joinedWidth = inputSize + hidden
        let joinsProducts = projectsPerStep && table == nil && kind != .gru && joinedWidth <= joinedDepthLimit
        let joinedWeight = joinsProducts ? UnsafeMutablePointer<T>.allocate(capacity: gateWidth * joinedWidth) : nil
        let joinedRows = joinsProducts ? UnsafeMutablePointer<T>.allocate(capacity: batch * joinedWidth) : nil
        defer {
            joinedWeight?.deallocate()
            joinedRows?.deallocate()
        }
        if let joinedWeight {
            for gate in 0..<gateWidth {
                let row = joinedWeight + gate * joinedWidth
                row.update(from: weights.inputWeight + gate * inputSize, count: inputSize)
                (row + inputSize).update(from: weights.hiddenWeight + gate * hidden, count: hidden)
            }
        }
        let inputWeight = projectsPerStep && table == nil && !joinsProducts
            ? T.prepareRightOperand(transposed: true, b: weights.inputWeight, ldb: inputSize, depth: inputSize, columns: gateWidth, uses: steps)
            : nil
        if !projectsPerStep {
            if let tokens = inputTokens, let table {
                forRanges(of: batch * steps, elements: batch * steps * gateWidth, granularity: 1) { rows in
                    for row in rows {
                        (gates + row * gateWidth).update(from: table + tokens[row] * gateWidth, count: gateWidth)
                    }
                }
            } else if batch * steps > 0 {
                T.gemm(transposeA: false, transposeB: true, m: batch * steps, n: gateWidth, k: inputSize, alpha: 1,
                       a: x, lda: inputSize, b: weights.inputWeight, ldb: inputSize, beta: 0, c: gates, ldc: gateWidth)
            }
        }

        // h_{t-1}, row b at b·stateStride: its own (B, H) buffer, or with the products joined, the h part of the
        // joined rows, where the gate pass writes it for the next step's product.
        let ownedState = joinedRows == nil ? UnsafeMutablePointer<T>.allocate(capacity: batch * hidden) : nil
        let state = ownedState ?? joinedRows! + inputSize
        let stateStride = ownedState == nil ? joinedWidth : hidden
        for b in 0..<batch { (state + b * stateStride).initialize(from: initialHidden + b * hidden, count: hidden) }
        let cell = UnsafeMutablePointer<T>.allocate(capacity: kind.hasCellState ? batch * hidden : 0)
        if kind.hasCellState { cell.initialize(from: initialCell!, count: batch * hidden) }
        let hiddenProjection = UnsafeMutablePointer<T>.allocate(capacity: kind == .gru ? batch * gateWidth : 0)
        // Where c_t (LSTM) and the GRU's candidate term go when they are not kept: one row per sample, overwritten.
        let unkeptRows = UnsafeMutablePointer<T>.allocate(capacity: batch * hidden)
        /// Sample b's row for c_t (LSTM) or the GRU's candidate term at step t.
        func savedRow(_ kept: UnsafeMutablePointer<T>?, _ b: Int, _ t: Int) -> UnsafeMutablePointer<T> {
            kept.map { $0 + (b * steps + t) * hidden } ?? unkeptRows + b * hidden
        }
        defer {
            ownedState?.deallocate()
            cell.deallocate()
            hiddenProjection.deallocate()
            unkeptRows.deallocate()
        }

        // h·W_hhᵀ at every step: W_hhᵀ (H, G·H) prepared once (or [W_ih | W_hh]ᵀ, (I + H, G·H), joined).
        let recurrentWeight = joinedWeight.map {
            T.prepareRightOperand(transposed: true, b: $0, ldb: joinedWidth, depth: joinedWidth, columns: gateWidth, uses: steps)
        } ?? T.prepareRightOperand(transposed: true, b: weights.hiddenWeight, ldb: hidden, depth: hidden, columns: gateWidth, uses: steps)
        let split = stepSplit(batch: batch, gateWidth: gateWidth, hidden: hidden)
        parallelFor(parts: split.rows.count) { part in
            let rows = split.rows[part], first = rows.lowerBound
            for t in 0..<steps {
                if let saved = buffers.hiddenBefore {
                    for b in rows { (saved + (b * steps + t) * hidden).update(from: state + b * stateStride, count: hidden) }
                }
                if let joinedRows {
                    // P_t = [x_t | h_{t-1}]·[W_ih | W_hh]ᵀ: the same FMAs in the same order as the two products
                    // below (x_t's terms, then h's onto them), so the same bits.
                    for b in rows { copyShortRow(from: x + (b * steps + t) * inputSize, to: joinedRows + b * joinedWidth, count: inputSize) }
                    T.gemm(m: rows.count, a: joinedRows + first * joinedWidth, lda: joinedWidth, prepared: recurrentWeight, beta: 0,
                           c: gates + stepRow(first, t) * gateWidth, ldc: stepStride, threads: split.gemmThreads)
                } else if projectsPerStep {
                    // This step's input projection, rows (b, t) of X at stride T·I.
                    if let tokens = inputTokens, let table {
                        for b in rows { (gates + stepRow(b, t) * gateWidth).update(from: table + tokens[b * steps + t] * gateWidth, count: gateWidth) }
                    } else {
                        T.gemm(m: rows.count, a: x + (first * steps + t) * inputSize, lda: steps * inputSize, prepared: inputWeight!, beta: 0,
                               c: gates + stepRow(first, t) * gateWidth, ldc: stepStride, threads: split.gemmThreads)
                    }
                }
                // P_t += h_{t-1}·W_hhᵀ unless joined above (GRU keeps it apart: r multiplies its n block).
                if joinedRows == nil {
                    if kind == .gru {
                        T.gemm(m: rows.count, a: state + first * stateStride, lda: stateStride, prepared: recurrentWeight, beta: 0,
                               c: hiddenProjection + first * gateWidth, ldc: gateWidth, threads: split.gemmThreads)
                    } else {
                        T.gemm(m: rows.count, a: state + first * stateStride, lda: stateStride, prepared: recurrentWeight, beta: 1,
                               c: gates + stepRow(first, t) * gateWidth, ldc: stepStride, threads: split.gemmThreads)
                    }
                }
                if (kind == .lstm || kind == .rnnTanh) && rows.allSatisfy({ t < length(lengths, $0, steps) }) {
                    // Every row is within its length: the step's whole gate pass in one call.
                    let stepGates = gates + stepRow(first, t) * gateWidth, stepOutput = buffers.output + first * outputStride + t * hidden
                    if kind == .lstm {
                        T.lstmGatesForwardRows(
                            rows.count, gates: stepGates, gatesStride: stepStride, bias: weights.bias,
                            cell: cell + first * hidden, cellStride: hidden, savedCell: savedRow(buffers.cells, first, t), savedCellStride: buffers.cells == nil ? hidden : steps * hidden,
                            output: stepOutput, outputStride: outputStride, state: state + first * stateStride, stateStride: stateStride, hidden: hidden)
                    } else {
                        T.rnnTanhForwardRows(rows.count, gates: stepGates, gatesStride: stepStride, bias: weights.bias, output: stepOutput,
                                             outputStride: outputStride, state: state + first * stateStride, stateStride: stateStride, hidden: hidden)
                    }
                    continue
                }
                for b in rows {
                    let p = gates + stepRow(b, t) * gateWidth
                    let cellRow = savedRow(buffers.cells, b, t), candidateRow = savedRow(buffers.candidateHidden, b, t)
                    let h = state + b * stateStride
                    let out = buffers.output + b * outputStride + t * hidden
                    guard t < length(lengths, b, steps) else {
                        // Past the length: state carried, output and saved gates zero.
                        out.update(repeating: 0, count: hidden)
                        p.update(repeating: 0, count: gateWidth)
                        if kind == .lstm { cellRow.update(from: cell + b * hidden, count: hidden) }
                        if kind == .gru { candidateRow.update(repeating: 0, count: hidden) }
                        continue
                    }
                    // The bias joins here, while the step's GEMM has just left the row in cache (a pass of its
                    // own over all B·T rows ran from memory); the LSTM's gate pass adds it itself.
                    if kind == .rnnReLU || kind == .gru { for j in 0..<gateWidth { p[j] += weights.bias[j] } }
                    switch kind {
                    case .rnnTanh:
                        T.rnnTanhForwardRows(1, gates: p, gatesStride: gateWidth, bias: weights.bias, output: out, outputStride: hidden,
                                             state: h, stateStride: hidden, hidden: hidden)
                    case .rnnReLU:
                        for j in 0..<hidden {
                            let value = p[j] > 0 || p[j].isNaN ? p[j] : 0   // NaN propagates, as in PyTorch
                            p[j] = value; h[j] = value; out[j] = value
                        }
                    case .lstm:
                        T.lstmGatesForward(gates: p, bias: weights.bias, cell: cell + b * hidden, savedCell: cellRow,
                                           output: out, state: h, hidden: hidden)
                    case .gru:
                        T.gruGatesForward(gates: p, projection: hiddenProjection + b * gateWidth, candidateBias: weights.candidateBias!,
                                          candidate: candidateRow, state: h, output: out, hidden: hidden)
                    }
                }
            }
        }
        for b in 0..<batch { (buffers.finalHidden + b * hidden).update(from: state + b * stateStride, count: hidden) }
        if kind.hasCellState { buffers.finalCell!.update(from: cell, count: batch * hidden) }
    }

    // MARK: - Backward

    /// Gradients of the sequence given dL/d(output) (B, T, H) and dL/d(final states) (B, H).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func backward<T: KernelScalar>(
        kind: RecurrentCellKind, shape: RecurrentSequenceShape, x: UnsafePointer<T>,
        weights: RecurrentSequenceWeights<T>, initialCell: UnsafePointer<T>?,
        lengths: UnsafeBufferPointer<Int>?, buffers: RecurrentSequenceBuffers<T>,
        outputGradient: UnsafePointer<T>, outputGradientSampleStride: Int? = nil,
        finalHiddenGradient: UnsafePointer<T>, finalCellGradient: UnsafePointer<T>?,
        gradients: RecurrentSequenceGradients<T>, inputTokens: UnsafePointer<Int>? = nil
    ) {
        precondition(inputTokens == nil || gradients.input == nil, "one-hot inputs have no gradient")
        guard let hiddenBefore = buffers.hiddenBefore, let savedGates = buffers.gates else {
            preconditionFailure("backward needs the forward pass's saved h_{t-1} and gates")
        }
        let (batch, steps, inputSize, hidden) = (shape.batch, shape.steps, shape.input, shape.hidden)
        let gateWidth = kind.gateCount * hidden, stepStride = steps * gateWidth
        let rows = batch * steps
        let outputGradientStride = outputGradientSampleStride ?? steps * hidden

        // dP with respect to the input-side pre-activations; GRU also needs dP for the hidden side. The step loop
        // writes every row of both (zeros past a sample's length), so they start uninitialised.
        let inputSideGradient = UnsafeMutablePointer<T>.allocate(capacity: rows * gateWidth)
        let hiddenSideGradient = kind == .gru ? UnsafeMutablePointer<T>.allocate(capacity: rows * gateWidth) : inputSideGradient
        var dh = UnsafeMutablePointer<T>.allocate(capacity: batch * hidden)
        dh.initialize(from: finalHiddenGradient, count: batch * hidden)
        var nextDh = UnsafeMutablePointer<T>.allocate(capacity: batch * hidden)
        nextDh.initialize(repeating: 0, count: batch * hidden)
        let dc = UnsafeMutablePointer<T>.allocate(capacity: kind.hasCellState ? batch * hidden : 0)
        if kind.hasCellState { dc.initialize(from: finalCellGradient!, count: batch * hidden) }
        // Bias gradients are column sums of dP. Summed per sample inside the step loop, while each row of dP is
        // still in cache (a pass of their own re-read all B·T rows from memory), then over the samples in order:
        // the same result for any thread count. One-hot inputs get the input-side sums from dW_ih's token table.
        let biasFromTokenTable = inputTokens != nil && gradients.inputWeight != nil
        let biasSums = gradients.bias != nil && !biasFromTokenTable ? UnsafeMutablePointer<T>.allocate(capacity: batch * gateWidth) : nil
        biasSums?.initialize(repeating: 0, count: batch * gateWidth)
        let candidateBiasSums = gradients.candidateBias != nil && kind == .gru ? UnsafeMutablePointer<T>.allocate(capacity: batch * hidden) : nil
        candidateBiasSums?.initialize(repeating: 0, count: batch * hidden)
        defer {
            biasSums?.deallocate()
            candidateBiasSums?.deallocate()
            inputSideGradient.deallocate()
            if kind == .gru { hiddenSideGradient.deallocate() }
            dh.deallocate()
            nextDh.deallocate()
            dc.deallocate()
        }

        // dP_t·W_hh at every step: W_hh (G·H, H) prepared once.
        let recurrentWeight = T.prepareRightOperand(transposed: false, b: weights.hiddenWeight, ldb: hidden, depth: gateWidth, columns: hidden, uses: steps)
        let split = stepSplit(batch: batch, gateWidth: gateWidth, hidden: hidden)
        let (firstDh, firstNextDh) = (dh, nextDh)
        parallelFor(parts: split.rows.count) { part in
            let rows = split.rows[part], first = rows.lowerBound
            var dh = firstDh, nextDh = firstNextDh
            for t in stride(from: steps - 1, through: 0, by: -1) {
                for b in rows {
                    let row = b * steps + t
                    let g = dh + b * hidden, next = nextDh + b * hidden
                    guard t < length(lengths, b, steps) else {
                        // A carried step passes dh and dc through untouched and has no gate gradient.
                        next.update(from: g, count: hidden)
                        (inputSideGradient + row * gateWidth).update(repeating: 0, count: gateWidth)
                        if kind == .gru { (hiddenSideGradient + row * gateWidth).update(repeating: 0, count: gateWidth) }
                        continue
                    }
                    let dy = outputGradient + b * outputGradientStride + t * hidden
                    for j in 0..<hidden { g[j] += dy[j] }
                    let saved = savedGates + row * gateWidth
                    let dp = inputSideGradient + row * gateWidth
                    switch kind {
                    case .rnnTanh:
                        for j in 0..<hidden { dp[j] = g[j] * (1 - saved[j] * saved[j]) }
                        next.update(repeating: 0, count: hidden)
                    case .rnnReLU:
                        for j in 0..<hidden { dp[j] = saved[j] > 0 ? g[j] : 0 }
                        next.update(repeating: 0, count: hidden)
                    case .lstm:
                        let previousCell: UnsafePointer<T> = t > 0 ? UnsafePointer(buffers.cells! + (row - 1) * hidden) : initialCell! + b * hidden
                        T.lstmGatesBackward(gates: saved, cell: buffers.cells! + row * hidden, previousCell: previousCell, hiddenGradient: g,
                                            cellGradient: dc + b * hidden, gateGradient: dp, hidden: hidden)
                        next.update(repeating: 0, count: hidden)
                    case .gru:
                        T.gruGatesBackward(gates: saved, previousHidden: hiddenBefore + row * hidden, candidate: buffers.candidateHidden! + row * hidden,
                                           hiddenGradient: g, gateGradient: dp, projectionGradient: hiddenSideGradient + row * gateWidth,
                                           previousHiddenGradient: next, hidden: hidden)
                    }
                    if let sums = biasSums.map({ $0 + b * gateWidth }) { for j in 0..<gateWidth { sums[j] += dp[j] } }
                    if let sums = candidateBiasSums.map({ $0 + b * hidden }) {
                        let dn = hiddenSideGradient + row * gateWidth + 2 * hidden
                        for j in 0..<hidden { sums[j] += dn[j] }
                    }
                }
                // dh_{t-1} += dP_t·W_hh (rows past their length have dP_t = 0 and keep their carried dh).
                T.gemm(m: rows.count, a: hiddenSideGradient + (first * steps + t) * gateWidth, lda: stepStride, prepared: recurrentWeight, beta: 1,
                       c: nextDh + first * hidden, ldc: hidden, threads: split.gemmThreads)
                swap(&dh, &nextDh)
            }
        }
        // Each part swapped its two buffers once per step: after an odd number, dh_0 is in the second.
        if steps % 2 == 1 { swap(&dh, &nextDh) }

        if let target = gradients.initialHidden { for i in 0..<(batch * hidden) { target[i] += dh[i] } }
        if let target = gradients.initialCell, kind.hasCellState { for i in 0..<(batch * hidden) { target[i] += dc[i] } }
        guard rows > 0 else { return }
        if let target = gradients.hiddenWeight {
            T.gemm(transposeA: true, transposeB: false, m: gateWidth, n: hidden, k: rows, alpha: 1,
                   a: hiddenSideGradient, lda: gateWidth, b: hiddenBefore, ldb: hidden, beta: 1, c: target, ldc: hidden)
        }
        if let target = gradients.inputWeight, let tokens = inputTokens {
            // dW_ih[:, v] += Σ over the rows reading token v of dP_row: summed as rows of a (I, G·H) table first.
            let table = UnsafeMutablePointer<T>.allocate(capacity: inputSize * gateWidth)
            table.initialize(repeating: 0, count: inputSize * gateWidth)
            defer { table.deallocate() }
            addRows(rows, width: gateWidth, from: { UnsafePointer(inputSideGradient + $0 * gateWidth) }, into: { table + tokens[$0] * gateWidth })
            for gate in 0..<gateWidth {
                for v in 0..<inputSize { target[gate * inputSize + v] += table[v * gateWidth + gate] }
            }
            // Every row of dP sits in exactly one token's row of the table, so its column sums are the bias's.
            if let bias = gradients.bias {
                addRows(inputSize, width: gateWidth, from: { UnsafePointer(table + $0 * gateWidth) }, into: { _ in bias })
            }
        } else if let target = gradients.inputWeight {
            T.gemm(transposeA: true, transposeB: false, m: gateWidth, n: inputSize, k: rows, alpha: 1,
                   a: inputSideGradient, lda: gateWidth, b: x, ldb: inputSize, beta: 1, c: target, ldc: inputSize)
        }
        if let target = gradients.bias, let sums = biasSums {
            addRows(batch, width: gateWidth, from: { UnsafePointer(sums + $0 * gateWidth) }, into: { _ in target })
        }
        if let target = gradients.candidateBias, let sums = candidateBiasSums {
            addRows(batch, width: hidden, from: { UnsafePointer(sums + $0 * hidden) }, into: { _ in target })
        }
        if let target = gradients.input {
            T.gemm(transposeA: false, transposeB: false, m: rows, n: inputSize, k: gateWidth, alpha: 1,
                   a: inputSideGradient, lda: gateWidth, b: weights.inputWeight, ldb: inputSize, beta: 1, c: target, ldc: inputSize)
        }
    }
}
