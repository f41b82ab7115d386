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
