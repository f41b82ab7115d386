import Testing
import RecurrentNN
import RecurrentKernels
import RecurrentTensor

func randomTensor(_ shape: Shape, seed: UInt64, scale: Double = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor.uniform(shape, low: -scale, high: scale, dtype: .float64, using: &generator)
}

func maxDifference(_ a: Tensor, _ b: Tensor) -> Double {
    #expect(a.shape == b.shape, "shapes \(a.shape) and \(b.shape)")
    return zip(a.doubles, b.doubles).map { Swift.abs($0 - $1) }.max() ?? 0
}

/// The plain per-step loop over `RecurrentCell`, with lengths applied by masking: the oracle for the fused kernels.
func referenceSequence(_ cell: RecurrentCell, _ x: Tensor, _ start: RecurrentState, lengths: [Int]?) -> (output: Tensor, final: RecurrentState) {
    let batch = x.shape[0], steps = x.shape[1]
    var state = start
    var outputs: [Tensor] = []
    for t in 0..<steps {
        let next = cell(x.slice(alongAxis: 1, t..<(t + 1)).reshaped([batch, x.shape[2]]), state)
        let mask = Tensor(shape: [batch, 1], doubles: (0..<batch).map { t < (lengths?[$0] ?? steps) ? 1 : 0 })
        state = RecurrentState(
            hidden: mask * next.hidden + (1 - mask) * state.hidden,
            cell: next.cell.map { mask * $0 + (1 - mask) * state.cell! })
        outputs.append(mask * next.hidden)
    }
    return (Tensor.stack(outputs, alongAxis: 1), state)
}

@Suite struct FusedSequenceTests {
    static let lengthsCases: [[Int]?] = [nil, [5, 2, 0]]

