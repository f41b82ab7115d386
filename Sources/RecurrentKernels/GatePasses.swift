// The recurrent cells' per-row gate passes, forward and backward, each one sweep over the hidden units. The
// sequence kernel runs them once per sample and step, between the step GEMMs. Written as separate library
// calls and loops they read and wrote each row several times and paid a call per gate block (a quarter of an
// LSTM step at H = 16), so Float gets one sixteen-lane sweep; each scalar form is the reference (and Double's code).
//
// LSTM   forward:  i, f, o = σ(p_i, p_f, p_o),  g = tanh(p_g)
//                  c' = f ⊙ c + i ⊙ g,          h' = o ⊙ tanh(c')
//        backward: given dh (all of dL/dh', the output's share included) and dc (dL/dc' from the step after):
//                  dc_total = dc + dh ⊙ o ⊙ (1 − tanh²c')
//                  dp_i = dc_total ⊙ g ⊙ i(1 − i)      dp_f = dc_total ⊙ c ⊙ f(1 − f)
//                  dp_g = dc_total ⊙ i ⊙ (1 − g²)      dp_o = dh ⊙ tanh c' ⊙ o(1 − o)
//                  dc ← dc_total ⊙ f                   (dL/dc for the step before)
//
// GRU    forward:  p = W_ih x + b (r, z, n blocks), q = W_hh h (r, z, n blocks), b_hn the candidate's hidden bias
//                  r = σ(p_r + q_r),  z = σ(p_z + q_z),  ĥ = q_n + b_hn,  n = tanh(p_n + r ⊙ ĥ)
//                  h' = (1 − z) ⊙ n + z ⊙ h
//        backward: dn = dh ⊙ (1 − z)(1 − n²),  dz = dh ⊙ (h − n) z(1 − z),  dr = dn ⊙ ĥ r(1 − r)
//                  input side dp = (dr, dz, dn), hidden side dq = (dr, dz, dn ⊙ r),  dh_prev (direct part) = dh ⊙ z

import RecurrentAVX512

/// One row of the LSTM gate pass. Pointers address one sample's row; gate rows hold the blocks i, f, g, o of
/// `hidden` values each.
public enum LSTMGates {
    /// Adds `bias` (4·hidden, when given) to the pre-activations `gates` and activates them in place, updates
    /// `cell` (c → c'), and writes h' to `output`. The sequence kernel also passes `savedCell` and `state`, which
    /// receive copies of c' and h': one sweep instead of a bias pass and two copies per row.
    // Specialised for Float here: `bench gates` calls it from another module, where the generic form would run
    // through protocol witnesses element by element and time that instead of the arithmetic.
    @_specialize(exported: true, where T == Float)
    public static func forwardReference<T: KernelScalar>(
        gates p: UnsafeMutablePointer<T>, bias: UnsafePointer<T>? = nil, cell c: UnsafeMutablePointer<T>, savedCell: UnsafeMutablePointer<T>? = nil,
        output: UnsafeMutablePointer<T>, state: UnsafeMutablePointer<T>? = nil, hidden: Int
    ) {
        if let bias { for j in 0..<(4 * hidden) { p[j] += bias[j] } }
        for j in 0..<hidden {
            let i = T.sigmoid(p[j]), f = T.sigmoid(p[hidden + j]), g = T.tanh(p[2 * hidden + j]), o = T.sigmoid(p[3 * hidden + j])
            p[j] = i; p[hidden + j] = f; p[2 * hidden + j] = g; p[3 * hidden + j] = o
            let updated = f * c[j] + i * g
            c[j] = updated
            output[j] = o * T.tanh(updated)
            savedCell?[j] = updated
            state?[j] = output[j]
        }
    }

