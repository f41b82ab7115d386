// A recurrent sequence layer: cells run over time by the fused kernels, stacked, in one or both directions,
// with per-sample lengths, initial states (given, zero or learnable) and stateful streaming.

import RecurrentKernels
import RecurrentTensor

/// How a bidirectional layer joins its two directions' outputs.
public enum DirectionMerge: String, Sendable, CaseIterable {
    /// [forward; backward] along features: 2·H.
    case concatenate
    /// forward + backward: H.
    case sum
    /// (forward + backward) / 2: H.
    case average
}

/// What a recurrent layer computed.
public struct RecurrentLayerOutput {
    /// (B, T, H·D) for concatenated directions, else (B, T, H); zero past each sample's length.
    public let output: Tensor
    /// One state per layer and direction, PyTorch's order (layer 0 forward, layer 0 backward, layer 1 …):
    /// the state after each sample's last valid step (for the backward direction: after reading step 0).
    public let finalStates: [RecurrentState]
    /// Per layer and direction, the activated gates at each step (B, T, G·H), in the input's time order: kept
    /// when the call asks (`keepingSteps: true`) or records gradients; empty otherwise.
    public let gates: [Tensor]
    /// Per layer and direction, LSTM cell states at each step (B, T, H), in the input's time order; kept as
    /// `gates` is (nil entries for RNN and GRU).
    public let cells: [Tensor?]

    /// The last layer's final hidden state, directions joined as the output is: what a many-to-one model reads.
    public var lastHidden: Tensor {
        let count = finalStates.count
        return count >= 2 && directionCount == 2
            ? Tensor.concatenate([finalStates[count - 2].hidden, finalStates[count - 1].hidden], alongAxis: 1)
            : finalStates[count - 1].hidden
    }
    let directionCount: Int
}

/// A vanilla RNN (tanh or ReLU), LSTM or GRU over whole sequences.
///
/// Shapes: input (B, T, I) batch-first; output (B, T, D·H) (D = 2 when bidirectional and concatenated, else 1);
/// states (B, H). Layer l > 0 reads layer l − 1's output, directions concatenated (D·H features).
///
/// Each step follows `RecurrentCell` (its equations, gate order and initialization). Two initialisations that
/// decide how far back a layer can learn (see `recurrent memory`): `forgetGateBias` (LSTM: the forget gate's
/// bias, e.g. 1 or 3, so f = σ(b) starts open) and `identityRecurrentWeights` (ReLU RNN: W_hh = I, bias 0).
/// The sequence runs on the fused kernels: one small GEMM and one fused gate pass per step, and the input
/// projection of all steps in one GEMM when the steps' gates are kept (for backward, or asked for with
/// `keepingSteps`); inference without them projects each step's inputs just before its step instead.
///
/// Parameters, PyTorch's names so that a `state_dict` maps across: `weight_ih_l{k}`, `weight_hh_l{k}`,
/// `bias_l{k}` (PyTorch keeps `bias_ih_l{k}` and `bias_hh_l{k}`; their sum is this), `bias_hn_l{k}` (GRU:
/// PyTorch's `bias_hh_l{k}[2H..<3H]`), each with `_reverse` for the backward direction; with learnable initial
/// states, `initial_hidden` and `initial_cell` of shape (L·D, H).
///
/// Equivalent plain loop (one layer, forward direction):
///
///     var state = initialState
///     for t in 0..<T where t < length[b] { state = cell(x[:, t], state); output[:, t] = state.hidden }
public final class RecurrentLayer: Layer, TrainingModeDependent, StepSeeded {
    public let kind: RecurrentCellKind
    public let inputSize: Int
    public let hiddenSize: Int
    public let layerCount: Int
    public let isBidirectional: Bool
    public let merge: DirectionMerge
    /// Dropout between stacked layers, applied only while `isTraining`.
    public let dropout: Double
    /// [layer][direction]
    public private(set) var cells: [[RecurrentCell]]
    /// (L·D, H) learnable initial states, when asked for.
    public var initialHidden: Tensor?
    public var initialCell: Tensor?
    public var isTraining = true
    /// When true, each call starts from the previous call's final states (detached: truncated BPTT).
    public var isStateful = false
    private var carriedStates: [RecurrentState]?
    private let dropoutSeed: UInt64
    private var dropoutGenerator: SeededGenerator

