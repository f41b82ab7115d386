import Testing
import RecurrentTensor

/// Finite differences in Float64 for every differentiable op, and proof that the check can fail.
@Suite struct GradientCheckTests {
    @Test func unaryActivations() {
        let x = random([3, 4], seed: 1, low: -2, high: 2)
        expectGradientsCorrect([x]) { $0[0].sigmoid() }
        expectGradientsCorrect([x]) { $0[0].tanh() }
        expectGradientsCorrect([x]) { $0[0].exp() }
        expectGradientsCorrect([x]) { $0[0].squared() }
        expectGradientsCorrect([x]) { -$0[0] }
    }

    @Test func kinkedFunctionsAwayFromTheKink() {
        // relu and abs are checked on inputs at least 0.1 from 0, where finite differences are exact enough.
        let signs = random([3, 5], seed: 2).doubles.map { $0 >= 0 ? 0.1 + $0 : -0.1 + $0 }
        let x = Tensor(shape: [3, 5], doubles: signs)
        expectGradientsCorrect([x]) { $0[0].relu() }
        expectGradientsCorrect([x]) { $0[0].abs() }
    }

    @Test func logAndSqrtOnPositiveInputs() {
        let x = random([4, 3], seed: 3, low: 0.5, high: 3)
        expectGradientsCorrect([x]) { $0[0].log() }
        expectGradientsCorrect([x]) { $0[0].sqrt() }
    }

    @Test func broadcastingArithmetic() {
        let a = random([2, 3, 4], seed: 4), b = random([3, 1], seed: 5), c = random([4], seed: 6, low: 0.5, high: 2)
        expectGradientsCorrect([a, b]) { $0[0] + $0[1] }
        expectGradientsCorrect([a, b]) { $0[0] - $0[1] }
        expectGradientsCorrect([a, b]) { $0[0] * $0[1] }
        expectGradientsCorrect([a, c]) { $0[0] / $0[1] }
        expectGradientsCorrect([a]) { 2 * $0[0] - 1 + $0[0] / 3 }
        expectGradientsCorrect([b]) { 1 / ($0[0] + 3) }
    }

    @Test func reusedTensorAccumulates() {
        let x = random([3], seed: 7)
        expectGradientsCorrect([x]) { $0[0] * $0[0] + $0[0].tanh() * $0[0] }
    }

    @Test func reductions() {
        let x = random([2, 3, 4], seed: 8)
        expectGradientsCorrect([x]) { $0[0].sum() }
        expectGradientsCorrect([x]) { $0[0].mean() }
        expectGradientsCorrect([x]) { $0[0].sum(alongAxis: 1) }
        expectGradientsCorrect([x]) { $0[0].sum(alongAxis: -1, keepingDimension: true) }
        expectGradientsCorrect([x]) { $0[0].mean(alongAxis: 0) }
        expectGradientsCorrect([x]) { $0[0].max(alongAxis: 2) }
        expectGradientsCorrect([x]) { $0[0].max(alongAxis: 0, keepingDimension: true) }
        expectGradientsCorrect([x]) { $0[0].max() }
        expectGradientsCorrect([random([3, 1], seed: 9)]) { $0[0].broadcasted(to: [2, 3, 4]) }
        // One element broadcast is a fill (the gradient of a sum takes that path).
        expectGradientsCorrect([random([1, 1], seed: 10)]) { $0[0].broadcasted(to: [2, 3, 4]) }
    }

    @Test func matrixProducts() {
        let a = random([3, 4], seed: 10), b = random([4, 5], seed: 11)
        expectGradientsCorrect([a, b]) { $0[0].matmul($0[1]) }
        let batchA = random([2, 3, 4], seed: 12), batchB = random([2, 4, 5], seed: 13)
        expectGradientsCorrect([batchA, batchB]) { $0[0].matmul($0[1]) }
        // (…, M, K)·(K, N): the folded path, and a broadcast batch.
        expectGradientsCorrect([batchA, b]) { $0[0].matmul($0[1]) }
        expectGradientsCorrect([a, batchB]) { $0[0].matmul($0[1]) }
        expectGradientsCorrect([random([2, 1, 3, 4], seed: 14), random([3, 4, 2], seed: 15)]) { $0[0].matmul($0[1]) }
        expectGradientsCorrect([batchA, random([5, 4], seed: 16)]) { $0[0].matmul(transposing: $0[1]) }
    }

    @Test func linearMatchesProductPlusBiasAndItsGradients() {
        let weight = random([5, 4], seed: 20), bias = random([5], seed: 21)
        for input in [random([4], seed: 22), random([3, 4], seed: 23), random([2, 3, 4], seed: 24)] {
            expectGradientsCorrect([input, weight, bias]) { $0[0].linear(weight: $0[1], bias: $0[2]) }
            let folded = input.linear(weight: weight, bias: bias)
            let apart = (input.rank == 1 ? input.reshaped([1, 4]).matmul(transposing: weight).reshaped([5]) : input.matmul(transposing: weight)) + bias
            #expect(folded.shape == apart.shape)
            #expect(zip(folded.doubles, apart.doubles).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
        }
    }