    @Test(arguments: RecurrentCellKind.allCases)
    func fusedMatchesCellLoopIncludingGradients(kind: RecurrentCellKind) {
        for lengths in Self.lengthsCases {
            var generator = SeededGenerator(seed: 11)
            let cell = RecurrentCell(kind, inputSize: 4, hiddenSize: 3, generator: &generator, dtype: .float64)
            let x = randomTensor([3, 5, 4], seed: 1).requiringGradient()
            let h0 = randomTensor([3, 3], seed: 2).requiringGradient()
            let c0 = kind.hasCellState ? randomTensor([3, 3], seed: 3).requiringGradient() : nil
            let fused = Tensor.recurrentSequence(kind, input: x, inputWeight: cell.inputWeight, hiddenWeight: cell.hiddenWeight,
                                                 bias: cell.bias, candidateBias: cell.candidateBias, initialHidden: h0, initialCell: c0, lengths: lengths)
            let reference = referenceSequence(cell, x, RecurrentState(hidden: h0, cell: c0), lengths: lengths)
            #expect(maxDifference(fused.output, reference.output) < 1e-12, "\(kind) output, lengths \(String(describing: lengths))")
            #expect(maxDifference(fused.finalHidden, reference.final.hidden) < 1e-12)
            if kind.hasCellState { #expect(maxDifference(fused.finalCell!, reference.final.cell!) < 1e-12) }

            // The same loss through both: every gradient must agree.
            let weights = randomTensor([3, 5, 3], seed: 4)
            func loss(_ output: Tensor, _ state: RecurrentState) -> Tensor {
                (output * weights).sum() + state.hidden.squared().sum() + (state.cell?.sum() ?? Tensor(0, dtype: .float64))
            }
            var wrt = [x, h0, cell.inputWeight, cell.hiddenWeight, cell.bias]
            if let c0 { wrt.append(c0) }
            if let candidate = cell.candidateBias { wrt.append(candidate) }
            let fusedGradients = loss(fused.output, RecurrentState(hidden: fused.finalHidden, cell: fused.finalCell)).gradients(withRespectTo: wrt)
            let referenceGradients = loss(reference.output, reference.final).gradients(withRespectTo: wrt)
            for (index, (a, b)) in zip(fusedGradients, referenceGradients).enumerated() {
                #expect(maxDifference(a, b) < 1e-12, "\(kind) gradient \(index), lengths \(String(describing: lengths))")
            }
        }
    }

    /// Float32 takes the packed Swift kernels: a weight packed once for a sequence, left unpacked for a single
    /// step (a decoder fed one token at a time). Both must agree with the cell loop, gradients included.
    @Test(arguments: RecurrentCellKind.allCases)
    func float32SingleStepAndSequenceMatchCellLoop(kind: RecurrentCellKind) {
        for steps in [1, 3] {
            var generator = SeededGenerator(seed: 21)
            let cell = RecurrentCell(kind, inputSize: 20, hiddenSize: 24, generator: &generator, dtype: .float32)
            func random(_ shape: Shape, _ seed: UInt64) -> Tensor {
                var generator = SeededGenerator(seed: seed)
                return Tensor.uniform(shape, low: -1, high: 1, dtype: .float32, using: &generator)
            }
            let x = random([5, steps, 20], 1).requiringGradient()
            let h0 = random([5, 24], 2).requiringGradient()
            let c0 = kind.hasCellState ? random([5, 24], 3).requiringGradient() : nil
            let fused = Tensor.recurrentSequence(kind, input: x, inputWeight: cell.inputWeight, hiddenWeight: cell.hiddenWeight,
                                                 bias: cell.bias, candidateBias: cell.candidateBias, initialHidden: h0, initialCell: c0, lengths: nil)
            let reference = referenceSequence(cell, x, RecurrentState(hidden: h0, cell: c0), lengths: nil)
            #expect(maxDifference(fused.output, reference.output) < 1e-5, "\(kind), \(steps) steps: output")
            let weights = random([5, steps, 24], 4)
            var wrt = [x, h0, cell.inputWeight, cell.hiddenWeight, cell.bias]
            if let c0 { wrt.append(c0) }
            let fusedGradients = ((fused.output * weights).sum() + fused.finalHidden.sum()).gradients(withRespectTo: wrt)
            let referenceGradients = ((reference.output * weights).sum() + reference.final.hidden.sum()).gradients(withRespectTo: wrt)
            for (index, (a, b)) in zip(fusedGradients, referenceGradients).enumerated() {
                #expect(maxDifference(a, b) < 1e-4, "\(kind), \(steps) steps: gradient \(index)")
            }
        }
    }

    /// A batch large enough to split: with two threads each core takes 32 rows through all five steps on its
    /// own (an odd count, so the backward pass ends with its two dh buffers swapped), with samples that end early
    /// or never start. Outputs, final states and every gradient must match the cell loop.
    @Test(arguments: RecurrentCellKind.allCases)
    func stepLoopSplitOverCoresMatchesCellLoop(kind: RecurrentCellKind) throws {
        let threadsBefore = ComputeSettings.threads
        try ComputeSettings.setThreads(2)
        defer { try? ComputeSettings.setThreads(threadsBefore) }
        let (batch, steps, input, hidden) = (64, 5, 8, 256)
        var generator = SeededGenerator(seed: 31)
        let cell = RecurrentCell(kind, inputSize: input, hiddenSize: hidden, generator: &generator, dtype: .float32)
        func random(_ shape: Shape, _ seed: UInt64) -> Tensor {
            var generator = SeededGenerator(seed: seed)
            return Tensor.uniform(shape, low: -1, high: 1, dtype: .float32, using: &generator)
        }
        let lengths = (0..<batch).map { $0 % 7 == 3 ? 0 : ($0 % 5 == 1 ? 2 : steps) }
        let x = random([batch, steps, input], 1).requiringGradient()
        let h0 = random([batch, hidden], 2).requiringGradient()
        let c0 = kind.hasCellState ? random([batch, hidden], 3).requiringGradient() : nil
        let fused = Tensor.recurrentSequence(kind, input: x, inputWeight: cell.inputWeight, hiddenWeight: cell.hiddenWeight,
                                             bias: cell.bias, candidateBias: cell.candidateBias, initialHidden: h0, initialCell: c0, lengths: lengths)
        let reference = referenceSequence(cell, x, RecurrentState(hidden: h0, cell: c0), lengths: lengths)
        func relative(_ a: Tensor, _ b: Tensor) -> Double {
            maxDifference(a, b) / Swift.max(1, b.doubles.map { Swift.abs($0) }.max() ?? 0)
        }
        #expect(relative(fused.output, reference.output) < 1e-5, "\(kind) output")
        #expect(relative(fused.finalHidden, reference.final.hidden) < 1e-5, "\(kind) final hidden")
        let weights = random([batch, steps, hidden], 4)
        var wrt = [x, h0, cell.inputWeight, cell.hiddenWeight, cell.bias]
        if let c0 { wrt.append(c0) }
        if let candidate = cell.candidateBias { wrt.append(candidate) }
        func loss(_ output: Tensor, _ state: RecurrentState) -> Tensor {
            (output * weights).sum() + state.hidden.sum() + (state.cell?.sum() ?? Tensor(0, dtype: .float32))
        }
        let fusedGradients = loss(fused.output, RecurrentState(hidden: fused.finalHidden, cell: fused.finalCell)).gradients(withRespectTo: wrt)
        let referenceGradients = loss(reference.output, reference.final).gradients(withRespectTo: wrt)
        for (index, (a, b)) in zip(fusedGradients, referenceGradients).enumerated() {
            #expect(relative(a, b) < 1e-5, "\(kind) gradient \(index)")
        }
    }

    @Test(arguments: RecurrentCellKind.allCases)
    func finiteDifferencesThroughTime(kind: RecurrentCellKind) {
        var generator = SeededGenerator(seed: 12)
        let cell = RecurrentCell(kind, inputSize: 3, hiddenSize: 4, generator: &generator, dtype: .float64)
        var inputs = [randomTensor([2, 6, 3], seed: 5), cell.inputWeight, cell.hiddenWeight, cell.bias, randomTensor([2, 4], seed: 6)]
        if kind.hasCellState { inputs.append(randomTensor([2, 4], seed: 7)) }
        if kind == .gru { inputs.append(cell.candidateBias!) }
        for lengths in [nil, [6, 3]] as [[Int]?] {
            let result = GradientCheck.check(inputs) { p in
                let sequence = Tensor.recurrentSequence(
                    kind, input: p[0], inputWeight: p[1], hiddenWeight: p[2], bias: p[3],
                    candidateBias: kind == .gru ? p.last : nil, initialHidden: p[4],
                    initialCell: kind.hasCellState ? p[5] : nil, lengths: lengths)
                let pieces = [sequence.output.reshaped([2, -1]), sequence.finalHidden] + (sequence.finalCell.map { [$0] } ?? [])
                return Tensor.concatenate(pieces, alongAxis: 1)
            }
            #expect(result.passed, "\(kind) lengths \(String(describing: lengths)): \(result)")
        }
    }

    @Test func paddingContributesNothing() {
        let layer = RecurrentLayer(.lstm, inputSize: 2, hiddenSize: 3, bidirectional: true, seed: 3, dtype: .float64)
        let x = randomTensor([2, 5, 2], seed: 8).requiringGradient()
        let lengths = [5, 2]
        let result = layer(x, lengths: lengths)
        let output = result.output.doubles
        for t in 2..<5 { for j in 0..<6 { #expect(output[(5 + t) * 6 + j] == 0) } }
        (result.output.sum() + result.lastHidden.sum()).backward()
        let gradient = x.grad!.doubles
        for t in 2..<5 { for j in 0..<2 { #expect(gradient[(5 + t) * 2 + j] == 0, "padding step \(t) received a gradient") } }
        // Changing the padding changes nothing.
        var changed = x.detached()
        changed.withUnsafeMutableBuffer(as: Double.self) { for i in 14..<20 { $0[i] = 99 } }
        let again = layer(changed, lengths: lengths)
        #expect(maxDifference(again.output, result.output) == 0)
        #expect(maxDifference(again.lastHidden, result.lastHidden) == 0)
    }

    @Test func finalStateIsTheStateAtTheLastValidStep() {
        let layer = RecurrentLayer(.gru, inputSize: 2, hiddenSize: 3, seed: 4, dtype: .float64)
        let x = randomTensor([1, 6, 2], seed: 9)
        let padded = layer(x, lengths: [4])
        let truncated = layer(x.slice(alongAxis: 1, 0..<4))
        #expect(maxDifference(padded.finalStates[0].hidden, truncated.finalStates[0].hidden) < 1e-15)
    }
}

@Suite struct RecurrentLayerTests {
    /// Puts `tensors` in place of the layer's parameters (walk order), so gradients flow to them.
    func substitute(_ layer: RecurrentLayer, _ tensors: ArraySlice<Tensor>) {
        var index = tensors.startIndex
        layer.visitParameters { _, parameter in
            parameter = tensors[index]
            index += 1
        }
    }

    @Test(arguments: [RecurrentCellKind.lstm, .gru, .rnnTanh])
    func stackedBidirectionalWithLengthsPassesGradientCheck(kind: RecurrentCellKind) {
        for merge in DirectionMerge.allCases {
            let layer = RecurrentLayer(kind, inputSize: 3, hiddenSize: 2, layerCount: 2, bidirectional: true, merge: merge, seed: 5, dtype: .float64)
            let parameters = layer.namedParameters.map(\.value)
            let x = randomTensor([2, 4, 3], seed: 10)
            let result = GradientCheck.check([x] + parameters) { p in
                substitute(layer, p.dropFirst())
                let run = layer(p[0], lengths: [4, 3])
                return Tensor.concatenate([run.output.reshaped([2, -1]), run.lastHidden], alongAxis: 1)
            }
            #expect(result.passed, "\(kind) \(merge): \(result)")
        }
    }

    /// Indices in place of a one-hot tensor: the same outputs, final states and parameter gradients (Float64,
    /// so only summation order may differ), stacked and bidirectional with padding; then finite differences
    /// through the gather and scatter themselves.
    /// Inference that keeps no steps runs each step's input projection into a step-sized buffer (from a batch of
    /// 8, `RecurrentSequenceKernel.perStepProjectionBatch`): the same
    /// outputs and final states, bit for bit, as a run that keeps every step's gates (one product over all B·T
    /// rows), for stacked bidirectional layers with lengths, one-hot inputs, the step loop split over two
    /// cores, and small cells whose two products per step are joined into one. The per-step gates and cell
    /// states come back only when asked for, or when gradients are recorded.
    @Test(arguments: RecurrentCellKind.allCases)
    func inferenceWithoutKeptStepsMatchesKeptSteps(kind: RecurrentCellKind) throws {
        let threadsBefore = ComputeSettings.threads
        defer { try? ComputeSettings.setThreads(threadsBefore) }
        func random(_ shape: Shape, _ seed: UInt64) -> Tensor {
            var generator = SeededGenerator(seed: seed)
            return Tensor.uniform(shape, low: -1, high: 1, dtype: .float32, using: &generator)
        }
        // (batch, steps, input, hidden, layers, bidirectional, threads): the second is large enough to split the
        // step loop over two cores; the third's batch is too small to project step by step (it projects all steps
        // at once into a buffer of its own). With I + H ≤ 64 (`RecurrentSequenceKernel.joinedDepthLimit`) an LSTM or
        // RNN joins the step's two products into one: the first layer of the first and both of the fourth (whose
        // 32 rows are read in place, where 13 are packed).
        for (batch, steps, input, hidden, layers, bidirectional, threads) in [(13, 6, 20, 40, 2, true, 1), (64, 5, 8, 256, 1, false, 2), (3, 9, 5, 7, 2, true, 1),
                                                                             (32, 7, 12, 16, 2, true, 2)] {
            try ComputeSettings.setThreads(threads)
            let layer = RecurrentLayer(kind, inputSize: input, hiddenSize: hidden, layerCount: layers, bidirectional: bidirectional, seed: 7, dtype: .float32)
            let lengths = (0..<batch).map { $0 % 5 == 3 ? 0 : ($0 % 4 == 1 ? 2 : steps) }
            let x = random([batch, steps, input], 8)
            let plain = noGrad { layer(x, lengths: lengths) }
            let kept = noGrad { layer(x, lengths: lengths, keepingSteps: true) }
            let label = "\(kind) batch \(batch) threads \(threads)"
            #expect(plain.gates.isEmpty && plain.cells.isEmpty, "\(label): nothing kept unless asked")
            let runs = layers * (bidirectional ? 2 : 1)
            #expect(kept.gates.count == runs && kept.gates[0].shape == [batch, steps, kind.gateCount * hidden], "\(label): kept gates")
            #expect(kept.cells.count == runs && (kept.cells[0]?.shape == [batch, steps, hidden]) == kind.hasCellState, "\(label): kept cells")
            /// How many values differ in their bits (0 for the same tensor).
            func differing(_ a: Tensor, _ b: Tensor) -> Int { zip(a.doubles, b.doubles).filter { $0.bitPattern != $1.bitPattern }.count }
            let outputsDiffer = differing(plain.output, kept.output)
            #expect(outputsDiffer == 0, "\(label): \(outputsDiffer) outputs differ, by up to \(maxDifference(plain.output, kept.output))")
            for (a, b) in zip(plain.finalStates, kept.finalStates) {
                let statesDiffer = differing(a.hidden, b.hidden) + (a.cell.map { differing($0, b.cell!) } ?? 0)
                #expect(statesDiffer == 0, "\(label): \(statesDiffer) final state values differ")
            }
            let tokens = (0..<(batch * steps)).map { ($0 * 7 + 3) % input }
            let plainOneHot = noGrad { layer(oneHot: tokens, batch: batch, steps: steps, lengths: lengths) }
            let keptOneHot = noGrad { layer(oneHot: tokens, batch: batch, steps: steps, lengths: lengths, keepingSteps: true) }
            #expect(differing(plainOneHot.output, keptOneHot.output) == 0, "\(label): one-hot outputs")
        }
        // Recording gradients keeps them without being asked: backward needs them.
        let layer = RecurrentLayer(kind, inputSize: 4, hiddenSize: 3, seed: 9, dtype: .float32)
        #expect(layer(random([2, 3, 4], 10).requiringGradient()).gates.count == 1)
    }

    @Test(arguments: [RecurrentCellKind.lstm, .gru, .rnnTanh])
    func oneHotIndicesEqualTheOneHotTensor(kind: RecurrentCellKind) {
        let vocabulary = 5, batch = 3, steps = 4, lengths = [4, 2, 3]
        let tokens = [0, 4, 2, 2, 1, 3, 0, 0, 4, 4, 1, 2]
        var values = [Double](repeating: 0, count: batch * steps * vocabulary)
        for (row, token) in tokens.enumerated() { values[row * vocabulary + token] = 1 }
        let dense = Tensor(shape: [batch, steps, vocabulary], doubles: values, dtype: .float64)
        let layer = RecurrentLayer(kind, inputSize: vocabulary, hiddenSize: 3, layerCount: 2, bidirectional: true, seed: 21, dtype: .float64)
        let parameters = layer.namedParameters.map(\.value)
        func loss(_ run: RecurrentLayerOutput) -> Tensor {
            (run.output * randomTensor(run.output.shape, seed: 22)).sum() + (run.lastHidden * run.lastHidden).sum()
        }
        let viaTensor = layer(dense, lengths: lengths), viaIndices = layer(oneHot: tokens, batch: batch, steps: steps, lengths: lengths)
        #expect(maxDifference(viaTensor.output, viaIndices.output) < 1e-12)
        #expect(maxDifference(viaTensor.lastHidden, viaIndices.lastHidden) < 1e-12)
        let expected = loss(viaTensor).gradients(withRespectTo: parameters), actual = loss(viaIndices).gradients(withRespectTo: parameters)
        for (name, (e, a)) in zip(layer.namedParameters.map(\.name), zip(expected, actual)) {
            #expect(maxDifference(e, a) < 1e-12, "\(kind) \(name)")
        }
        let check = GradientCheck.check(parameters) { p in
            substitute(layer, p[...])
            return loss(layer(oneHot: tokens, batch: batch, steps: steps, lengths: lengths)).reshaped([1])
        }
        #expect(check.passed, "\(kind): \(check)")
    }

    /// The bias gradient of a one-hot sequence comes from dW_ih's token table when W_ih learns, and from the step
    /// loop's own sums when W_ih is frozen: both must be the dense input's.
    @Test(arguments: [RecurrentCellKind.lstm, .gru])
    func oneHotBiasGradientWithAndWithoutInputWeightGradient(kind: RecurrentCellKind) {
        let vocabulary = 4, batch = 2, steps = 3, hidden = 3, gates = kind.gateCount * hidden, lengths = [3, 2]
        let tokens = [1, 3, 0, 2, 2, 1]
        var values = [Double](repeating: 0, count: batch * steps * vocabulary)
        for (row, token) in tokens.enumerated() { values[row * vocabulary + token] = 1 }
        let dense = Tensor(shape: [batch, steps, vocabulary], doubles: values, dtype: .float64)
        let inputWeight = randomTensor([gates, vocabulary], seed: 31), hiddenWeight = randomTensor([gates, hidden], seed: 32)
        let bias = randomTensor([gates], seed: 33).requiringGradient()
        let candidateBias = kind == .gru ? randomTensor([hidden], seed: 34) : nil
        let initialHidden = randomTensor([batch, hidden], seed: 35), initialCell = kind == .lstm ? randomTensor([batch, hidden], seed: 36) : nil
        let weights = randomTensor([batch, steps, hidden], seed: 37)
        func biasGradient(learningInputWeight: Bool, oneHot: Bool) -> Tensor {
            let w = learningInputWeight ? inputWeight.requiringGradient() : inputWeight
            let run = oneHot
                ? Tensor.recurrentSequence(kind, oneHot: tokens, batch: batch, steps: steps, inputWeight: w, hiddenWeight: hiddenWeight, bias: bias,
                                           candidateBias: candidateBias, initialHidden: initialHidden, initialCell: initialCell, lengths: lengths)
                : Tensor.recurrentSequence(kind, input: dense, inputWeight: w, hiddenWeight: hiddenWeight, bias: bias,
                                           candidateBias: candidateBias, initialHidden: initialHidden, initialCell: initialCell, lengths: lengths)
            return (run.output * weights).sum().gradients(withRespectTo: [bias])[0]
        }
        let expected = biasGradient(learningInputWeight: true, oneHot: false)
        #expect(maxDifference(expected, biasGradient(learningInputWeight: true, oneHot: true)) < 1e-12)
        #expect(maxDifference(expected, biasGradient(learningInputWeight: false, oneHot: true)) < 1e-12)
        #expect(maxDifference(expected, biasGradient(learningInputWeight: false, oneHot: false)) < 1e-12)
    }

    @Test func givenAndLearnableInitialStatesReceiveGradients() {
        let learnable = RecurrentLayer(.lstm, inputSize: 2, hiddenSize: 3, layerCount: 2, learnableInitialState: true, seed: 6, dtype: .float64)
        let x = randomTensor([2, 3, 2], seed: 11)
        let result = GradientCheck.check([x] + learnable.namedParameters.map(\.value)) { p in
            substitute(learnable, p.dropFirst())
            return learnable(p[0]).output
        }
        #expect(result.passed, "\(result)")
        let plain = RecurrentLayer(.gru, inputSize: 2, hiddenSize: 3, seed: 7, dtype: .float64)
        let given = GradientCheck.check([x, randomTensor([2, 3], seed: 12)]) { p in
            plain(p[0], initialStates: [RecurrentState(hidden: p[1])]).output
        }
        #expect(given.passed, "\(given)")
    }

    @Test func bidirectionalBackwardDirectionReadsReversedInput() {
        let layer = RecurrentLayer(.lstm, inputSize: 2, hiddenSize: 3, bidirectional: true, seed: 8, dtype: .float64)
        let x = randomTensor([2, 5, 2], seed: 13)
        let lengths = [5, 3]
        let both = layer(x, lengths: lengths)
        let backwardCell = layer.cells[0][1]
        let reversedRun = referenceSequence(backwardCell, x.reversingSequences(lengths: lengths), backwardCell.zeroState(batch: 2), lengths: lengths)
        let backwardHalf = both.output.slice(alongAxis: 2, 3..<6)
        #expect(maxDifference(backwardHalf, reversedRun.output.reversingSequences(lengths: lengths)) < 1e-12)
        #expect(maxDifference(both.finalStates[1].hidden, reversedRun.final.hidden) < 1e-12)
    }

    @Test func statefulStreamingEqualsOneLongCall() {
        let stateful = RecurrentLayer(.lstm, inputSize: 2, hiddenSize: 4, layerCount: 2, seed: 9, dtype: .float64)
        let x = randomTensor([3, 8, 2], seed: 14)
        let whole = stateful(x).output
        stateful.isStateful = true
        let first = stateful(x.slice(alongAxis: 1, 0..<5)).output
        let second = stateful(x.slice(alongAxis: 1, 5..<8)).output
        #expect(maxDifference(Tensor.concatenate([first, second], alongAxis: 1), whole) < 1e-12)
        // The carried state is detached: the second chunk's graph does not reach the first chunk's input.
        #expect(!second.requiresGradient || stateful.namedParameters.allSatisfy { $0.value.requiresGradient })
        stateful.resetStates()
        #expect(maxDifference(stateful(x.slice(alongAxis: 1, 0..<5)).output, first) < 1e-15)
    }

    @Test func dropoutOnlyBetweenLayersAndOnlyInTraining() {
        let layer = RecurrentLayer(.gru, inputSize: 2, hiddenSize: 3, layerCount: 2, dropout: 0.5, seed: 10, dtype: .float64)
        let x = randomTensor([2, 3, 2], seed: 15)
        let trainingA = layer(x).output, trainingB = layer(x).output
        #expect(maxDifference(trainingA, trainingB) > 0, "fresh masks each call")
        layer.isTraining = false
        #expect(maxDifference(layer(x).output, layer(x).output) == 0)
    }

    @Test func forgetGateBiasOpensTheGate() {
        let layer = RecurrentLayer(.lstm, inputSize: 2, hiddenSize: 3, forgetGateBias: 3, seed: 11)
        let bias = layer.cells[0][0].bias.scalars
        #expect(Array(bias[3..<6]) == [3, 3, 3])
    }
}

@Suite struct ParameterCountTests {
    @Test func lectureNumbers() {
        #expect(RecurrentLayer(.lstm, inputSize: 32, hiddenSize: 16).parameterCount == 3136)
        #expect(RecurrentCellKind.lstm.parameterFormula(inputSize: 32, hiddenSize: 16) == "4 × (32·16 + 16·16 + 16) = 3136")
        #expect(RecurrentLayer(.lstm, inputSize: 32, hiddenSize: 16).pytorchParameterCount == 3200)
        #expect(RecurrentLayer(.rnnTanh, inputSize: 32, hiddenSize: 16).parameterCount == 784)
        #expect(RecurrentLayer(.rnnTanh, inputSize: 32, hiddenSize: 16).pytorchParameterCount == 800)
        #expect(RecurrentLayer(.gru, inputSize: 32, hiddenSize: 16).parameterCount == 2368)
        #expect(RecurrentCellKind.gru.parameterFormula(inputSize: 32, hiddenSize: 16) == "3 × (32·16 + 16·16 + 16) + 16 = 2368")
        #expect(RecurrentLayer(.gru, inputSize: 32, hiddenSize: 16).pytorchParameterCount == 2400)
    }

    @Test func gridAgainstFormulas() {
        for input in [1, 3, 32, 100] {
            for hidden in [1, 5, 16, 64] {
                for kind in RecurrentCellKind.allCases {
                    let g = kind.gateCount
                    let ours = g * (input * hidden + hidden * hidden + hidden) + (kind == .gru ? hidden : 0)
                    let pytorch = g * (input * hidden + hidden * hidden + 2 * hidden)
                    let layer = RecurrentLayer(kind, inputSize: input, hiddenSize: hidden)
                    #expect(layer.parameterCount == ours)
                    #expect(layer.pytorchParameterCount == pytorch)
                    let deep = RecurrentLayer(kind, inputSize: input, hiddenSize: hidden, layerCount: 2, bidirectional: true)
                    let upper = g * (2 * hidden * hidden + hidden * hidden + hidden) + (kind == .gru ? hidden : 0)
                    #expect(deep.parameterCount == 2 * (ours + upper))
                }
            }
        }
    }

    @Test func namesArePyTorchs() {
        let names = RecurrentLayer(.gru, inputSize: 3, hiddenSize: 2, layerCount: 2, bidirectional: true).namedParameters.map(\.name)
        #expect(names.prefix(8) == ["weight_ih_l0", "weight_hh_l0", "bias_l0", "bias_hn_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_l0_reverse", "bias_hn_l0_reverse"])
        #expect(names.count == 16)
    }
}

@Suite struct ModelSpecTests {
    @Test func summaryOfTheLectureLSTM() throws {
        let summary = try ModelSummary([LayerSpec(parsing: "lstm:16")], inputSize: 32)
        #expect(summary.totalParameters == 3136)
        #expect(summary.rows[0].formula == "4 × (32·16 + 16·16 + 16) = 3136")
        #expect(summary.pytorchTotalParameters == 3200)
    }

    @Test func formulasAgreeWithBuiltLayers() throws {
        for (token, input) in [("lstm:8x2:bi", 5), ("gru:7x3", 4), ("rnn-relu:6:bi-sum", 3), ("rnn:5x2:bi-avg", 2)] {
            guard case let .recurrent(kind, hidden, layers, bidirectional, merge) = try LayerSpec(parsing: token) else { Issue.record("\(token)"); continue }
            let built = RecurrentLayer(kind, inputSize: input, hiddenSize: hidden, layerCount: layers, bidirectional: bidirectional, merge: merge)
            let summary = try ModelSummary([LayerSpec(parsing: token)], inputSize: input)
            #expect(summary.totalParameters == built.parameterCount, "\(token)")
            #expect(summary.pytorchTotalParameters == built.pytorchParameterCount, "\(token)")
        }
    }

    @Test func stackShapes() throws {
        let summary = try ModelSummary(["embedding:5000x32", "lstm:64", "lstm:64", "dense:1"].map { try LayerSpec(parsing: $0) }, inputSize: nil)
        #expect(summary.rows.map(\.outputShape) == ["(B, T, 32)", "(B, T, 64)", "(B, 64)", "(B, 1)"])
        #expect(summary.totalParameters == 160_000 + 24_832 + 33_024 + 65)
    }

    @Test(arguments: ["lsmt:16", "lstm", "lstm:", "lstm:0", "lstm:16x", "lstm:16:up", "lstm:16:bi:bi", "gru:8:bi:bi-sum", "embedding:5000", "dense:1:bi", "gru:99999999"])
    func malformedTokensAreNamed(token: String) {
        #expect { try LayerSpec(parsing: token) } throws: { ($0 as? ModelSpecError)?.token == token }
    }

    @Test func oneDirectionModifierAtMost() {
        for token in ["lstm:16:bi:bi", "gru:8:bi:bi-sum"] {
            #expect { try LayerSpec(parsing: token) } throws: { ($0 as? ModelSpecError)?.problem.contains("one modifier at most") == true }
        }
    }

    @Test func hugeSpecIsCountedNotBuilt() throws {
        let summary = try ModelSummary([LayerSpec(parsing: "lstm:1000000x3:bi")], inputSize: 1_000_000)
        #expect(summary.totalParameters > 0)
    }
}
