import Testing
import RecurrentTensor

@Suite struct AutodiffTests {
    @Test func leafGradientsAccumulateAcrossCallsUntilZeroed() {
        let w = Tensor([1, 2, 3]).requiringGradient()
        (w * w).sum().backward()
        expectClose(w.grad!, [2, 4, 6])
        (w * 3).sum().backward()
        expectClose(w.grad!, [5, 7, 9])
        w.zeroGradient()
        #expect(w.grad == nil)
    }

    @Test func sharedTensorReceivesEveryPath() {
        let x = Tensor(2).requiringGradient()
        let y = x * x * x + x.exp() * x    // 3x² + eˣ(1 + x) at 2
        y.backward()
        #expect(Swift.abs(x.grad!.item - Float(12 + 3 * 7.38905609893065)) < 1e-4)
    }

    @Test func gradientsWithRespectToIntermediates() {
        let x = Tensor([1, -2]).requiringGradient()
        let hidden = x * 3
        let loss = hidden.squared().sum()
        let grads = loss.gradients(withRespectTo: [hidden, x])
        expectClose(grads[0], [6, -12])
        expectClose(grads[1], [18, -36])
        #expect(x.grad == nil, "gradients(withRespectTo:) leaves leaves' grad alone")
    }

    @Test func noGradRecordsNothing() {
        let w = Tensor([1, 2]).requiringGradient()
        let y = noGrad { (w * 2).sum() }
        #expect(!y.requiresGradient)
        #expect(!noGrad { isRecordingGradients })
        #expect(isRecordingGradients)
        #expect((w * 2).sum().requiresGradient)
    }

    @Test func detachStopsTheFlow() {
        let x = Tensor([3]).requiringGradient()
        let y = (x * x.detached()).sum()
        y.backward()
        expectClose(x.grad!, [3])
    }

    @Test func seedForNonScalar() {
        let x = Tensor([1, 2]).requiringGradient()
        (x * 2).backward(seed: Tensor([1, 10]))
        expectClose(x.grad!, [2, 20])
    }

    @Test func assignKeepsLeafIdentity() {
        var w = Tensor([1, 1]).requiringGradient()
        noGrad { w.assign(w - 0.5) }
        #expect(w.requiresGradient)
        (w * w).sum().backward()
        expectClose(w.grad!, [1, 1])
    }

    @Test func backwardOnNonScalarNamesShape() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2]).requiringGradient()
            (x * 2).backward()
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("non-scalar tensor of shape (2)"), "\(message)")
            #expect(message.contains("multiply"), "\(message)")
        }
    }

    @Test func shapeMismatchNamesOpAndBothShapes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3]).matmul(Tensor.ones([4, 5]))
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("matmul: shapes (2, 3) and (4, 5) do not align"), "\(message)")
        }
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3]) + Tensor.ones([4, 3])
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("add: shapes (2, 3) and (4, 3) cannot be broadcast"), "\(message)")
        }
    }
}

@Suite struct RandomTests {
    @Test func sameSeedSameStream() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        #expect(first != (0..<5).map { _ in c.next() })
        var restored = SeededGenerator(state: a.state)!
        #expect(restored.next() == a.next())
        #expect(SeededGenerator(state: (0, 0, 0, 0)) == nil)
    }

    @Test func distributionsHaveTheirMoments() {
        var generator = SeededGenerator(seed: 7)
        let normal = Tensor.normal([20_000], mean: 1, standardDeviation: 2, dtype: .float64, using: &generator).doubles
        let mean = normal.reduce(0, +) / Double(normal.count)
        let variance = normal.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(normal.count)
        #expect(Swift.abs(mean - 1) < 0.05 && Swift.abs(variance.squareRoot() - 2) < 0.05)
        let uniform = Tensor.uniform([20_000], low: -3, high: 1, using: &generator).scalars
        #expect(uniform.allSatisfy { $0 >= -3 && $0 < 1 })
        #expect(Swift.abs(uniform.reduce(0, +) / 20_000 + 1) < 0.05)
    }

    @Test func glorotLimits() {
        var generator = SeededGenerator(seed: 8)
        let w = Tensor.glorotUniform([30, 50], using: &generator).scalars
        let limit = Float((6.0 / 80).squareRoot())
        #expect(w.allSatisfy { Swift.abs($0) <= limit })
        #expect(w.map { Swift.abs($0) }.max()! > limit * 0.95)
        let n = Tensor.glorotNormal([200, 300], using: &generator).doubles
        let std = (n.reduce(0) { $0 + $1 * $1 } / Double(n.count)).squareRoot()
        #expect(Swift.abs(std - (2.0 / 500).squareRoot()) < 0.002)
    }

    @Test(arguments: [[5, 5], [3, 7], [8, 3], [4, 2, 3]])
    func orthogonalRowsOrColumns(dimensions: [Int]) {
        var generator = SeededGenerator(seed: 9)
        let q = Tensor.orthogonal(Shape(dimensions), gain: 1, dtype: .float64, using: &generator)
        let rows = dimensions[0], columns = q.elementCount / rows
        let matrix = q.reshaped([rows, columns])
        let gram = rows <= columns ? matrix.matmul(matrix.transposed()) : matrix.transposed().matmul(matrix)
        expectClose(gram, Tensor.eye(Swift.min(rows, columns)).doubles, tolerance: 1e-12)
    }
}