    public var directionCount: Int { isBidirectional ? 2 : 1 }
    /// Features per step in the output.
    public var outputSize: Int { isBidirectional && merge == .concatenate ? 2 * hiddenSize : hiddenSize }

    public init(
        _ kind: RecurrentCellKind, inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bidirectional: Bool = false,
        merge: DirectionMerge = .concatenate, dropout: Double = 0, learnableInitialState: Bool = false,
        forgetGateBias: Double? = nil, identityRecurrentWeights: Bool = false, seed: UInt64 = 0, dtype: DType = .float32
    ) {
        require(layerCount >= 1, "\(kind.rawValue): layer count must be at least 1, got \(layerCount)")
        require((0..<1).contains(dropout), "\(kind.rawValue): dropout \(dropout) is outside [0, 1)")
        self.kind = kind
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.isBidirectional = bidirectional
        self.merge = merge
        self.dropout = dropout
        var generator = SeededGenerator(seed: seed)
        let directions = bidirectional ? 2 : 1
        cells = (0..<layerCount).map { layer in
            (0..<directions).map { _ in
                RecurrentCell(kind, inputSize: layer == 0 ? inputSize : directions * hiddenSize, hiddenSize: hiddenSize, generator: &generator, dtype: dtype)
            }
        }
        if learnableInitialState {
            initialHidden = Tensor.zeros([layerCount * directions, hiddenSize], dtype: dtype).requiringGradient()
            initialCell = kind.hasCellState ? Tensor.zeros([layerCount * directions, hiddenSize], dtype: dtype).requiringGradient() : nil
        }
        dropoutSeed = seed ^ 0xD0_0D
        dropoutGenerator = SeededGenerator(seed: dropoutSeed)
        if identityRecurrentWeights && kind == .rnnReLU {
            // IRNN (Le, Jaitly & Hinton 2015): h carries over unchanged until learning says otherwise, so a ReLU
            // RNN's gradient neither vanishes nor explodes at the start.
            for row in cells {
                for cell in row {
                    cell.hiddenWeight = Tensor.eye(hiddenSize, dtype: dtype).requiringGradient()
                    cell.bias = Tensor.zeros(cell.bias.shape, dtype: dtype).requiringGradient()
                }
            }
        }
        if let forgetGateBias, kind == .lstm {
            // An open forget gate at the start lets gradients cross long spans (Gers et al. 2000; Jozefowicz et al. 2015).
            for row in cells { for cell in row { cell.bias = Self.settingForgetBias(cell.bias, hidden: hiddenSize, to: forgetGateBias) } }
        }
    }

    private static func settingForgetBias(_ bias: Tensor, hidden: Int, to value: Double) -> Tensor {
        var values = bias.doubles
        for j in hidden..<(2 * hidden) { values[j] = value }
        return Tensor(shape: bias.shape, doubles: values, dtype: bias.dtype).requiringGradient()
    }