    /// Gate gradients `dp` (4·hidden) from the activated `gates`, the cell after the step (`cell`) and before it
    /// (`previousCell`), dL/dh' (`hiddenGradient`) and dL/dc' (`cellGradient`, replaced by dL/dc).
    // Specialised for Float here: `bench gates` calls it from another module, where the generic form would run
    // through protocol witnesses element by element and time that instead of the arithmetic.
    @_specialize(exported: true, where T == Float)
    public static func backwardReference<T: KernelScalar>(
        gates saved: UnsafePointer<T>, cell: UnsafePointer<T>, previousCell: UnsafePointer<T>, hiddenGradient dh: UnsafePointer<T>,
        cellGradient dc: UnsafeMutablePointer<T>, gateGradient dp: UnsafeMutablePointer<T>, hidden: Int
    ) {
        for j in 0..<hidden {
            let i = saved[j], f = saved[hidden + j], g = saved[2 * hidden + j], o = saved[3 * hidden + j]
            let tanhCell = T.tanh(cell[j])
            let total: T = dc[j] + dh[j] * o * (1 - tanhCell * tanhCell)
            dp[j] = total * g * i * (1 - i)
            dp[hidden + j] = total * previousCell[j] * f * (1 - f)
            dp[2 * hidden + j] = total * i * (1 - g * g)
            dp[3 * hidden + j] = dh[j] * tanhCell * o * (1 - o)
            dc[j] = total * f
        }
    }
}

extension LSTMGates {
    /// Sixteen units of the forward pass (the first eight when `half`); the gate blocks sit `stride` floats apart.
    @_transparent
    static func forwardLanes(
        gates p: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>?, cell c: UnsafeMutablePointer<Float>,
        savedCell: UnsafeMutablePointer<Float>?, output: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>?, half: Bool
    ) {
        var pi = load(p, half), pf = load(p + stride, half), pg = load(p + 2 * stride, half), po = load(p + 3 * stride, half)
        if let bias {
            pi += load(bias, half); pf += load(bias + stride, half); pg += load(bias + 2 * stride, half); po += load(bias + 3 * stride, half)
        }
        let i = FastMath.sigmoidLanes(pi), f = FastMath.sigmoidLanes(pf)
        let g = FastMath.tanhLanes(pg), o = FastMath.sigmoidLanes(po)
        store(i, p, half); store(f, p + stride, half); store(g, p + 2 * stride, half); store(o, p + 3 * stride, half)
        let updated = f * load(c, half) + i * g
        store(updated, c, half)
        if let savedCell { store(updated, savedCell, half) }
        let h = o * FastMath.tanhLanes(updated)
        store(h, output, half)
        if let state { store(h, state, half) }
    }

    /// Sixteen units of the backward pass (the first eight when `half`).
    @inline(__always)
    static func backwardLanes(
        gates saved: UnsafePointer<Float>, stride: Int, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
        hiddenGradient dh: UnsafePointer<Float>, cellGradient dc: UnsafeMutablePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>, half: Bool
    ) {
        let i = load(saved, half), f = load(saved + stride, half), g = load(saved + 2 * stride, half), o = load(saved + 3 * stride, half)
        let tanhCell = FastMath.tanhLanes(load(cell, half)), gradient = load(dh, half)
        let total = load(dc, half) + gradient * o * (1 - tanhCell * tanhCell)
        store(total * g * i * (1 - i), dp, half)
        store(total * load(previousCell, half) * f * (1 - f), dp + stride, half)
        store(total * i * (1 - g * g), dp + 2 * stride, half)
        store(gradient * tanhCell * o * (1 - o), dp + 3 * stride, half)
        store(total * f, dc, half)
    }

