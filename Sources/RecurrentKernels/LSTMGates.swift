// The LSTM's per-row gate pass, forward and backward, in one sweep over the hidden units. The sequence kernel
// runs it once per sample and step, between the step GEMMs. Written apart as five library calls and two loops,
// it read and wrote each row seven times and paid a call's overhead per gate block — a quarter of an LSTM step
// at H = 16 — so Float gets one eight-lane sweep; the scalar form below is its reference (and Double's code).
//
//   forward:  i, f, o = σ(p_i, p_f, p_o),  g = tanh(p_g)
//             c' = f ⊙ c + i ⊙ g,          h' = o ⊙ tanh(c')
//   backward: given dh (all of dL/dh', the output's share included) and dc (dL/dc' from the step after):
//             dc_total = dc + dh ⊙ o ⊙ (1 − tanh²c')
//             dp_i = dc_total ⊙ g ⊙ i(1 − i)      dp_f = dc_total ⊙ c ⊙ f(1 − f)
//             dp_g = dc_total ⊙ i ⊙ (1 − g²)      dp_o = dh ⊙ tanh c' ⊙ o(1 − o)
//             dc ← dc_total ⊙ f                   (dL/dc for the step before)

/// One row of the LSTM gate pass. Pointers address one sample's row; gate rows hold the blocks i, f, g, o of
/// `hidden` values each.
public enum LSTMGates {
    /// Activates the pre-activations `gates` in place, updates `cell` (c → c'), and writes h' to `output`.
    @inline(__always)
    public static func forwardReference<T: KernelScalar>(gates p: UnsafeMutablePointer<T>, cell c: UnsafeMutablePointer<T>, output: UnsafeMutablePointer<T>, hidden: Int) {
        for j in 0..<hidden {
            let i = T.sigmoid(p[j]), f = T.sigmoid(p[hidden + j]), g = T.tanh(p[2 * hidden + j]), o = T.sigmoid(p[3 * hidden + j])
            p[j] = i; p[hidden + j] = f; p[2 * hidden + j] = g; p[3 * hidden + j] = o
            let updated = f * c[j] + i * g
            c[j] = updated
            output[j] = o * T.tanh(updated)
        }
    }

    /// Gate gradients `dp` (4·hidden) from the activated `gates`, the cell after the step (`cell`) and before it
    /// (`previousCell`), dL/dh' (`hiddenGradient`) and dL/dc' (`cellGradient`, replaced by dL/dc).
    @inline(__always)
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
    typealias Vector = SIMD8<Float>

    /// Runs `body` at offsets 0, 8, 16, … of a row of `hidden` units; a last partial group of lanes goes through
    /// the same vector code on zero-padded copies (`pad` copies each of the row's arrays in and out), so the
    /// loop body stays free of lane-by-lane branches the vectoriser would stumble on.
    @inline(__always)
    static func sweep(hidden: Int, _ body: (Int) -> Void, tail: (_ offset: Int, _ count: Int) -> Void) {
        var j = 0
        while j + 8 <= hidden {
            body(j)
            j += 8
        }
        if j < hidden { tail(j, hidden - j) }
    }

    @inline(__always)
    static func load(_ source: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(source).loadUnaligned(as: Vector.self) }

    @inline(__always)
    static func store(_ value: Vector, _ target: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(target).storeBytes(of: value, as: Vector.self) }

    /// Eight units of the forward pass; the gate blocks sit `stride` floats apart.
    @inline(__always)
    static func forwardLanes(gates p: UnsafeMutablePointer<Float>, stride: Int, cell c: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let i = FastMath.sigmoid(load(p)), f = FastMath.sigmoid(load(p + stride))
        let g = FastMath.tanh(load(p + 2 * stride)), o = FastMath.sigmoid(load(p + 3 * stride))
        store(i, p); store(f, p + stride); store(g, p + 2 * stride); store(o, p + 3 * stride)
        let updated = f * load(c) + i * g
        store(updated, c)
        store(o * FastMath.tanh(updated), output)
    }

    /// Eight units of the backward pass.
    @inline(__always)
    static func backwardLanes(
        gates saved: UnsafePointer<Float>, stride: Int, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
        hiddenGradient dh: UnsafePointer<Float>, cellGradient dc: UnsafeMutablePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>
    ) {
        let i = load(saved), f = load(saved + stride), g = load(saved + 2 * stride), o = load(saved + 3 * stride)
        let tanhCell = FastMath.tanh(load(cell)), gradient = load(dh)
        let total = load(dc) + gradient * o * (1 - tanhCell * tanhCell)
        store(total * g * i * (1 - i), dp)
        store(total * load(previousCell) * f * (1 - f), dp + stride)
        store(total * i * (1 - g * g), dp + 2 * stride)
        store(gradient * tanhCell * o * (1 - o), dp + 3 * stride)
        store(total * f, dc)
    }

    /// `forwardReference` for Float, eight hidden units at a time.
    public static func forward(gates p: UnsafeMutablePointer<Float>, cell c: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, hidden: Int) {
        sweep(hidden: hidden, { j in
            forwardLanes(gates: p + j, stride: hidden, cell: c + j, output: output + j)
        }, tail: { j, count in
            // Scratch: four gate groups, the cell and the output, eight lanes each.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 48)
                for gate in 0..<4 { (s + 8 * gate).update(from: p + gate * hidden + j, count: count) }
                (s + 32).update(from: c + j, count: count)
                forwardLanes(gates: s, stride: 8, cell: s + 32, output: s + 40)
                for gate in 0..<4 { (p + gate * hidden + j).update(from: s + 8 * gate, count: count) }
                (c + j).update(from: s + 32, count: count)
                (output + j).update(from: s + 40, count: count)
            }
        })
    }

    /// `backwardReference` for Float, eight hidden units at a time.
    public static func backward(
        gates saved: UnsafePointer<Float>, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>, hiddenGradient dh: UnsafePointer<Float>,
        cellGradient dc: UnsafeMutablePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        sweep(hidden: hidden, { j in
            backwardLanes(gates: saved + j, stride: hidden, cell: cell + j, previousCell: previousCell + j,
                          hiddenGradient: dh + j, cellGradient: dc + j, gateGradient: dp + j)
        }, tail: { j, count in
            // Scratch: four saved gates, cell, previous cell, dh, dc, then four gate gradients: eight lanes each.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 96) { scratch in
                let s = scratch.baseAddress!
                s.initialize(repeating: 0, count: 96)
                for gate in 0..<4 { (s + 8 * gate).update(from: saved + gate * hidden + j, count: count) }
                (s + 32).update(from: cell + j, count: count)
                (s + 40).update(from: previousCell + j, count: count)
                (s + 48).update(from: dh + j, count: count)
                (s + 56).update(from: dc + j, count: count)
                backwardLanes(gates: s, stride: 8, cell: s + 32, previousCell: s + 40, hiddenGradient: s + 48, cellGradient: s + 56, gateGradient: s + 64)
                for gate in 0..<4 { (dp + gate * hidden + j).update(from: s + 64 + 8 * gate, count: count) }
                (dc + j).update(from: s + 56, count: count)
            }
        })
    }
}
