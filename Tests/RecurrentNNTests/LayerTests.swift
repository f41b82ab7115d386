import Testing
import RecurrentNN
import RecurrentKernels
import RecurrentTensor

@Suite struct DenseAndEmbeddingTests {
    @Test func denseGradients() {
        let dense = Dense(inputSize: 4, outputSize: 3, seed: 1, dtype: .float64)
        let x = randomTensor([2, 5, 4], seed: 2)
        let result = GradientCheck.check([x, dense.weight, dense.bias!]) { p in
            dense.weight = p[1]; dense.bias = p[2]
            return dense(p[0])
        }
        #expect(result.passed, "\(result)")
        #expect(dense.parameterCount == 4 * 3 + 3)
        #expect(dense.namedParameters.map(\.name) == ["weight", "bias"])
    }

    @Test func embeddingLooksUpAndPaddingRowGetsNoGradient() {
        let embedding = Embedding(vocabularySize: 6, dimension: 3, paddingIndex: 0, seed: 3, dtype: .float64)
        #expect(embedding.weight.doubles.prefix(3).allSatisfy { $0 == 0 })
        let indices = [2, 0, 5, 2, 0, 1]
        let looked = embedding(indices, shape: [2, 3])
        #expect(looked.shape == [2, 3, 3])
        #expect(Array(looked.doubles[9..<12]) == Array(embedding.weight.doubles[6..<9]))
        (looked * randomTensor([2, 3, 3], seed: 4)).sum().backward()
        let gradient = embedding.weight.grad!.doubles
        #expect(gradient[0..<3].allSatisfy { $0 == 0 }, "padding row received a gradient")
        #expect(gradient[3..<6].contains { $0 != 0 } && gradient[12..<15].allSatisfy { $0 == 0 })
        let check = GradientCheck.check([embedding.weight]) { p in embedding.weight = p[0]; return embedding([3, 1, 3], shape: [3]) }
        #expect(check.passed, "\(check)")
    }

    @Test func frozenEmbeddingGivesNoGradient() {
        let embedding = Embedding(vocabularySize: 4, dimension: 2, frozen: true, seed: 5)
        let x = Tensor([1, 2]).requiringGradient()
        (embedding([1, 3]) * x).sum().backward()
        #expect(embedding.weight.grad == nil)
    }
}

@Suite struct LossTests {
    @Test func crossEntropyGradientsWithIgnoreAndSmoothing() {
        let logits = randomTensor([5, 4], seed: 6, scale: 3)
        for (ignore, smoothing) in [(nil, 0.0), (2, 0.0), (nil, 0.1), (-100, 0.2)] as [(Int?, Double)] {
            let targets = [1, 2, 3, 0, ignore == -100 ? -100 : 2]
            let check = GradientCheck.check([logits]) { Loss.crossEntropy(logits: $0[0], targets: targets, ignoreIndex: ignore, labelSmoothing: smoothing) }
            #expect(check.passed, "ignore \(String(describing: ignore)) smoothing \(smoothing): \(check)")
        }
    }

    @Test func crossEntropyValuesAndStability() {
        // −log softmax([0, 0])[0] = log 2; huge logits stay finite.
        #expect(Swift.abs(Loss.crossEntropy(logits: Tensor([[0, 0]]), targets: [0]).item - 0.6931472) < 1e-6)
        let stable = Loss.crossEntropy(logits: Tensor([[1e4, -1e4], [-1e4, 1e4]]), targets: [0, 0])
        #expect(Swift.abs(stable.item - 1e4) < 1)
        // Ignored rows count for nothing.
        let some = Loss.crossEntropy(logits: Tensor([[2, 0], [0, 2]]), targets: [0, -1], ignoreIndex: -1)
        let alone = Loss.crossEntropy(logits: Tensor([[2, 0]]), targets: [0])
        #expect(some.item == alone.item)
    }

    @Test func binaryCrossEntropyOnLogits() {
        let logits = Tensor(shape: [6], doubles: [-3, -0.5, 0, 0.2, 2, 40])
        let targets = Tensor(shape: [6], doubles: [0, 1, 1, 0, 1, 0])
        let check = GradientCheck.check([logits]) { Loss.binaryCrossEntropy(logits: $0[0], targets: targets) }
        #expect(check.passed, "\(check)")
        let value = Loss.binaryCrossEntropy(logits: logits, targets: targets).doubles[0]
        // Written the naive way in Float64: −[y log σ(z) + (1 − y) log(1 − σ(z))].
        var total = 0.0
        for (z, y) in zip([-3, -0.5, 0, 0.2, 2, 40.0], [0, 1, 1, 0, 1, 0.0]) {
            let probability: Double = 1 / (1 + (-z).exponential)
            let term: Double = y * probability.logarithm + (1 - y) * (1 - probability).logarithm
            total -= term
        }
        let expected = total / 6
        #expect(Swift.abs(value - expected) < 1e-9 || expected.isInfinite)
    }

    @Test func meanSquaredError() {
        #expect(Loss.meanSquaredError(Tensor([1, 2]), Tensor([0, 0])).item == 2.5)
        let check = GradientCheck.check([randomTensor([3, 2], seed: 7)]) { Loss.meanSquaredError($0[0], Tensor.ones([3, 2])) }
        #expect(check.passed)
    }
}

extension Double {
    var exponential: Double { Tensor(shape: [], doubles: [self]).exp().doubles[0] }
    var logarithm: Double { Tensor(shape: [], doubles: [self]).log().doubles[0] }
}