    /// `forwardReference` for Float, sixteen hidden units at a time: in one AVX-512 register where the process
    /// uses AVX-512 (`avx512` overrides `ComputeSettings.usesAVX512`; asked for on a CPU without it, AVX2), else in
    /// two AVX2 registers. Both give the same bits.
    public static func forward(
        gates p: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil, cell c: UnsafeMutablePointer<Float>,
        savedCell: UnsafeMutablePointer<Float>? = nil, output: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>? = nil, hidden: Int,
        avx512: Bool? = nil
    ) {
        if usesWideGates(avx512) {
            recurrent_avx512_lstm_forward(p, bias, c, savedCell, output, state, hidden)
            return
        }
        sweep(hidden: hidden, { j, half in
            forwardLanes(gates: p + j, stride: hidden, bias: bias.map { $0 + j }, cell: c + j, savedCell: savedCell.map { $0 + j },
                         output: output + j, state: state.map { $0 + j }, half: half)
        }, tail: { j, count in
            // Scratch: four gate groups, four bias groups, the cell and h, eight lanes each.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 10 * halfLanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 10 * halfLanes)
                for gate in 0..<4 {
                    (s + halfLanes * gate).update(from: p + gate * hidden + j, count: count)
                    if let bias { (s + 4 * halfLanes + halfLanes * gate).update(from: bias + gate * hidden + j, count: count) }
                }
                (s + 8 * halfLanes).update(from: c + j, count: count)
                forwardLanes(gates: s, stride: halfLanes, bias: s + 4 * halfLanes, cell: s + 8 * halfLanes, savedCell: nil, output: s + 9 * halfLanes, state: nil, half: true)
                for gate in 0..<4 { (p + gate * hidden + j).update(from: s + halfLanes * gate, count: count) }
                (c + j).update(from: s + 8 * halfLanes, count: count)
                savedCell?.advanced(by: j).update(from: s + 8 * halfLanes, count: count)
                (output + j).update(from: s + 9 * halfLanes, count: count)
                state?.advanced(by: j).update(from: s + 9 * halfLanes, count: count)
            }
        })
    }

    /// `backwardReference` for Float, sixteen hidden units at a time (AVX-512 as in `forward`).
    public static func backward(
        gates saved: UnsafePointer<Float>, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>, hiddenGradient dh: UnsafePointer<Float>,
        cellGradient dc: UnsafeMutablePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>, hidden: Int, avx512: Bool? = nil
    ) {
        if usesWideGates(avx512) {
            recurrent_avx512_lstm_backward(saved, cell, previousCell, dh, dc, dp, hidden)
            return
        }
        sweep(hidden: hidden, { j, half in
            backwardLanes(gates: saved + j, stride: hidden, cell: cell + j, previousCell: previousCell + j,
                          hiddenGradient: dh + j, cellGradient: dc + j, gateGradient: dp + j, half: half)
        }, tail: { j, count in
            // Scratch: four saved gates, cell, previous cell, dh, dc, then four gate gradients: eight lanes each.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 12 * halfLanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 12 * halfLanes)
                for gate in 0..<4 { (s + halfLanes * gate).update(from: saved + gate * hidden + j, count: count) }
                (s + 4 * halfLanes).update(from: cell + j, count: count)
                (s + 5 * halfLanes).update(from: previousCell + j, count: count)
                (s + 6 * halfLanes).update(from: dh + j, count: count)
                (s + 7 * halfLanes).update(from: dc + j, count: count)
                backwardLanes(gates: s, stride: halfLanes, cell: s + 4 * halfLanes, previousCell: s + 5 * halfLanes, hiddenGradient: s + 6 * halfLanes, cellGradient: s + 7 * halfLanes, gateGradient: s + 8 * halfLanes, half: true)
                for gate in 0..<4 { (dp + gate * hidden + j).update(from: s + 8 * halfLanes + halfLanes * gate, count: count) }
                (dc + j).update(from: s + 7 * halfLanes, count: count)
            }
        })
    }
}

