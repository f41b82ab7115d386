import Testing
import RecurrentTensor

@Suite struct CreationTests {
    @Test func literalsAndFactories() {
        let m = Tensor([[1, 2, 3], [4, 5, 6]])
        #expect(m.shape == [2, 3])
        #expect(m.dtype == .float32)
        #expect(m.scalars == [1, 2, 3, 4, 5, 6])
        #expect(m[1, 2] == 6)
        expectClose(Tensor.zeros([2, 2]), [0, 0, 0, 0])
        expectClose(Tensor.ones([3]), [1, 1, 1])
        expectClose(Tensor.full([2], 2.5, dtype: .float64), [2.5, 2.5])
        expectClose(Tensor.arange(to: 5), [0, 1, 2, 3, 4], shape: [5])
        expectClose(Tensor.arange(1, to: 2, step: 0.25), [1, 1.25, 1.5, 1.75])
        expectClose(Tensor.linspace(0, 1, count: 5), [0, 0.25, 0.5, 0.75, 1])
        expectClose(Tensor.eye(2), [1, 0, 0, 1])
        #expect(Tensor(3).shape == [])
        #expect(Tensor(3).item == 3)
    }

    @Test func copyOnWrite() {
        let a = Tensor([1, 2, 3])
        var b = a
        b.withUnsafeMutableBuffer(as: Float.self) { $0[0] = 9 }
        #expect(a.scalars == [1, 2, 3])
        #expect(b.scalars == [9, 2, 3])
    }

    @Test func conversionKeepsValues() {
        let a = Tensor([0.1, -2, 3e5])
        let d = a.converted(to: .float64)
        #expect(d.dtype == .float64)
        #expect(d.converted(to: .float32).scalars == a.scalars)
    }

    @Test func printsShapeAndValues() {
        #expect(Tensor([[1, 2], [3, 4]]).description == "Tensor(2, 2) float32\n[[1, 2],\n [3, 4]]")
    }
}

@Suite struct ArithmeticTests {
    @Test func broadcastingFollowsNumPy() {
        let a = Tensor([[1, 2, 3], [4, 5, 6]])
        expectClose(a + Tensor([10, 20, 30]), [11, 22, 33, 14, 25, 36])
        expectClose(a * Tensor(shape: [2, 1], scalars: [2, 3]), [2, 4, 6, 12, 15, 18])
        expectClose(Tensor(shape: [2, 1, 1], scalars: [1, 2]) - Tensor(shape: [1, 3], scalars: [1, 2, 3]), [0, -1, -2, 1, 0, -1], shape: [2, 1, 3])
        expectClose(a / 2, [0.5, 1, 1.5, 2, 2.5, 3])
        expectClose(1 - a, [0, -1, -2, -3, -4, -5])
        expectClose(-a, [-1, -2, -3, -4, -5, -6])
        #expect(Shape.broadcast([2, 3], [4, 3]) == nil)
        #expect(Shape.broadcast([5, 1, 4], [3, 1]) == [5, 3, 4])
    }

    @Test func mixedPrecisionPromotes() {
        let result = Tensor([1, 2]) + Tensor(shape: [2], doubles: [0.5, 0.25])
        #expect(result.dtype == .float64)
        expectClose(result, [1.5, 2.25])
    }

    @Test func activationsAndTheirEdges() {
        let x = Tensor([-1e4, -1, 0, 1, 1e4])
        let sigmoid = x.sigmoid().scalars
        #expect(sigmoid[0] == 0 && sigmoid[4] == 1 && sigmoid[2] == 0.5)
        #expect(sigmoid.allSatisfy { $0.isFinite })
        expectClose(Tensor([-1, 0, 2]).relu(), [0, 0, 2])
        expectClose(Tensor([0, 1]).exp(), [1, 2.718281828459045], tolerance: 1e-6)
        expectClose(Tensor([1, 2.718281828459045]).log(), [0, 1], tolerance: 1e-6)
        expectClose(Tensor([0.5]).tanh(), [0.46211715726000974], tolerance: 1e-6)
    }

