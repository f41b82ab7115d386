// Matrix products on the GEMM kernels: 2-D, batched (leading axes broadcast), and (…, M, K)·(K, N) folded
// into one large GEMM, which is how a dense layer sees a batch of sequences.
//
//   C = A·B                  (…, M, K)·(…, K, N) → (…, M, N)
//   dA = dC·Bᵀ    dB = Aᵀ·dC  (summed over batch axes that were broadcast)

import RecurrentKernels

extension Tensor {
    /// Calls the GEMM for this dtype on element offsets into three storages.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        a: TensorStorage, aOffset: Int, lda: Int, b: TensorStorage, bOffset: Int, ldb: Int,
        beta: Double, c: TensorStorage, cOffset: Int, ldc: Int
    ) {
        switch c.dtype {
        case .float32:
            GEMM.multiply(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                a: a.pointer(Float.self) + aOffset, lda: lda, b: b.pointer(Float.self) + bOffset, ldb: ldb,
                beta: Float(beta), c: c.pointer(Float.self) + cOffset, ldc: ldc)
        case .float64:
            GEMM.multiply(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                a: a.pointer(Double.self) + aOffset, lda: lda, b: b.pointer(Double.self) + bOffset, ldb: ldb,
                beta: beta, c: c.pointer(Double.self) + cOffset, ldc: ldc)
        }
    }

    /// op(A)·op(B) over broadcast batch axes, where op transposes the last two axes when asked. Not recorded.
    static func batchedProduct(_ a: Tensor, transposeA: Bool, _ b: Tensor, transposeB: Bool, op: String) -> Tensor {
        require(a.rank >= 2 && b.rank >= 2, "\(op): needs tensors of rank ≥ 2, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kB = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        require(k == kB, "\(op): shapes \(a.shape) and \(b.shape) do not align (inner dimensions \(k) ≠ \(kB))")
        let aBatch = Shape(Array(a.shape.dimensions.dropLast(2))), bBatch = Shape(Array(b.shape.dimensions.dropLast(2)))
        guard let batch = Shape.broadcast(aBatch, bBatch) else {
            fatalError("\(op): batch dimensions \(aBatch) and \(bBatch) of shapes \(a.shape) and \(b.shape) cannot be broadcast")
        }
        let dtype = DType.promoted(a.dtype, b.dtype)
        let aStorage = a.storage.converted(to: dtype), bStorage = b.storage.converted(to: dtype)
        let lda = a.shape[a.rank - 1], ldb = b.shape[b.rank - 1]
        let output = TensorStorage(dtype: dtype, count: batch.elementCount * m * n)
        // (…, M, K)·(K, N) with A untransposed is one GEMM over all rows of A.
        if bBatch.rank == 0 && !transposeA {
            let rows = aBatch.elementCount * m
            gemm(transposeA: false, transposeB: transposeB, m: rows, n: n, k: k, a: aStorage, aOffset: 0, lda: lda,
                 b: bStorage, bOffset: 0, ldb: ldb, beta: 0, c: output, cOffset: 0, ldc: n)
        } else {
            let aStrides = broadcastStrides(aBatch, rank: batch.rank), bStrides = broadcastStrides(bBatch, rank: batch.rank)
            let batchStrides = batch.strides
            for index in 0..<batch.elementCount {
                var aIndex = 0, bIndex = 0, rest = index
                for axis in 0..<batch.rank {
                    let position = rest / batchStrides[axis]
                    rest %= batchStrides[axis]
                    aIndex += position * aStrides[axis]
                    bIndex += position * bStrides[axis]
                }
                gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                     a: aStorage, aOffset: aIndex * m * k, lda: lda, b: bStorage, bOffset: bIndex * k * n, ldb: ldb,
                     beta: 0, c: output, cOffset: index * m * n, ldc: n)
            }
        }
        return Tensor(shape: Shape(batch.dimensions + [m, n]), storage: output)
    }

    /// The matrix product over the last two axes, batched over (broadcast) leading axes.
    public func matmul(_ other: Tensor) -> Tensor {
        let a = self, b = other
        let result = Tensor.batchedProduct(a, transposeA: false, b, transposeB: false, op: "matmul")
        return Tensor.record("matmul", result: result, inputs: [a, b]) { grad in
            // dA = dC·Bᵀ, dB = Aᵀ·dC
            var gradients: [Tensor?] = [nil, nil]
            if a.requiresGradient {
                gradients[0] = Tensor.batchedProduct(grad, transposeA: false, b, transposeB: true, op: "matmul backward").summed(toShape: a.shape)
            }
            if b.requiresGradient {
                if b.rank == 2 {
                    // Fold the batch: Aᵀ·dC over all rows at once.
                    let rows = a.elementCount / a.shape[a.rank - 1]
                    let a2 = a.detached().reshaped([rows, a.shape[a.rank - 1]])
                    let g2 = grad.reshaped([rows, grad.shape[grad.rank - 1]])
                    gradients[1] = Tensor.batchedProduct(a2, transposeA: true, g2, transposeB: false, op: "matmul backward")
                } else {
                    gradients[1] = Tensor.batchedProduct(a, transposeA: true, grad, transposeB: false, op: "matmul backward").summed(toShape: b.shape)
                }
            }
            return gradients
        }
    }

    /// self · otherᵀ for a matrix `other` (n, k): what a dense layer computes from its (out, in) weight, without
    /// materialising the transpose on every call.
    public func matmul(transposing other: Tensor) -> Tensor {
        require(other.rank == 2, "matmul(transposing:): the right operand must be a matrix, got \(other.shape)")
        require(rank >= 2, "matmul: needs tensors of rank ≥ 2, got \(shape) and \(other.shape)")
        return Tensor.affine(self, weight: other, bias: nil, op: "matmul")
    }
}

