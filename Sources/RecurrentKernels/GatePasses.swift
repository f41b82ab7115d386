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
    /// Sixteen units of the forward pass; the gate blocks sit `stride` floats apart.
    @_transparent
    static func forwardLanes(
        gates p: UnsafeMutablePointer<Float>, stride: Int, bias: UnsafePointer<Float>?, cell c: UnsafeMutablePointer<Float>,
        savedCell: UnsafeMutablePointer<Float>?, output: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>?
    ) {
        var pi = load(p), pf = load(p + stride), pg = load(p + 2 * stride), po = load(p + 3 * stride)
        if let bias {
            pi += load(bias); pf += load(bias + stride); pg += load(bias + 2 * stride); po += load(bias + 3 * stride)
        }
        let i = FastMath.sigmoidLanes(pi), f = FastMath.sigmoidLanes(pf)
        let g = FastMath.tanhLanes(pg), o = FastMath.sigmoidLanes(po)
        store(i, p); store(f, p + stride); store(g, p + 2 * stride); store(o, p + 3 * stride)
        let updated = f * load(c) + i * g
        store(updated, c)
        if let savedCell { store(updated, savedCell) }
        let h = o * FastMath.tanhLanes(updated)
        store(h, output)
        if let state { store(h, state) }
    }

    /// Sixteen units of the backward pass.
    @inline(__always)
    static func backwardLanes(
        gates saved: UnsafePointer<Float>, stride: Int, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
        hiddenGradient dh: UnsafePointer<Float>, cellGradient dc: UnsafeMutablePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>
    ) {
        let i = load(saved), f = load(saved + stride), g = load(saved + 2 * stride), o = load(saved + 3 * stride)
        let tanhCell = FastMath.tanhLanes(load(cell)), gradient = load(dh)
        let total = load(dc) + gradient * o * (1 - tanhCell * tanhCell)
        store(total * g * i * (1 - i), dp)
        store(total * load(previousCell) * f * (1 - f), dp + stride)
        store(total * i * (1 - g * g), dp + 2 * stride)
        store(gradient * tanhCell * o * (1 - o), dp + 3 * stride)
        store(total * f, dc)
    }

    /// `forwardReference` for Float, sixteen hidden units at a time.
    public static func forward(
        gates p: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil, cell c: UnsafeMutablePointer<Float>,
        savedCell: UnsafeMutablePointer<Float>? = nil, output: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>? = nil, hidden: Int
    ) {
        sweep(hidden: hidden, { j in
            forwardLanes(gates: p + j, stride: hidden, bias: bias.map { $0 + j }, cell: c + j, savedCell: savedCell.map { $0 + j },
                         output: output + j, state: state.map { $0 + j })
        }, tail: { j, count in
            // Scratch: four gate groups, four bias groups, the cell and h, sixteen lanes each.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 10 * lanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 10 * lanes)
                for gate in 0..<4 {
                    (s + lanes * gate).update(from: p + gate * hidden + j, count: count)
                    if let bias { (s + 4 * lanes + lanes * gate).update(from: bias + gate * hidden + j, count: count) }
                }
                (s + 8 * lanes).update(from: c + j, count: count)
                forwardLanes(gates: s, stride: lanes, bias: s + 4 * lanes, cell: s + 8 * lanes, savedCell: nil, output: s + 9 * lanes, state: nil)
                for gate in 0..<4 { (p + gate * hidden + j).update(from: s + lanes * gate, count: count) }
                (c + j).update(from: s + 8 * lanes, count: count)
                savedCell?.advanced(by: j).update(from: s + 8 * lanes, count: count)
                (output + j).update(from: s + 9 * lanes, count: count)
                state?.advanced(by: j).update(from: s + 9 * lanes, count: count)
            }
        })
    }

    /// `backwardReference` for Float, sixteen hidden units at a time.
    public static func backward(
        gates saved: UnsafePointer<Float>, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>, hiddenGradient dh: UnsafePointer<Float>,
        cellGradient dc: UnsafeMutablePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        sweep(hidden: hidden, { j in
            backwardLanes(gates: saved + j, stride: hidden, cell: cell + j, previousCell: previousCell + j,
                          hiddenGradient: dh + j, cellGradient: dc + j, gateGradient: dp + j)
        }, tail: { j, count in
            // Scratch: four saved gates, cell, previous cell, dh, dc, then four gate gradients: sixteen lanes each.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 12 * lanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 12 * lanes)
                for gate in 0..<4 { (s + lanes * gate).update(from: saved + gate * hidden + j, count: count) }
                (s + 4 * lanes).update(from: cell + j, count: count)
                (s + 5 * lanes).update(from: previousCell + j, count: count)
                (s + 6 * lanes).update(from: dh + j, count: count)
                (s + 7 * lanes).update(from: dc + j, count: count)
                backwardLanes(gates: s, stride: lanes, cell: s + 4 * lanes, previousCell: s + 5 * lanes, hiddenGradient: s + 6 * lanes, cellGradient: s + 7 * lanes, gateGradient: s + 8 * lanes)
                for gate in 0..<4 { (dp + gate * hidden + j).update(from: s + 8 * lanes + lanes * gate, count: count) }
                (dc + j).update(from: s + 7 * lanes, count: count)
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
        candidate: UnsafeMutablePointer<Float>, state h: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
        let r = FastMath.sigmoidLanes(load(p) + load(q)), z = FastMath.sigmoidLanes(load(p + stride) + load(q + stride))
        let hn = load(q + 2 * stride) + load(candidateBias)
        let n = FastMath.tanhLanes(load(p + 2 * stride) + r * hn)
        store(r, p); store(z, p + stride); store(n, p + 2 * stride)
        store(hn, candidate)
        let updated = (1 - z) * n + z * load(h)
        store(updated, h)
        store(updated, output)
    }

    @inline(__always)
    static func backwardLanes(
        gates saved: UnsafePointer<Float>, stride: Int, previousHidden h: UnsafePointer<Float>, candidate: UnsafePointer<Float>,
        hiddenGradient dh: UnsafePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>, projectionGradient dq: UnsafeMutablePointer<Float>,
        previousHiddenGradient next: UnsafeMutablePointer<Float>
    ) {
        let r = load(saved), z = load(saved + stride), n = load(saved + 2 * stride), gradient = load(dh)
        let dn = gradient * (1 - z) * (1 - n * n)
        let dz = gradient * (load(h) - n) * (z * (1 - z))
        let dr = dn * load(candidate) * (r * (1 - r))
        store(dr, dp); store(dz, dp + stride); store(dn, dp + 2 * stride)
        store(dr, dq); store(dz, dq + stride); store(dn * r, dq + 2 * stride)
        store(gradient * z, next)
    }

    /// `forwardReference` for Float, sixteen hidden units at a time.
    public static func forward(
        gates p: UnsafeMutablePointer<Float>, projection q: UnsafePointer<Float>, candidateBias: UnsafePointer<Float>,
        candidate: UnsafeMutablePointer<Float>, state h: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, hidden width: Int
    ) {
        sweep(hidden: width, { j in
            forwardLanes(gates: p + j, projection: q + j, stride: width, candidateBias: candidateBias + j, candidate: candidate + j, state: h + j, output: output + j)
        }, tail: { j, count in
            // Scratch, sixteen lanes each: p (3), q (3), b_hn, ĥ, h, output.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 10 * lanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 10 * lanes)
                for gate in 0..<3 {
                    (s + lanes * gate).update(from: p + gate * width + j, count: count)
                    (s + 3 * lanes + lanes * gate).update(from: q + gate * width + j, count: count)
                }
                (s + 6 * lanes).update(from: candidateBias + j, count: count)
                (s + 8 * lanes).update(from: h + j, count: count)
                forwardLanes(gates: s, projection: s + 3 * lanes, stride: lanes, candidateBias: s + 6 * lanes, candidate: s + 7 * lanes, state: s + 8 * lanes, output: s + 9 * lanes)
                for gate in 0..<3 { (p + gate * width + j).update(from: s + lanes * gate, count: count) }
                (candidate + j).update(from: s + 7 * lanes, count: count)
                (h + j).update(from: s + 8 * lanes, count: count)
                (output + j).update(from: s + 9 * lanes, count: count)
            }
        })
    }

    /// `backwardReference` for Float, sixteen hidden units at a time.
    public static func backward(
        gates saved: UnsafePointer<Float>, previousHidden h: UnsafePointer<Float>, candidate: UnsafePointer<Float>, hiddenGradient dh: UnsafePointer<Float>,
        gateGradient dp: UnsafeMutablePointer<Float>, projectionGradient dq: UnsafeMutablePointer<Float>,
        previousHiddenGradient next: UnsafeMutablePointer<Float>, hidden width: Int
    ) {
        sweep(hidden: width, { j in
            backwardLanes(gates: saved + j, stride: width, previousHidden: h + j, candidate: candidate + j, hiddenGradient: dh + j,
                          gateGradient: dp + j, projectionGradient: dq + j, previousHiddenGradient: next + j)
        }, tail: { j, count in
            // Scratch, sixteen lanes each: saved gates (3), h, ĥ, dh, dp (3), dq (3), next.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 13 * lanes) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 13 * lanes)
                for gate in 0..<3 { (s + lanes * gate).update(from: saved + gate * width + j, count: count) }
                (s + 3 * lanes).update(from: h + j, count: count)
                (s + 4 * lanes).update(from: candidate + j, count: count)
                (s + 5 * lanes).update(from: dh + j, count: count)
                backwardLanes(gates: s, stride: lanes, previousHidden: s + 3 * lanes, candidate: s + 4 * lanes, hiddenGradient: s + 5 * lanes,
                              gateGradient: s + 6 * lanes, projectionGradient: s + 9 * lanes, previousHiddenGradient: s + 12 * lanes)
                for gate in 0..<3 {
                    (dp + gate * width + j).update(from: s + 6 * lanes + lanes * gate, count: count)
                    (dq + gate * width + j).update(from: s + 9 * lanes + lanes * gate, count: count)
                }
                (next + j).update(from: s + 12 * lanes, count: count)
            }
        })
    }
}

// Shared by the gate passes: a row swept FastMath's sixteen lanes at a time.
private typealias Vector = FastMath.Vector
private var lanes: Int { @_transparent get { FastMath.lanes } }

/// Runs `body` at offsets 0, 16, 32, … of a row of `hidden` units; a last partial group goes to `tail`, which
/// runs the same vector code on zero-padded copies, so the loop body stays free of lane-by-lane branches (the
/// vectoriser turned a branchy version into scalar code).
@inline(__always)
private func sweep(hidden: Int, _ body: (Int) -> Void, tail: (_ offset: Int, _ count: Int) -> Void) {
    var j = 0
    while j + lanes <= hidden {
        body(j)
        j += lanes
    }
    if j < hidden { tail(j, hidden - j) }
}

@inline(__always)
private func load(_ source: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(source).loadUnaligned(as: Vector.self) }

@inline(__always)
private func store(_ value: Vector, _ target: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(target).storeBytes(of: value, as: Vector.self) }