    @Test func softmaxIsStableForHugeLogits() {
        let logits = Tensor([[1e4, -1e4, 0], [-1e4, -1e4, -1e4]])
        let p = logits.softmax()
        #expect(p.scalars.allSatisfy { $0.isFinite })
        expectClose(p, [1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3])
        let logP = logits.logSoftmax()
        #expect(logP.scalars.allSatisfy { $0.isFinite })
        expectClose(logP, [0, -2e4, -1e4, -1.0986122886681098, -1.0986122886681098, -1.0986122886681098], tolerance: 1e-6)
        expectClose(Tensor([1, 2, 3]).softmax(), [0.09003057317038046, 0.24472847105479767, 0.6652409557748219])
    }
}

@Suite struct ReductionTests {
    let x = Tensor(shape: [2, 3], scalars: [1, 5, 3, 4, 2, 6])

    @Test func sumsAndMeans() {
        #expect(x.sum().item == 21)
        expectClose(x.sum(alongAxis: 0), [5, 7, 9], shape: [3])
        expectClose(x.sum(alongAxis: 1, keepingDimension: true), [9, 12], shape: [2, 1])
        #expect(x.mean().item == 3.5)
        expectClose(x.mean(alongAxis: -1), [3, 4])
    }

    @Test func maxAndArgmax() {
        expectClose(x.max(alongAxis: 1), [5, 6])
        #expect(x.argmax(alongAxis: 1) == [1, 2])
        #expect(x.argmax(alongAxis: 0) == [1, 0, 1])
        #expect(x.max().item == 6)
        // Ties go to the first position.
        #expect(Tensor([2, 7, 7]).argmax() == [1])
    }
}

@Suite struct ShapeOpTests {
    let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])

    @Test func reshapeAndPermute() {
        #expect(x.reshaped([3, -1]).shape == [3, 2])
        expectClose(x.transposed(), [1, 4, 2, 5, 3, 6], shape: [3, 2])
        let cube = Tensor.arange(to: 24).reshaped([2, 3, 4])
        let permuted = cube.permuted([2, 0, 1])
        #expect(permuted.shape == [4, 2, 3])
        #expect(permuted[3, 1, 2] == cube[1, 2, 3])
    }

    @Test func sliceConcatStack() {
        expectClose(x.slice(alongAxis: 1, 1..<3), [2, 3, 5, 6], shape: [2, 2])
        expectClose(Tensor.concatenate([x, x * 10], alongAxis: 0), [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60], shape: [4, 3])
        expectClose(Tensor.concatenate([x, x * 10], alongAxis: 1), [1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60], shape: [2, 6])
        expectClose(Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], alongAxis: 1), [1, 3, 2, 4], shape: [2, 2])
    }

    @Test func embeddingLookupAndGather() {
        let table = Tensor([[0, 0], [1, 1], [2, 2]])
        expectClose(table.indexSelect([2, 0, 1, 2], indexShape: [2, 2]), [2, 2, 0, 0, 1, 1, 2, 2], shape: [2, 2, 2])
        expectClose(x.gather(lastAxisIndices: [2, 0]), [3, 4], shape: [2])
    }
}

@Suite struct MatMulTests {
    @Test func twoDimensional() {
        let a = Tensor([[1, 2], [3, 4], [5, 6]]), b = Tensor([[1, 0, 2], [0, 1, 3]])
        expectClose(a.matmul(b), [1, 2, 8, 3, 4, 18, 5, 6, 28], shape: [3, 3])
    }

    @Test func batchedAndFolded() {
        let a = Tensor.arange(to: 12).reshaped([2, 2, 3])
        let b = Tensor.arange(to: 6).reshaped([3, 2])
        let folded = a.matmul(b)
        #expect(folded.shape == [2, 2, 2])
        expectClose(folded, [10, 13, 28, 40, 46, 67, 64, 94])
        let batchedB = Tensor.stack([b, b * 2])
        expectClose(a.matmul(batchedB), [10, 13, 28, 40, 92, 134, 128, 188])
    }

    @Test func float64Path() {
        let a = Tensor(shape: [2, 2], doubles: [1, 2, 3, 4]), b = Tensor(shape: [2, 1], doubles: [1e-9, 1])
        let c = a.matmul(b)
        #expect(c.dtype == .float64)
        #expect(c.doubles == [1e-9 + 2, 3e-9 + 4])
    }
}
