// A whole recurrent sequence (one layer, one direction) as one differentiable op on the fused kernels
// (`RecurrentSequenceKernel`): coarse where speed matters.
//
// The op has three results (outputs, final h, final c) but the tape records one value per op, so the kernel's
// results are laid side by side along the time axis, (B, T + 1 or 2, H), and handed out as slices: the slices'
// backward reassembles the full gradient for the op's backward.

import RecurrentKernels

/// What a recurrent sequence computed.
public struct RecurrentSequenceResult {
    /// (B, T, H): h_t at every step; zero past each sample's length.
    public let output: Tensor
    /// (B, H): the state after each sample's last valid step.
    public let finalHidden: Tensor
    /// (B, H): the LSTM cell state after the last valid step (nil for RNN and GRU).
    public let finalCell: Tensor?
    /// (B, T, G·H): the activated gates at each step (LSTM i f g o, GRU r z n), for diagnostics; not differentiable.
    /// Kept when asked for (`keepingSteps`) or when the op is recorded for backward, which needs them; else nil.
    public let gates: Tensor?
    /// (B, T, H): the LSTM cell state after each step, for diagnostics; not differentiable. Kept as `gates` is.
    public let cells: Tensor?
}

extension Tensor {
    /// Runs a recurrent cell over a batch of sequences with the fused kernels.
    ///
    /// - Parameters:
    ///   - input: (B, T, I)
    ///   - inputWeight: (G·H, I); hiddenWeight: (G·H, H); bias: (G·H); candidateBias: (H), GRU only (b_hn)
    ///   - initialHidden: (B, H); initialCell: (B, H), LSTM only
    ///   - lengths: valid steps per sample (0…T), or nil for all T
    ///   - keepingSteps: keep every step's gates (and LSTM cell states) in the result for diagnostics. They are
    ///     kept anyway when the op is recorded for backward; inference without them runs each step in a
    ///     step-sized buffer, which is faster and holds no (B, T, G·H) memory.
    public static func recurrentSequence(
        _ kind: RecurrentCellKind, input: Tensor, inputWeight: Tensor, hiddenWeight: Tensor, bias: Tensor,
        candidateBias: Tensor? = nil, initialHidden: Tensor, initialCell: Tensor? = nil, lengths: [Int]? = nil, keepingSteps: Bool = false
    ) -> RecurrentSequenceResult {
        require(input.rank == 3, "\(kind.rawValue.uppercased()): input must be (batch, steps, features), got shape \(input.shape)")
        return recurrentSequence(kind, input: input, tokens: nil, batch: input.shape[0], steps: input.shape[1], inputSize: input.shape[2],
                                 inputWeight: inputWeight, hiddenWeight: hiddenWeight, bias: bias, candidateBias: candidateBias,
                                 initialHidden: initialHidden, initialCell: initialCell, lengths: lengths, keepingSteps: keepingSteps)
    }

    /// The same sequence over one-hot inputs given by their indices: `tokens` holds B·T indices in 0..<I
    /// (batch-major), standing for the (B, T, I) one-hot tensor without building it. The input projection
    /// becomes a gather of W_ih's columns (and its gradient a scatter-add); there is no input gradient.
    public static func recurrentSequence(
        _ kind: RecurrentCellKind, oneHot tokens: [Int], batch: Int, steps: Int, inputWeight: Tensor, hiddenWeight: Tensor, bias: Tensor,
        candidateBias: Tensor? = nil, initialHidden: Tensor, initialCell: Tensor? = nil, lengths: [Int]? = nil, keepingSteps: Bool = false
    ) -> RecurrentSequenceResult {
        let name = kind.rawValue.uppercased()
        let inputSize = inputWeight.rank == 2 ? inputWeight.shape[1] : 0
        require(tokens.count == batch * steps, "\(name): \(tokens.count) one-hot indices for \(batch) sequences of \(steps) steps")
        let bad = tokens.firstIndex { !(0..<inputSize).contains($0) }
        require(bad == nil, "\(name): one-hot index \(tokens[bad!]) at position \(bad!) is outside 0..<\(inputSize), the input size")
        return recurrentSequence(kind, input: nil, tokens: tokens, batch: batch, steps: steps, inputSize: inputSize,
                                 inputWeight: inputWeight, hiddenWeight: hiddenWeight, bias: bias, candidateBias: candidateBias,
                                 initialHidden: initialHidden, initialCell: initialCell, lengths: lengths, keepingSteps: keepingSteps)
    }

