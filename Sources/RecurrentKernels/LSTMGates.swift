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

    /// Loads `count` ≤ 8 floats (the rest zero): the tail of a row whose width is not a multiple of eight.
    @inline(__always)
    static func load(_ source: UnsafePointer<Float>, _ count: Int) -> Vector {
        if count == 8 { return UnsafeRawPointer(source).loadUnaligned(as: Vector.self) }
        var value = Vector()
        for lane in 0..<count { value[lane] = source[lane] }
        return value
    }

    @inline(__always)
    static func store(_ value: Vector, _ target: UnsafeMutablePointer<Float>, _ count: Int) {
        if count == 8 { UnsafeMutableRawPointer(target).storeBytes(of: value, as: Vector.self); return }
        for lane in 0..<count { target[lane] = value[lane] }
    }

    /// `forwardReference` for Float, eight hidden units at a time.
    public static func forward(gates p: UnsafeMutablePointer<Float>, cell c: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, hidden: Int) {
        var j = 0
        while j < hidden {
            let n = min(8, hidden - j)
            let i = FastMath.sigmoid(load(p + j, n)), f = FastMath.sigmoid(load(p + hidden + j, n))
            let g = FastMath.tanh(load(p + 2 * hidden + j, n)), o = FastMath.sigmoid(load(p + 3 * hidden + j, n))
            store(i, p + j, n); store(f, p + hidden + j, n); store(g, p + 2 * hidden + j, n); store(o, p + 3 * hidden + j, n)
            let updated = f * load(c + j, n) + i * g
            store(updated, c + j, n)
            store(o * FastMath.tanh(updated), output + j, n)
            j += 8
        }
    }

    /// `backwardReference` for Float, eight hidden units at a time.
    public static func backward(
        gates saved: UnsafePointer<Float>, cell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>, hiddenGradient dh: UnsafePointer<Float>,
        cellGradient dc: UnsafeMutablePointer<Float>, gateGradient dp: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        var j = 0
        while j < hidden {
            let n = min(8, hidden - j)
            let i = load(saved + j, n), f = load(saved + hidden + j, n), g = load(saved + 2 * hidden + j, n), o = load(saved + 3 * hidden + j, n)
            let tanhCell = FastMath.tanh(load(cell + j, n)), gradient = load(dh + j, n)
            let total = load(dc + j, n) + gradient * o * (1 - tanhCell * tanhCell)
            store(total * g * i * (1 - i), dp + j, n)
            store(total * load(previousCell + j, n) * f * (1 - f), dp + hidden + j, n)
            store(total * i * (1 - g * g), dp + 2 * hidden + j, n)
            store(gradient * tanhCell * o * (1 - o), dp + 3 * hidden + j, n)
            store(total * f, dc + j, n)
            j += 8
        }
    }
}