/// One row of the GRU gate pass; gate rows hold the blocks r, z, n of `hidden` values each.
public enum GRUGates {
    /// Activates `gates` (the input side p) in place to r, z, n with the hidden side `projection` (q), saves ĥ in
    /// `candidate`, and replaces `state` (h) by h', also written to `output`.
    // Specialised for Float here: `bench gates` calls it from another module, where the generic form would run
    // through protocol witnesses element by element and time that instead of the arithmetic.
    @_specialize(exported: true, where T == Float)
    public static func forwardReference<T: KernelScalar>(
        gates p: UnsafeMutablePointer<T>, projection q: UnsafePointer<T>, candidateBias: UnsafePointer<T>,
        candidate: UnsafeMutablePointer<T>, state h: UnsafeMutablePointer<T>, output: UnsafeMutablePointer<T>, hidden width: Int
    ) {
        for j in 0..<width {
            let r = T.sigmoid(p[j] + q[j]), z = T.sigmoid(p[width + j] + q[width + j])
            let hn = q[2 * width + j] + candidateBias[j]
            let n = T.tanh(p[2 * width + j] + r * hn)
            p[j] = r; p[width + j] = z; p[2 * width + j] = n
            candidate[j] = hn
            let updated = (1 - z) * n + z * h[j]
            h[j] = updated
            output[j] = updated
        }
    }

    /// Input-side `gateGradient` (dp) and hidden-side `projectionGradient` (dq) from the activated `gates`, the
    /// state before the step (`previousHidden`), ĥ (`candidate`) and dL/dh' (`hiddenGradient`); writes the direct
    /// part of dL/dh to `previousHiddenGradient` (the W_hh part is added by the step's GEMM).
    // Specialised for Float here: `bench gates` calls it from another module, where the generic form would run
    // through protocol witnesses element by element and time that instead of the arithmetic.
    @_specialize(exported: true, where T == Float)
    public static func backwardReference<T: KernelScalar>(
        gates saved: UnsafePointer<T>, previousHidden h: UnsafePointer<T>, candidate: UnsafePointer<T>, hiddenGradient dh: UnsafePointer<T>,
        gateGradient dp: UnsafeMutablePointer<T>, projectionGradient dq: UnsafeMutablePointer<T>,
        previousHiddenGradient next: UnsafeMutablePointer<T>, hidden width: Int
    ) {
        for j in 0..<width {
            let r = saved[j], z = saved[width + j], n = saved[2 * width + j]
            let dn: T = dh[j] * (1 - z) * (1 - n * n)
            let dz: T = dh[j] * (h[j] - n) * (z * (1 - z))
            let dr: T = dn * candidate[j] * (r * (1 - r))
            dp[j] = dr; dp[width + j] = dz; dp[2 * width + j] = dn
            dq[j] = dr; dq[width + j] = dz; dq[2 * width + j] = dn * r
            next[j] = dh[j] * z
        }
    }
}

extension GRUGates {
    @_transparent
    static func forwardLanes(
        gates p: UnsafeMutablePointer<Float>, projection q: UnsafePointer<Float>, stride: Int, candidateBias: UnsafePointer<Float>,
        candidate: UnsafeMutablePointer<Float>, state h: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, half: Bool
    ) {
        let r = FastMath.sigmoidLanes(load(p, half) + load(q, half)), z = FastMath.sigmoidLanes(load(p + stride, half) + load(q + stride, half))
        let hn = load(q + 2 * stride, half) + load(candidateBias, half)
        let n = FastMath.tanhLanes(load(p + 2 * stride, half) + r * hn)
        store(r, p, half); store(z, p + stride, half); store(n, p + 2 * stride, half)
        store(hn, candidate, half)
        let updated = (1 - z) * n + z * load(h, half)
        store(updated, h, half)
        store(updated, output, half)
    }

    @inline(__always)
    static func backwardLanes(
        gates saved: UnsafePointer<Float>, stride: Int, previousHidden h: UnsafePointer<Float>, candidate: UnsafePointer<Float>,
        hiddenGradient dh: UnsafePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>, projectionGradient dq: UnsafeMutablePointer<Float>,
        previousHiddenGradient next: UnsafeMutablePointer<Float>, half: Bool
    ) {
        let r = load(saved, half), z = load(saved + stride, half), n = load(saved + 2 * stride, half), gradient = load(dh, half)
        let dn = gradient * (1 - z) * (1 - n * n)
        let dz = gradient * (load(h, half) - n) * (z * (1 - z))
        let dr = dn * load(candidate, half) * (r * (1 - r))
        store(dr, dp, half); store(dz, dp + stride, half); store(dn, dp + 2 * stride, half)
        store(dr, dq, half); store(dz, dq + stride, half); store(dn * r, dq + 2 * stride, half)
        store(gradient * z, next, half)
    }