    public func reseed(forStep step: Int) { dropoutGenerator = SeededGenerator(seed: dropoutSeed, step: step) }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        for layer in 0..<layerCount {
            for direction in 0..<directionCount {
                let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
                cells[layer][direction].visitParameters { name, parameter in visit(name + suffix, &parameter) }
            }
        }
        if initialHidden != nil { visit("initial_hidden", &initialHidden!) }
        if initialCell != nil { visit("initial_cell", &initialCell!) }
    }

    /// Forgets the carried states of a stateful layer.
    public func resetStates() { carriedStates = nil }

    /// Runs the layer over `input` (B, T, I). `lengths` gives each sample's valid steps; `initialStates`
    /// (one per layer and direction, PyTorch's order) overrides the carried, learnable or zero start.
    /// `keepingSteps` keeps every step's gates and cell states in the output (for diagnostics; a call that
    /// records gradients keeps them anyway).
    public func callAsFunction(_ input: Tensor, lengths: [Int]? = nil, initialStates: [RecurrentState]? = nil, keepingSteps: Bool = false) -> RecurrentLayerOutput {
        require(input.rank == 3 && input.shape[2] == inputSize, "\(kind.displayName): input has shape \(input.shape), expected (batch, steps, \(inputSize))")
        return run(.dense(input), batch: input.shape[0], steps: input.shape[1], lengths: lengths, initialStates: initialStates, keepingSteps: keepingSteps)
    }

    /// Runs the layer over one-hot inputs given by index: `tokens` (B·T values in 0..<inputSize, batch-major)
    /// stands for the (B, T, inputSize) one-hot tensor. The same result as passing that tensor, without the
    /// first layer's input products (a gather of W_ih's columns instead); no gradient reaches the input.
    public func callAsFunction(
        oneHot tokens: [Int], batch: Int, steps: Int, lengths: [Int]? = nil, initialStates: [RecurrentState]? = nil, keepingSteps: Bool = false
    ) -> RecurrentLayerOutput {
        run(.oneHot(tokens), batch: batch, steps: steps, lengths: lengths, initialStates: initialStates, keepingSteps: keepingSteps)
    }

    enum FirstLayerInput {
        case dense(Tensor)
        case oneHot([Int])
    }

    func run(_ input: FirstLayerInput, batch: Int, steps: Int, lengths: [Int]?, initialStates: [RecurrentState]?, keepingSteps: Bool) -> RecurrentLayerOutput {
        let name = kind.displayName
        let stateCount = layerCount * directionCount
        if let initialStates {
            require(initialStates.count == stateCount, "\(name): \(initialStates.count) initial states given, expected \(stateCount) (layers × directions)")
        }
        let starts: [RecurrentState] = (initialStates ?? (isStateful ? carriedStates : nil)) ?? (0..<stateCount).map { index in
            if let initialHidden {
                let hidden = initialHidden.slice(alongAxis: 0, index..<(index + 1)).broadcasted(to: [batch, hiddenSize])
                let cell = initialCell.map { $0.slice(alongAxis: 0, index..<(index + 1)).broadcasted(to: [batch, hiddenSize]) }
                return RecurrentState(hidden: hidden, cell: cell)
            }
            return cells[0][0].zeroState(batch: batch)
        }
        for (index, state) in starts.enumerated() {
            require(state.hidden.shape == [batch, hiddenSize], "\(name): initial state \(index) has shape \(state.hidden.shape), expected (\(batch), \(hiddenSize))")
        }

        var layerInput: Tensor
        switch input {
        case .dense(let tensor): layerInput = tensor
        case .oneHot: layerInput = Tensor.zeros([0])   // unused: layer 0 reads the indices
        }
        var finalStates: [RecurrentState] = []
        var gates: [Tensor] = [], cellStates: [Tensor?] = []
        var directionOutputs: [Tensor] = []
        for layer in 0..<layerCount {
            if layer > 0 && dropout > 0 && isTraining {
                layerInput = layerInput.dropout(probability: dropout, using: &dropoutGenerator)
            }
            directionOutputs = []
            for direction in 0..<directionCount {
                let cell = cells[layer][direction]
                let start = starts[layer * directionCount + direction]
                let reversed = direction == 1
                let result: RecurrentSequenceResult
                if layer == 0, case .oneHot(let tokens) = input {
                    let ordered = reversed ? Tensor.reversedSequenceOrder(batch: batch, steps: steps, lengths: lengths).map { tokens[$0] } : tokens
                    result = Tensor.recurrentSequence(
                        kind, oneHot: ordered, batch: batch, steps: steps, inputWeight: cell.inputWeight, hiddenWeight: cell.hiddenWeight,
                        bias: cell.bias, candidateBias: cell.candidateBias, initialHidden: start.hidden, initialCell: start.cell, lengths: lengths,
                        keepingSteps: keepingSteps)
                } else {
                    let sequence = reversed ? layerInput.reversingSequences(lengths: lengths) : layerInput
                    result = Tensor.recurrentSequence(
                        kind, input: sequence, inputWeight: cell.inputWeight, hiddenWeight: cell.hiddenWeight, bias: cell.bias,
                        candidateBias: cell.candidateBias, initialHidden: start.hidden, initialCell: start.cell, lengths: lengths,
                        keepingSteps: keepingSteps)
                }
                directionOutputs.append(reversed ? result.output.reversingSequences(lengths: lengths) : result.output)
                finalStates.append(RecurrentState(hidden: result.finalHidden, cell: result.finalCell))
                if let kept = result.gates {
                    gates.append(reversed ? kept.reversingSequences(lengths: lengths) : kept)
                    cellStates.append(reversed ? result.cells?.reversingSequences(lengths: lengths) : result.cells)
                }
            }
            layerInput = directionOutputs.count == 2 ? Tensor.concatenate(directionOutputs, alongAxis: 2) : directionOutputs[0]
        }
        if isStateful { carriedStates = finalStates.map { $0.detached() } }

        let output: Tensor
        switch (directionOutputs.count, merge) {
        case (2, .sum): output = directionOutputs[0] + directionOutputs[1]
        case (2, .average): output = (directionOutputs[0] + directionOutputs[1]) * 0.5
        default: output = layerInput
        }
        return RecurrentLayerOutput(output: output, finalStates: finalStates, gates: gates, cells: cellStates, directionCount: directionCount)
    }

    // MARK: - Parameter counts

    /// How the count is made, layer by layer.
    public var parameterFormula: String {
        Self.parameterFormula(kind, inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layerCount, bidirectional: isBidirectional)
            + (initialHidden != nil ? "; plus learnable initial states" : "")
    }

    /// What PyTorch's `nn.RNN`/`nn.LSTM`/`nn.GRU` with the same sizes counts (two bias vectors per cell).
    public var pytorchParameterCount: Int {
        Self.pytorchParameterCount(kind, inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layerCount, bidirectional: isBidirectional)
    }

    /// The input size of each stacked layer: the input, then the previous layer's directions concatenated.
    static func layerInputSizes(inputSize: Int, hiddenSize: Int, layerCount: Int, bidirectional: Bool) -> [Int] {
        (0..<layerCount).map { $0 == 0 ? inputSize : (bidirectional ? 2 : 1) * hiddenSize }
    }

    /// Parameters of such a layer (without learnable initial states), computed without building it.
    public static func parameterCount(_ kind: RecurrentCellKind, inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bidirectional: Bool = false) -> Int {
        layerInputSizes(inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layerCount, bidirectional: bidirectional)
            .reduce(0) { $0 + (bidirectional ? 2 : 1) * kind.parameterCount(inputSize: $1, hiddenSize: hiddenSize) }
    }

    public static func pytorchParameterCount(_ kind: RecurrentCellKind, inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bidirectional: Bool = false) -> Int {
        layerInputSizes(inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layerCount, bidirectional: bidirectional)
            .reduce(0) { $0 + (bidirectional ? 2 : 1) * kind.pytorchParameterCount(inputSize: $1, hiddenSize: hiddenSize) }
    }

    public static func parameterFormula(_ kind: RecurrentCellKind, inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bidirectional: Bool = false) -> String {
        layerInputSizes(inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layerCount, bidirectional: bidirectional).map { input in
            let cell = kind.parameterFormula(inputSize: input, hiddenSize: hiddenSize)
            return bidirectional ? "2 directions × [\(cell)]" : cell
        }.joined(separator: "; ")
    }
}
