// Weights to and from PyTorch's nn.RNN / nn.LSTM / nn.GRU state_dicts.
//
// PyTorch keeps two biases per cell (bias_ih, bias_hh) where one suffices; import sums them exactly
// (bias = bias_ih + bias_hh). GRU's hidden-side candidate bias b_hn sits inside r ⊙ (W_hn h + b_hn), so it stays
// apart: bias = [b_ir + b_hr, b_iz + b_hz, b_in] and bias_hn = b_hn. Export writes the single bias as bias_ih
// and zeros as bias_hh (GRU: [0, 0, b_hn]), which computes exactly the same function.

import RecurrentKernels
import RecurrentTensor

extension RecurrentLayer {
    /// Loads a PyTorch state_dict (tensors by name, e.g. `weight_ih_l0`, `bias_hh_l1_reverse`, optionally under
    /// `prefix`, e.g. "lstm."). Every weight must be present with its shape; biases may both be absent (a
    /// PyTorch layer made with bias=False). Nothing changes unless everything checks out.
    public func loadPyTorchStateDict(_ stateDict: [String: Tensor], prefix: String = "") throws(ParameterLoadingError) {
        let gateWidth = kind.gateCount * hiddenSize
        var loaded: [[(input: Tensor, hidden: Tensor, bias: Tensor, candidateBias: Tensor?)]] = []
        var used: Set<String> = []
        func fetch(_ name: String, _ shape: Shape) throws(ParameterLoadingError) -> Tensor? {
            guard let value = stateDict[prefix + name] else { return nil }
            guard value.shape == shape else { throw .wrongShape(name: prefix + name, expected: shape, found: value.shape) }
            used.insert(prefix + name)
            return value
        }
        for layer in 0..<layerCount {
            var row: [(Tensor, Tensor, Tensor, Tensor?)] = []
            for direction in 0..<directionCount {
                let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
                let cell = cells[layer][direction]
                guard let input = try fetch("weight_ih" + suffix, [gateWidth, cell.inputSize]) else { throw .missing(prefix + "weight_ih" + suffix) }
                guard let hidden = try fetch("weight_hh" + suffix, [gateWidth, hiddenSize]) else { throw .missing(prefix + "weight_hh" + suffix) }
                let inputBias = try fetch("bias_ih" + suffix, [gateWidth])
                let hiddenBias = try fetch("bias_hh" + suffix, [gateWidth])
                if (inputBias == nil) != (hiddenBias == nil) {
                    throw .missing(prefix + (inputBias == nil ? "bias_ih" : "bias_hh") + suffix)
                }
                let zeros = Tensor.zeros([gateWidth], dtype: .float64)
                let ih = inputBias?.converted(to: .float64) ?? zeros, hh = hiddenBias?.converted(to: .float64) ?? zeros
                if kind == .gru {
                    // bias = [b_ir + b_hr, b_iz + b_hz, b_in];  b_hn apart.
                    let split = 2 * hiddenSize
                    let bias = Tensor.concatenate([ih.slice(alongAxis: 0, 0..<split) + hh.slice(alongAxis: 0, 0..<split), ih.slice(alongAxis: 0, split..<gateWidth)], alongAxis: 0)
                    row.append((input, hidden, bias, hh.slice(alongAxis: 0, split..<gateWidth)))
                } else {
                    row.append((input, hidden, ih + hh, nil))
                }
            }
            loaded.append(row)
        }
        let unexpected = stateDict.keys.filter { $0.hasPrefix(prefix) && !used.contains($0) }.sorted()
        if !unexpected.isEmpty { throw .unexpected(unexpected) }
        for layer in 0..<layerCount {
            for direction in 0..<directionCount {
                let cell = cells[layer][direction], values = loaded[layer][direction]
                let dtype = cell.inputWeight.dtype
                cell.inputWeight = values.input.converted(to: dtype).detached().requiringGradient()
                cell.hiddenWeight = values.hidden.converted(to: dtype).detached().requiringGradient()
                cell.bias = values.bias.converted(to: dtype).detached().requiringGradient()
                cell.candidateBias = values.candidateBias?.converted(to: dtype).detached().requiringGradient()
            }
        }
    }

    /// The weights as a PyTorch state_dict (`prefix` + PyTorch's names), loadable by `load_state_dict`.
    public func pytorchStateDict(prefix: String = "") -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for layer in 0..<layerCount {
            for direction in 0..<directionCount {
                let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
                let cell = cells[layer][direction]
                result[prefix + "weight_ih" + suffix] = cell.inputWeight.detached()
                result[prefix + "weight_hh" + suffix] = cell.hiddenWeight.detached()
                result[prefix + "bias_ih" + suffix] = cell.bias.detached()
                if let candidate = cell.candidateBias {
                    let zeros = Tensor.zeros([2 * hiddenSize], dtype: candidate.dtype)
                    result[prefix + "bias_hh" + suffix] = Tensor.concatenate([zeros, candidate.detached()], alongAxis: 0)
                } else {
                    result[prefix + "bias_hh" + suffix] = Tensor.zeros(cell.bias.shape, dtype: cell.bias.dtype)
                }
            }
        }
        return result
    }
}