extension Tensor {
    /// A dense layer's affine map in one op: self (…, I) · weightᵀ + bias, for weight (O, I) and bias (O) or nil,
    /// giving (…, O). The bias rows are written into the output first and the product accumulated onto them
    /// (beta = 1), so no second pass over a wide output (a translation model's 5,728 logits per row) adds the bias.
    ///
    ///     Y = X·Wᵀ + 1·bᵀ      dX = dY·W      dW = dYᵀ·X      db = Σ_rows dY
    public func linear(weight: Tensor, bias: Tensor?) -> Tensor {
        require(weight.rank == 2, "linear: the weight must be a matrix (out, in), got \(weight.shape)")
        require(rank >= 1, "linear: the input must have at least one axis, got \(shape)")
        return Tensor.affine(self, weight: weight, bias: bias, op: "linear")
    }

    /// x (…, I) · weightᵀ (+ bias): all leading axes of x folded into the rows of one GEMM. `matmul(transposing:)`
    /// and `linear` are this op; `op` names it in errors and on the tape.
    static func affine(_ x: Tensor, weight: Tensor, bias: Tensor?, op: String) -> Tensor {
        let inputSize = weight.shape[1], outputSize = weight.shape[0]
        require(x.shape[x.rank - 1] == inputSize,
                "\(op): shapes \(x.shape) and \(weight.shape) do not align (inner dimensions \(x.shape[x.rank - 1]) ≠ \(inputSize))")
        if let bias { require(bias.shape == Shape([outputSize]), "\(op): bias has shape \(bias.shape), expected (\(outputSize))") }
        let rows = x.elementCount / inputSize
        let dtype = ([weight.dtype] + (bias.map { [$0.dtype] } ?? [])).reduce(x.dtype, DType.promoted)
        let output = TensorStorage(dtype: dtype, count: rows * outputSize)
        if let bias {
            func fillRows<T: TensorScalar>(_: T.Type) {
                let from = bias.storage.converted(to: dtype).pointer(T.self), to = output.pointer(T.self)
                for row in 0..<rows { (to + row * outputSize).update(from: from, count: outputSize) }
            }
            if dtype == .float32 { fillRows(Float.self) } else { fillRows(Double.self) }
        }
        if rows > 0 {
            gemm(transposeA: false, transposeB: true, m: rows, n: outputSize, k: inputSize,
                 a: x.storage.converted(to: dtype), aOffset: 0, lda: inputSize, b: weight.storage.converted(to: dtype), bOffset: 0, ldb: inputSize,
                 beta: bias == nil ? 0 : 1, c: output, cOffset: 0, ldc: outputSize)
        }
        let result = Tensor(shape: Shape(Array(x.shape.dimensions.dropLast()) + [outputSize]), storage: output)
        return record(op, result: result, inputs: [x, weight] + (bias.map { [$0] } ?? [])) { grad in
            // Rows of every leading axis folded together: dX = dY·W, dW = dYᵀ·X, db = Σ_rows dY.
            let g2 = grad.reshaped([rows, outputSize])
            var gradients: [Tensor?] = [nil, nil, nil]
            if x.requiresGradient {
                gradients[0] = batchedProduct(g2, transposeA: false, weight, transposeB: false, op: "\(op) backward").reshaped(x.shape.dimensions)
            }
            if weight.requiresGradient {
                let x2 = x.detached().reshaped([rows, inputSize])
                gradients[1] = batchedProduct(g2, transposeA: true, x2, transposeB: false, op: "\(op) backward")
            }
            if let bias, bias.requiresGradient { gradients[2] = g2.sum(alongAxis: 0) }
            return bias == nil ? Array(gradients.prefix(2)) : gradients
        }
    }
}
