// One step of a recurrent cell, composed from differentiable tensor ops. It is the API decoders loop over
// (seq2seq, captioning), and the plain per-step reference that the fused sequence kernels are tested against.

import RecurrentKernels
import RecurrentTensor

/// The state a recurrent cell carries from step to step: h, and for an LSTM also c. Both (B, H).
public struct RecurrentState {
    public var hidden: Tensor
    public var cell: Tensor?

    public init(hidden: Tensor, cell: Tensor? = nil) {
        self.hidden = hidden
        self.cell = cell
    }

    /// The state cut off from the graph (truncated backpropagation through time).
    public func detached() -> RecurrentState { RecurrentState(hidden: hidden.detached(), cell: cell?.detached()) }
}

/// One step of a vanilla RNN (tanh or ReLU), LSTM or GRU.
///
/// Equations (gate order as PyTorch and Keras; G gates of H units each):
///
///     RNN:  h' = act(W_ih x + W_hh h + b)                                         G = 1, act = tanh or relu
///     LSTM: i = σ(·), f = σ(·), g = tanh(·), o = σ(·)  of  W_ih x + W_hh h + b    G = 4
///           c' = f ⊙ c + i ⊙ g          h' = o ⊙ tanh(c')
///     GRU:  r = σ(W_ir x + W_hr h + b_r),  z = σ(W_iz x + W_hz h + b_z)           G = 3
///           n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))          h' = (1 − z) ⊙ n + z ⊙ h
///
/// Shapes: x (B, I); h, c (B, H).
///
/// Parameters (PyTorch's layout, so weights move between the two):
/// - `weight_ih` (G·H, I), `weight_hh` (G·H, H): gate blocks stacked in the order above;
/// - `bias` (G·H): one bias per gate — the lecture's (and Keras's) count; PyTorch's `bias_ih + bias_hh`;
/// - `bias_hn` (H), GRU only: the hidden-side candidate bias, which sits inside r ⊙ (…) and so cannot be folded.
///
/// Initialization: every parameter U(−1/√H, 1/√H), as PyTorch.
public final class RecurrentCell: Layer {
    public let kind: RecurrentCellKind
    public let inputSize: Int
    public let hiddenSize: Int
    /// (G·H, I)
    public var inputWeight: Tensor
    /// (G·H, H)
    public var hiddenWeight: Tensor
    /// (G·H)
    public var bias: Tensor
    /// (H), GRU only.
    public var candidateBias: Tensor?

    public init(_ kind: RecurrentCellKind, inputSize: Int, hiddenSize: Int, generator: inout SeededGenerator, dtype: DType = .float32) {
        require(inputSize > 0 && hiddenSize > 0, "\(kind.rawValue) cell: sizes must be positive, got input \(inputSize), hidden \(hiddenSize)")
        self.kind = kind
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        let bound = 1 / Double(hiddenSize).squareRoot()
        let gateWidth = kind.gateCount * hiddenSize
        inputWeight = Tensor.uniform([gateWidth, inputSize], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient()
        hiddenWeight = Tensor.uniform([gateWidth, hiddenSize], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient()
        bias = Tensor.uniform([gateWidth], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient()
        candidateBias = kind == .gru
            ? Tensor.uniform([hiddenSize], low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient() : nil
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        visit("weight_ih", &inputWeight)
        visit("weight_hh", &hiddenWeight)
        visit("bias", &bias)
        if candidateBias != nil { visit("bias_hn", &candidateBias!) }
    }

    /// A zero state for a batch.
    public func zeroState(batch: Int) -> RecurrentState {
        RecurrentState(
            hidden: Tensor.zeros([batch, hiddenSize], dtype: inputWeight.dtype),
            cell: kind.hasCellState ? Tensor.zeros([batch, hiddenSize], dtype: inputWeight.dtype) : nil)
    }

    /// One step: the state after reading x (B, I) from `state`.
    public func callAsFunction(_ x: Tensor, _ state: RecurrentState) -> RecurrentState {
        let name = kind.rawValue.uppercased()
        require(x.rank == 2 && x.shape[1] == inputSize, "\(name) cell: input has shape \(x.shape), expected (batch, \(inputSize))")
        require(state.hidden.shape == [x.shape[0], hiddenSize], "\(name) cell: hidden state has shape \(state.hidden.shape), expected (\(x.shape[0]), \(hiddenSize))")
        let h = hiddenSize
        let fromInput = x.linear(weight: inputWeight, bias: bias)
        let fromHidden = state.hidden.matmul(transposing: hiddenWeight)
        func block(_ tensor: Tensor, _ index: Int) -> Tensor { tensor.slice(alongAxis: 1, (index * h)..<((index + 1) * h)) }
        switch kind {
        case .rnnTanh:
            return RecurrentState(hidden: (fromInput + fromHidden).tanh())
        case .rnnReLU:
            return RecurrentState(hidden: (fromInput + fromHidden).relu())
        case .lstm:
            guard let cell = state.cell else { fatalError("LSTM cell: the state has no cell state c") }
            let preactivation = fromInput + fromHidden
            let i = block(preactivation, 0).sigmoid(), f = block(preactivation, 1).sigmoid()
            let g = block(preactivation, 2).tanh(), o = block(preactivation, 3).sigmoid()
            let newCell = f * cell + i * g
            return RecurrentState(hidden: o * newCell.tanh(), cell: newCell)
        case .gru:
            let r = (block(fromInput, 0) + block(fromHidden, 0)).sigmoid()
            let z = (block(fromInput, 1) + block(fromHidden, 1)).sigmoid()
            let n = (block(fromInput, 2) + r * (block(fromHidden, 2) + candidateBias!)).tanh()
            return RecurrentState(hidden: (1 - z) * n + z * state.hidden)
        }
    }
}

extension RecurrentCellKind {
    /// Parameters of one cell: G·(I·H + H·H + H), plus H for GRU's b_hn.
    public func parameterCount(inputSize: Int, hiddenSize: Int) -> Int {
        gateCount * (inputSize * hiddenSize + hiddenSize * hiddenSize + hiddenSize) + (self == .gru ? hiddenSize : 0)
    }

    /// PyTorch's count for the same cell, with its two bias vectors: G·(I·H + H·H + 2H).
    public func pytorchParameterCount(inputSize: Int, hiddenSize: Int) -> Int {
        gateCount * (inputSize * hiddenSize + hiddenSize * hiddenSize + 2 * hiddenSize)
    }

    /// How the count is made, e.g. "4 × (32·16 + 16·16 + 16) = 3136".
    public func parameterFormula(inputSize: Int, hiddenSize: Int) -> String {
        let body = "(\(inputSize)·\(hiddenSize) + \(hiddenSize)·\(hiddenSize) + \(hiddenSize))"
        let gates = gateCount == 1 ? body : "\(gateCount) × \(body)"
        let extra = self == .gru ? " + \(hiddenSize)" : ""
        return "\(gates)\(extra) = \(parameterCount(inputSize: inputSize, hiddenSize: hiddenSize))"
    }

    /// The name used in summaries.
    public var displayName: String {
        switch self {
        case .rnnTanh: "RNN (tanh)"
        case .rnnReLU: "RNN (ReLU)"
        case .lstm: "LSTM"
        case .gru: "GRU"
        }
    }
}