@Suite struct ContainerAndImageLayerTests {
    /// Puts `tensors` in place of the layer's parameters (walk order).
    func substitute(_ layer: Layer, _ tensors: ArraySlice<Tensor>) {
        var index = tensors.startIndex
        layer.visitParameters { _, parameter in parameter = tensors[index]; index += 1 }
    }

    @Test func sequentialNamesAndGradients() {
        let model = Sequential([Dense(inputSize: 3, outputSize: 4, seed: 1, dtype: .float64), Activation(.tanh), LayerNorm(size: 4, dtype: .float64), Dense(inputSize: 4, outputSize: 2, seed: 2, dtype: .float64)])
        #expect(model.namedParameters.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"])
        let x = randomTensor([5, 3], seed: 3)
        let check = GradientCheck.check([x] + model.namedParameters.map(\.value)) { p in
            substitute(model, p.dropFirst())
            return model(p[0])
        }
        #expect(check.passed, "\(check)")
    }

    @Test func convolutionAndPoolingGradients() {
        let conv = Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1, seed: 4, dtype: .float64)
        let x = randomTensor([2, 2, 5, 6], seed: 5)
        #expect(conv(x).shape == [2, 3, 3, 3])
        let check = GradientCheck.check([x, conv.weight, conv.bias!]) { p in
            substitute(conv, p.dropFirst())
            return conv(p[0])
        }
        #expect(check.passed, "\(check)")
        let pool = GradientCheck.check([randomTensor([2, 3, 4, 6], seed: 6)]) { $0[0].maxPool2D(kernel: 2) }
        #expect(pool.passed, "\(pool)")
        #expect(randomTensor([1, 1, 5, 5], seed: 7).maxPool2D(kernel: 2).shape == [1, 1, 2, 2])
    }

    @Test func convolutionMatchesTheDefinition() {
        // A 1×1×3×3 image, 2×2 kernel of ones, no padding: each output is the sum of a 2×2 window.
        let image = Tensor(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let output = Tensor.convolution2D(image, weight: Tensor.ones([1, 1, 2, 2]), bias: Tensor([10]))
        #expect(output.scalars == [22, 26, 34, 38])
    }

    @Test func trainingModeReachesEveryLayer() {
        let dropout = Dropout(probability: 0.5, seed: 8)
        let model = Sequential([Dense(inputSize: 4, outputSize: 4), dropout])
        let x = Tensor.ones([3, 4])
        model.setTraining(false)
        #expect(!dropout.isTraining)
        #expect(model(x).scalars == model(x).scalars)
        model.setTraining(true)
        var generator = SeededGenerator(seed: 99)
        let masked = Tensor.ones([100]).dropout(probability: 0.5, using: &generator)
        #expect(masked.scalars.contains(0) && masked.scalars.contains(2))
    }

    @Test func dropoutGradientIsTheMask() {
        // The same seed gives the same mask on every evaluation, so finite differences see one function.
        let check = GradientCheck.check([randomTensor([4, 5], seed: 9)]) { p in
            var generator = SeededGenerator(seed: 10)
            return p[0].dropout(probability: 0.4, using: &generator)
        }
        #expect(check.passed, "\(check)")
        let model = Sequential([Dropout(probability: 0.5, seed: 11)])
        #expect(model.predict(Tensor.ones([2, 3])).scalars == [1, 1, 1, 1, 1, 1], "predict runs in evaluation mode")
    }

    @Test func layerNormNormalises() {
        let norm = LayerNorm(size: 4)
        let y = Array(norm(Tensor([[1, 2, 3, 4], [10, 10, 10, 14]])).scalars.prefix(4))
        let mean: Float = y.reduce(0, +) / 4
        let meanSquare: Float = y.map { $0 * $0 }.reduce(0, +) / 4
        #expect(Swift.abs(mean) < 1e-5)
        #expect(Swift.abs(meanSquare - 1) < 1e-3)
    }
}

@Suite struct AttentionTests {
    @Test(arguments: Attention.Scoring.allCases)
    func gradientsThroughEveryScoring(scoring: Attention.Scoring) {
        let attention = Attention(scoring, querySize: 3, keySize: scoring == .dot ? 3 : 4, attentionSize: 5, seed: 1, dtype: .float64)
        let query = randomTensor([2, 3], seed: 2), keys = randomTensor([2, 4, scoring == .dot ? 3 : 4], seed: 3), values = randomTensor([2, 4, 2], seed: 4)
        let check = GradientCheck.check([query, keys, values] + attention.namedParameters.map(\.value)) { p in
            var index = 3
            attention.visitParameters { _, parameter in parameter = p[index]; index += 1 }
            let (context, weights) = attention(query: p[0], keys: p[1], values: p[2], lengths: [4, 2])
            return Tensor.concatenate([context, weights], alongAxis: 1)
        }
        #expect(check.passed, "\(scoring): \(check)")
    }

    @Test func maskedPositionsGetZeroWeightAndTheRestSumToOne() {
        let attention = Attention(.general, querySize: 2, keySize: 2, seed: 5)
        var generator = SeededGenerator(seed: 6)
        let (context, weights) = attention(query: Tensor.normal([2, 2], using: &generator), keys: Tensor.normal([2, 5, 2], using: &generator), lengths: [5, 3])
        let w = weights.scalars
        #expect(w[8] == 0 && w[9] == 0)
        #expect(Swift.abs(w[0..<5].reduce(0, +) - 1) < 1e-6 && Swift.abs(w[5..<10].reduce(0, +) - 1) < 1e-6)
        #expect(context.shape == [2, 2] && weights.shape == [2, 5])
    }
}