    /// `forwardReference` for Float, sixteen hidden units at a time (AVX-512 as in `LSTMGates.forward`).
    public static func forward(
        gates p: UnsafeMutablePointer<Float>, projection q: UnsafePointer<Float>, candidateBias: UnsafePointer<Float>,
        candidate: UnsafeMutablePointer<Float>, state h: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, hidden width: Int,
        avx512: Bool? = nil
    ) {
        if usesWideGates(avx512) {
            recurrent_avx512_gru_forward(p, q, candidateBias, candidate, h, output, width)
            return
        }
        sweep(hidden: width, { j, half in
            forwardLanes(gates: p + j, projection: q + j, stride: width, candidateBias: candidateBias + j, candidate: candidate + j, state: h + j, output: output + j, half: half)
        }, tail: { j, count in
            // Scratch, eight lanes each: p (3), q (3), b_hn, ĥ, h, output.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 10 * halfLanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 10 * halfLanes)
                for gate in 0..<3 {
                    (s + halfLanes * gate).update(from: p + gate * width + j, count: count)
                    (s + 3 * halfLanes + halfLanes * gate).update(from: q + gate * width + j, count: count)
                }
                (s + 6 * halfLanes).update(from: candidateBias + j, count: count)
                (s + 8 * halfLanes).update(from: h + j, count: count)
                forwardLanes(gates: s, projection: s + 3 * halfLanes, stride: halfLanes, candidateBias: s + 6 * halfLanes, candidate: s + 7 * halfLanes, state: s + 8 * halfLanes, output: s + 9 * halfLanes, half: true)
                for gate in 0..<3 { (p + gate * width + j).update(from: s + halfLanes * gate, count: count) }
                (candidate + j).update(from: s + 7 * halfLanes, count: count)
                (h + j).update(from: s + 8 * halfLanes, count: count)
                (output + j).update(from: s + 9 * halfLanes, count: count)
            }
        })
    }

    /// `backwardReference` for Float, sixteen hidden units at a time (AVX-512 as in `LSTMGates.forward`).
    public static func backward(
        gates saved: UnsafePointer<Float>, previousHidden h: UnsafePointer<Float>, candidate: UnsafePointer<Float>, hiddenGradient dh: UnsafePointer<Float>,
        gateGradient dp: UnsafeMutablePointer<Float>, projectionGradient dq: UnsafeMutablePointer<Float>,
        previousHiddenGradient next: UnsafeMutablePointer<Float>, hidden width: Int, avx512: Bool? = nil
    ) {
        if usesWideGates(avx512) {
            recurrent_avx512_gru_backward(saved, h, candidate, dh, dp, dq, next, width)
            return
        }
        sweep(hidden: width, { j, half in
            backwardLanes(gates: saved + j, stride: width, previousHidden: h + j, candidate: candidate + j, hiddenGradient: dh + j,
                          gateGradient: dp + j, projectionGradient: dq + j, previousHiddenGradient: next + j, half: half)
        }, tail: { j, count in
            // Scratch, eight lanes each: saved gates (3), h, ĥ, dh, dp (3), dq (3), next.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 13 * halfLanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 13 * halfLanes)
                for gate in 0..<3 { (s + halfLanes * gate).update(from: saved + gate * width + j, count: count) }
                (s + 3 * halfLanes).update(from: h + j, count: count)
                (s + 4 * halfLanes).update(from: candidate + j, count: count)
                (s + 5 * halfLanes).update(from: dh + j, count: count)
                backwardLanes(gates: s, stride: halfLanes, previousHidden: s + 3 * halfLanes, candidate: s + 4 * halfLanes, hiddenGradient: s + 5 * halfLanes,
                              gateGradient: s + 6 * halfLanes, projectionGradient: s + 9 * halfLanes, previousHiddenGradient: s + 12 * halfLanes, half: true)
                for gate in 0..<3 {
                    (dp + gate * width + j).update(from: s + 6 * halfLanes + halfLanes * gate, count: count)
                    (dq + gate * width + j).update(from: s + 9 * halfLanes + halfLanes * gate, count: count)
                }
                (next + j).update(from: s + 12 * halfLanes, count: count)
            }
        })
    }
}