    static func recurrentSequence(
        _ kind: RecurrentCellKind, input denseInput: Tensor?, tokens: [Int]?, batch: Int, steps: Int, inputSize: Int,
        inputWeight: Tensor, hiddenWeight: Tensor, bias: Tensor,
        candidateBias: Tensor?, initialHidden: Tensor, initialCell: Tensor?, lengths: [Int]?, keepingSteps: Bool
    ) -> RecurrentSequenceResult {
        let name = kind.rawValue.uppercased()
        // One-hot inputs stand in the op's input list as a constant placeholder: no data is read from it.
        let input = denseInput ?? Tensor.zeros([1])
        let inputDescription = denseInput.map { "\($0.shape)" } ?? "one-hot (\(batch), \(steps), \(inputSize))"
        let hidden = hiddenWeight.rank == 2 ? hiddenWeight.shape[1] : -1
        let gateWidth = kind.gateCount * hidden
        require(hidden >= 0 && hiddenWeight.shape == [gateWidth, hidden], "\(name): hidden weight has shape \(hiddenWeight.shape), expected (\(kind.gateCount)·H, H)")
        require(inputWeight.shape == [gateWidth, inputSize], "\(name): input weight has shape \(inputWeight.shape), expected \(Shape([gateWidth, inputSize])) for input \(inputDescription) and hidden size \(hidden)")
        require(bias.shape == [gateWidth], "\(name): bias has shape \(bias.shape), expected \(Shape([gateWidth]))")
        require(initialHidden.shape == [batch, hidden], "\(name): initial hidden state has shape \(initialHidden.shape), expected \(Shape([batch, hidden]))")
        if kind == .gru {
            require(candidateBias?.shape == [hidden], "\(name): candidate bias b_hn has shape \(candidateBias.map { "\($0.shape)" } ?? "nil"), expected \(Shape([hidden]))")
        }
        if kind.hasCellState {
            require(initialCell?.shape == [batch, hidden], "\(name): initial cell state has shape \(initialCell.map { "\($0.shape)" } ?? "nil"), expected \(Shape([batch, hidden]))")
        }
        if let lengths {
            require(lengths.count == batch, "\(name): \(lengths.count) lengths for a batch of \(batch)")
            for (sample, length) in lengths.enumerated() {
                require((0...steps).contains(length), "\(name): length \(length) of sample \(sample) is outside 0…\(steps)")
            }
        }

        var inputs = [input, inputWeight, hiddenWeight, bias]
        if kind == .gru { inputs.append(candidateBias!) }
        inputs.append(initialHidden)
        if kind.hasCellState { inputs.append(initialCell!) }
        let dtype = inputs.dropFirst().reduce(input.dtype) { DType.promoted($0, $1.dtype) }
        let values = inputs.map { $0.storage.converted(to: dtype) }
        let shape = RecurrentSequenceShape(batch: batch, steps: steps, input: inputSize, hidden: hidden)
        let packedSteps = steps + (kind.hasCellState ? 2 : 1)

        // Saved for backward (and the diagnostics). Inference keeps none of the per-step buffers unless asked: the
        // kernel then works each step in a step-sized buffer.
        let packed = TensorStorage(dtype: dtype, count: batch * packedSteps * hidden)
        let recording = Tensor.willRecord(inputs), keeps = recording || keepingSteps
        let gates = keeps ? TensorStorage(dtype: dtype, count: batch * steps * gateWidth) : nil
        let hiddenBefore = recording ? TensorStorage(dtype: dtype, count: batch * steps * hidden) : nil
        let cells = keeps && kind.hasCellState ? TensorStorage(dtype: dtype, count: batch * steps * hidden) : nil
        let candidates = recording && kind == .gru ? TensorStorage(dtype: dtype, count: batch * steps * hidden) : nil
        let finalHidden = TensorStorage(dtype: dtype, count: batch * hidden)
        let finalCell = kind.hasCellState ? TensorStorage(dtype: dtype, count: batch * hidden) : nil

        func weights<T: TensorScalar>(_: T.Type) -> RecurrentSequenceWeights<T> {
            RecurrentSequenceWeights(
                inputWeight: values[1].pointer(T.self), hiddenWeight: values[2].pointer(T.self), bias: values[3].pointer(T.self),
                candidateBias: kind == .gru ? UnsafePointer(values[4].pointer(T.self)) : nil)
        }
        func buffers<T: TensorScalar>(_: T.Type) -> RecurrentSequenceBuffers<T> {
            RecurrentSequenceBuffers(
                output: packed.pointer(T.self), finalHidden: finalHidden.pointer(T.self), finalCell: finalCell?.pointer(T.self),
                gates: gates?.pointer(T.self), hiddenBefore: hiddenBefore?.pointer(T.self), cells: cells?.pointer(T.self),
                candidateHidden: candidates?.pointer(T.self), outputSampleStride: packedSteps * hidden)
        }
        let hiddenIndex = kind == .gru ? 5 : 4
        /// Runs `kernel` with the lengths and the one-hot indices (when there are any) pinned in memory.
        func withPinned(_ kernel: (_ lengths: UnsafeBufferPointer<Int>?, _ tokens: UnsafePointer<Int>?) -> Void) {
            func withTokens(_ lengthBuffer: UnsafeBufferPointer<Int>?) {
                if let tokens { tokens.withUnsafeBufferPointer { kernel(lengthBuffer, $0.baseAddress) } } else { kernel(lengthBuffer, nil) }
            }
            if let lengths { lengths.withUnsafeBufferPointer { withTokens($0) } } else { withTokens(nil) }
        }
        func forward<T: TensorScalar>(_: T.Type) {
            withPinned { lengthBuffer, tokenPointer in
                RecurrentSequenceKernel.forward(
                    kind: kind, shape: shape, x: values[0].pointer(T.self), weights: weights(T.self),
                    initialHidden: values[hiddenIndex].pointer(T.self),
                    initialCell: kind.hasCellState ? UnsafePointer(values[hiddenIndex + 1].pointer(T.self)) : nil,
                    lengths: lengthBuffer, buffers: buffers(T.self), inputTokens: tokenPointer)
            }
            // The kernel wrote h_t into each sample's first T rows; the final states follow: (B, T, H) | (B, 1, H) | (B, 1, H).
            let target = packed.pointer(T.self)
            for b in 0..<batch {
                let row = target + b * packedSteps * hidden
                (row + steps * hidden).update(from: finalHidden.pointer(T.self) + b * hidden, count: hidden)
                if let finalCell { (row + (steps + 1) * hidden).update(from: finalCell.pointer(T.self) + b * hidden, count: hidden) }
            }
        }
        if dtype == .float32 { forward(Float.self) } else { forward(Double.self) }

        let needs = inputs.map(\.requiresGradient)
        let combined = Tensor.record("\(kind.rawValue) sequence", result: Tensor(shape: [batch, packedSteps, hidden], storage: packed), inputs: inputs) { grad in
            let gradient = grad.storage.converted(to: dtype)
            var results: [Tensor?] = inputs.indices.map { needs[$0] ? Tensor.zeros(inputs[$0].shape, dtype: dtype) : nil }
            func backward<T: TensorScalar>(_: T.Type) {
                // The kernel reads dOutput from the packed gradient's first T rows per sample; the final states'
                // gradients (B, H) are gathered from the rows after.
                let source = gradient.pointer(T.self)
                let dFinalHidden = UnsafeMutablePointer<T>.allocate(capacity: batch * hidden)
                let dFinalCell = UnsafeMutablePointer<T>.allocate(capacity: batch * hidden)
                defer { dFinalHidden.deallocate(); dFinalCell.deallocate() }
                for b in 0..<batch {
                    let row = source + b * packedSteps * hidden
                    (dFinalHidden + b * hidden).update(from: row + steps * hidden, count: hidden)
                    if kind.hasCellState { (dFinalCell + b * hidden).update(from: row + (steps + 1) * hidden, count: hidden) }
                }
                func pointer(_ index: Int) -> UnsafeMutablePointer<T>? { results[index]?.storage.pointer(T.self) }
                let gradients = RecurrentSequenceGradients<T>(
                    input: pointer(0), inputWeight: pointer(1), hiddenWeight: pointer(2), bias: pointer(3),
                    candidateBias: kind == .gru ? pointer(4) : nil, initialHidden: pointer(hiddenIndex),
                    initialCell: kind.hasCellState ? pointer(hiddenIndex + 1) : nil)
                withPinned { lengthBuffer, tokenPointer in
                    RecurrentSequenceKernel.backward(
                        kind: kind, shape: shape, x: values[0].pointer(T.self), weights: weights(T.self),
                        initialCell: kind.hasCellState ? UnsafePointer(values[hiddenIndex + 1].pointer(T.self)) : nil,
                        lengths: lengthBuffer, buffers: buffers(T.self), outputGradient: source, outputGradientSampleStride: packedSteps * hidden,
                        finalHiddenGradient: dFinalHidden, finalCellGradient: kind.hasCellState ? UnsafePointer(dFinalCell) : nil,
                        gradients: gradients, inputTokens: tokenPointer)
                }
            }
            if dtype == .float32 { backward(Float.self) } else { backward(Double.self) }
            results = results.enumerated().map { index, value in value?.converted(to: inputs[index].dtype) }
            return results
        }

        let outputs = combined.slice(alongAxis: 1, 0..<steps)
        let hiddenState = combined.slice(alongAxis: 1, steps..<(steps + 1)).reshaped([batch, hidden])
        let cellState = kind.hasCellState ? combined.slice(alongAxis: 1, (steps + 1)..<(steps + 2)).reshaped([batch, hidden]) : nil
        return RecurrentSequenceResult(
            output: outputs, finalHidden: hiddenState, finalCell: cellState,
            gates: gates.map { Tensor(shape: [batch, steps, gateWidth], storage: $0) },
            cells: cells.map { Tensor(shape: [batch, steps, hidden], storage: $0) })
    }