    @Test func reshapingOps() {
        let x = random([2, 3, 4], seed: 16)
        expectGradientsCorrect([x]) { $0[0].reshaped([6, 4]).tanh() }
        expectGradientsCorrect([x]) { $0[0].permuted([2, 0, 1]) }
        expectGradientsCorrect([x]) { $0[0].transposed() }
        expectGradientsCorrect([x]) { $0[0].slice(alongAxis: 1, 1..<3) }
        expectGradientsCorrect([x]) { $0[0].expandingDimension(at: 1).squeezingDimension(at: 1) }
        let y = random([2, 2, 4], seed: 17)
        expectGradientsCorrect([x, y]) { Tensor.concatenate([$0[0], $0[1], $0[0]], alongAxis: 1) }
        expectGradientsCorrect([x, x * 2]) { Tensor.stack([$0[0], $0[1]], alongAxis: 1) }
    }

    @Test func indexing() {
        let table = random([5, 3], seed: 18)
        expectGradientsCorrect([table]) { $0[0].indexSelect([4, 0, 4, 2, 1, 4], alongAxis: 0, indexShape: [2, 3]) }
        expectGradientsCorrect([random([2, 4, 3], seed: 19)]) { $0[0].indexSelect([3, 3, 1], alongAxis: 1) }
        expectGradientsCorrect([random([2, 3, 4], seed: 20)]) { $0[0].gather(lastAxisIndices: [0, 3, 3, 1, 2, 0]) }
    }

    @Test func softmaxFamily() {
        let x = random([3, 5], seed: 21, low: -3, high: 3)
        expectGradientsCorrect([x]) { $0[0].softmax() }
        expectGradientsCorrect([x]) { $0[0].logSoftmax() }
        expectGradientsCorrect([random([2, 4, 3], seed: 22)]) { $0[0].softmax(alongAxis: 1) }
        expectGradientsCorrect([random([2, 4, 3], seed: 23)]) { $0[0].logSoftmax(alongAxis: 0) }
    }

    /// A round trip through Float32 cannot be finite-differenced in Float64 (its rounding is the noise), so the
    /// conversion's gradient, the identity in the source type, is checked directly.
    @Test func dtypeConversionPassesGradientBack() {
        let x = random([4], seed: 24).requiringGradient()
        let y = (x.converted(to: .float32) * Tensor([1, 2, 3, 4])).sum()
        #expect(y.dtype == .float32)
        y.backward()
        #expect(x.grad?.dtype == .float64)
        expectClose(x.grad!, [1, 2, 3, 4])
    }

    @Test func composedNetwork() {
        // A two-layer network with a log-softmax loss: every op above, chained.
        let x = random([4, 3], seed: 25), w1 = random([3, 5], seed: 26), b1 = random([5], seed: 27), w2 = random([5, 2], seed: 28)
        expectGradientsCorrect([x, w1, b1, w2]) { p in
            let hidden = (p[0].matmul(p[1]) + p[2]).tanh()
            return -hidden.matmul(p[3]).logSoftmax().gather(lastAxisIndices: [0, 1, 1, 0]).mean()
        }
    }

    @Test func customOpWithCorrectDerivativePasses() {
        let x = random([6], seed: 29)
        let result = GradientCheck.check([x]) { p in
            Tensor.custom("cube", inputs: [p[0]], forward: { $0[0] * $0[0] * $0[0] }, backward: { grad, inputs in [grad * 3 * inputs[0] * inputs[0]] })
        }
        #expect(result.passed, "\(result)")
    }

    /// The check must be able to fail: a derivative off by a factor (d/dx x³ taken as 2x²) is reported, with
    /// the input, the element and both values.
    @Test func wrongDerivativeIsCaught() {
        let x = random([6], seed: 29)
        let result = GradientCheck.check([x]) { p in
            Tensor.custom("cube", inputs: [p[0]], forward: { $0[0] * $0[0] * $0[0] }, backward: { grad, inputs in [grad * 2 * inputs[0] * inputs[0]] })
        }
        #expect(!result.passed)
        #expect(result.failureCount == 6)
        #expect(result.description.contains("FAILED"))
        #expect(result.description.contains("input 0 at [0]"))
    }

    /// Subtler: a sign error in one element of the gradient only.
    @Test func singleWrongElementIsCaught() {
        let x = random([3, 3], seed: 30)
        let result = GradientCheck.check([x]) { p in
            Tensor.custom("almost-identity", inputs: [p[0]], forward: { $0[0] * 1 }, backward: { grad, _ in
                var wrong = grad
                wrong.withUnsafeMutableBuffer(as: Double.self) { $0[4] = -$0[4] }
                return [wrong]
            })
        }
        #expect(result.failureCount == 1)
        #expect(result.failures.first?.index == [1, 1])
    }
}