/// The tanh RNN's forward step for Float over a step's rows: h = tanh(p + b), written to the gate row p (kept for
/// backward, or scratch), the output row and the state row. One pass per row in AVX-512 registers where the process
/// uses AVX-512 (`avx512` overrides `ComputeSettings.usesAVX512`), else a bias pass, FastMath's tanh and two
/// copies; both give the same bits (a bias add, then the same tanh operations).
public enum RNNTanhStep {
    public static func forwardRows(
        _ rows: Int, gates: UnsafeMutablePointer<Float>, gatesStride: Int, bias: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        outputStride: Int, state: UnsafeMutablePointer<Float>, stateStride: Int, hidden: Int, avx512: Bool? = nil
    ) {
        if usesWideGates(avx512) {
            recurrent_avx512_rnn_tanh_forward_rows(rows, gates, gatesStride, bias, output, outputStride, state, stateStride, hidden)
            return
        }
        for r in 0..<rows {
            let p = gates + r * gatesStride
            for j in 0..<hidden { p[j] += bias[j] }
            FastMath.apply(hidden, p, p, FastMath.tanhLanes)
            (state + r * stateStride).update(from: p, count: hidden)
            (output + r * outputStride).update(from: p, count: hidden)
        }
    }
}

/// Whether a gate pass runs in AVX-512 registers: asked for (or by default the process setting) and usable here.
@inline(__always)
func usesWideGates(_ avx512: Bool?) -> Bool {
    (avx512 ?? ComputeSettings.usesAVX512) && KernelInfo.avx512Usable
}

// Shared by the gate passes: a row swept FastMath's sixteen lanes at a time.
private typealias Vector = FastMath.Vector
private var lanes: Int { @_transparent get { FastMath.lanes } }
private var halfLanes: Int { @_transparent get { FastMath.lanes / 2 } }

/// Runs `body` at offsets 0, 16, 32, … of a row of `hidden` units, then once with `half` for a last group of
/// eight or more; a last group of under eight goes to `tail`, which runs the same vector code (half width) on
/// zero-padded copies, so the loop body stays free of lane-by-lane branches (the vectoriser turned a branchy
/// version into scalar code). A hidden size of 8, 24, 40, … ends in a half step, not in the copies.
@inline(__always)
private func sweep(hidden: Int, _ body: (_ offset: Int, _ half: Bool) -> Void, tail: (_ offset: Int, _ count: Int) -> Void) {
    var j = 0
    while j + lanes <= hidden {
        body(j, false)
        j += lanes
    }
    if j + halfLanes <= hidden {
        body(j, true)
        j += halfLanes
    }
    if j < hidden { tail(j, hidden - j) }
}

/// Sixteen lanes from `source`, or with `half` eight and zeros (the arithmetic on zeros stays finite).
@_transparent
private func load(_ source: UnsafePointer<Float>, _ half: Bool) -> Vector {
    half ? Vector(lowHalf: UnsafeRawPointer(source).loadUnaligned(as: SIMD8<Float>.self), highHalf: .zero)
         : UnsafeRawPointer(source).loadUnaligned(as: Vector.self)
}

/// Sixteen lanes to `target`, or with `half` the first eight.
@_transparent
private func store(_ value: Vector, _ target: UnsafeMutablePointer<Float>, _ half: Bool) {
    if half {
        UnsafeMutableRawPointer(target).storeBytes(of: value.lowHalf, as: SIMD8<Float>.self)
    } else {
        UnsafeMutableRawPointer(target).storeBytes(of: value, as: Vector.self)
    }
}