    /// Each sample's first `lengths[b]` steps in reverse order, the padding left in place: how a backward
    /// direction reads a padded batch. Its own inverse, and so its own backward.
    public func reversingSequences(lengths: [Int]?) -> Tensor {
        require(rank >= 2, "reversingSequences: needs (batch, steps, …), got shape \(shape)")
        let batch = shape[0], steps = shape[1], inner = elementCount / Swift.max(1, batch * steps)
        if let lengths {
            require(lengths.count == batch && lengths.allSatisfy { (0...steps).contains($0) }, "reversingSequences: lengths \(lengths) do not fit shape \(shape)")
        }
        let flat = reshaped([batch * steps, inner])
        return flat.indexSelect(Self.reversedSequenceOrder(batch: batch, steps: steps, lengths: lengths), alongAxis: 0).reshaped(shape.dimensions)
    }

    /// For each of the B·T (batch-major) positions, the position `reversingSequences` reads it from.
    public static func reversedSequenceOrder(batch: Int, steps: Int, lengths: [Int]?) -> [Int] {
        var indices = [Int]()
        indices.reserveCapacity(batch * steps)
        for b in 0..<batch {
            let length = lengths?[b] ?? steps
            for t in 0..<steps { indices.append(b * steps + (t < length ? length - 1 - t : t)) }
        }
        return indices
    }
}
