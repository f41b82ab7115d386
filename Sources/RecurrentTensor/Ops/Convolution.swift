// 2-D convolution (by im2col and GEMM) and max pooling, NCHW as PyTorch.
//
//   conv:  y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, c, i·s + u − p, j·s + v − p]   (zero outside)
//          per sample: Y_n (O, L) = W (O, C·kh·kw) · cols_n (C·kh·kw, L),  L = Ho·Wo
//          backward:   dW += dY_n · cols_nᵀ,  dcols_n = Wᵀ · dY_n  →  dX_n by col2im (adding overlaps),  db = Σ dY
//   pool:  y[n, c, i, j] = max over the k×k window at (i·s, j·s); the gradient goes to the window's (first) max.

import RecurrentKernels

/// Sizes of one convolution.
struct ConvolutionGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let outputs: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int
    var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    var patch: Int { channels * kernelHeight * kernelWidth }
    var locations: Int { outputHeight * outputWidth }

    /// The output columns j whose input column j·s + v − p lies inside the image, for kernel column v.
    func validColumns(_ v: Int) -> Range<Int> {
        let low = padding - v > 0 ? (padding - v + stride - 1) / stride : 0
        let numerator = width - 1 + padding - v
        let high = numerator >= 0 ? Swift.min(outputWidth, numerator / stride + 1) : 0
        return low..<Swift.max(low, high)
    }

    /// cols (C·kh·kw, L) of sample `x` (C, H, W), row r at `cols + r·rowStride` (a batch lays its samples'
    /// columns side by side: rowStride = N·L, this sample's columns at an offset).
    func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, into cols: UnsafeMutablePointer<T>, rowStride: Int) {
        for c in 0..<channels { for u in 0..<kernelHeight { for v in 0..<kernelWidth {
            let row = cols + ((c * kernelHeight + u) * kernelWidth + v) * rowStride
            let valid = validColumns(v)
            for i in 0..<outputHeight {
                let y = i * stride + u - padding
                let out = row + i * outputWidth
                guard y >= 0 && y < height else { out.update(repeating: 0, count: outputWidth); continue }
                let source = x + (c * height + y) * width + v - padding
                for j in 0..<valid.lowerBound { out[j] = 0 }
                if stride == 1 {
                    (out + valid.lowerBound).update(from: source + valid.lowerBound, count: valid.count)
                } else {
                    for j in valid { out[j] = source[j * stride] }
                }
                for j in valid.upperBound..<outputWidth { out[j] = 0 }
            }
        } } }
    }

    /// dx (C, H, W) += the columns folded back onto the image (rows `rowStride` apart, as `im2col` lays them).
    func col2im<T: TensorScalar>(_ cols: UnsafePointer<T>, into dx: UnsafeMutablePointer<T>, rowStride: Int) {
        for c in 0..<channels { for u in 0..<kernelHeight { for v in 0..<kernelWidth {
            let row = cols + ((c * kernelHeight + u) * kernelWidth + v) * rowStride
            let valid = validColumns(v)
            for i in 0..<outputHeight {
                let y = i * stride + u - padding
                guard y >= 0 && y < height else { continue }
                let target = dx + (c * height + y) * width + v - padding, out = row + i * outputWidth
                for j in valid { target[j * stride] += out[j] }
            }
        } } }
    }
}

extension Tensor {
    /// 2-D convolution of `input` (N, C, H, W) with `weight` (O, C, kh, kw) and optional `bias` (O).
    public static func convolution2D(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) -> Tensor {
        require(input.rank == 4, "conv2d: input must be (batch, channels, height, width), got \(input.shape)")
        require(weight.rank == 4 && weight.shape[1] == input.shape[1], "conv2d: weight \(weight.shape) does not fit input \(input.shape) (channels \(input.shape[1]))")
        require(stride >= 1 && padding >= 0, "conv2d: stride \(stride) must be ≥ 1 and padding \(padding) ≥ 0")
        if let bias { require(bias.shape == [weight.shape[0]], "conv2d: bias has shape \(bias.shape), expected (\(weight.shape[0]))") }
        let geometry = ConvolutionGeometry(
            batch: input.shape[0], channels: input.shape[1], height: input.shape[2], width: input.shape[3],
            outputs: weight.shape[0], kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: stride, padding: padding)
        require(geometry.outputHeight > 0 && geometry.outputWidth > 0, "conv2d: kernel \(weight.shape[2])×\(weight.shape[3]) larger than the padded input \(input.shape)")
        let inputs = [input, weight] + (bias.map { [$0] } ?? [])
        let dtype = inputs.dropFirst().reduce(input.dtype) { DType.promoted($0, $1.dtype) }
        let x = input.storage.converted(to: dtype), w = weight.storage.converted(to: dtype), b = bias?.storage.converted(to: dtype)
        let (n, o, l, k) = (geometry.batch, geometry.outputs, geometry.locations, geometry.patch)
        let sampleSize = geometry.channels * geometry.height * geometry.width
        let columnsCount = n * l
        let parts = splitRanges(count: n, parts: ComputeSettings.threads, granularity: 1)
        // The whole batch is one GEMM: cols (K, N·L) holds every sample's columns side by side, so the
        // multiply is big enough to run near peak even when one sample's is tiny. cols is kept for backward.
        func columns<T: TensorScalar>(_: T.Type) -> TensorStorage {
            let cols = TensorStorage(dtype: dtype, count: Swift.max(1, k * columnsCount))
            let base = UncheckedSendable(cols.pointer(T.self)), source = UncheckedSendable(x.pointer(T.self))
            parallelFor(parts: parts.count) { part in
                for sample in parts[part] { geometry.im2col(source.value + sample * sampleSize, into: base.value + sample * l, rowStride: columnsCount) }
            }
            return cols
        }
        let cols = dtype == .float32 ? columns(Float.self) : columns(Double.self)
        func forward<T: TensorScalar>(_: T.Type) -> Tensor {
            let product = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, o * columnsCount))
            defer { product.deallocate() }
            T.gemm(transposeA: false, transposeB: false, m: o, n: columnsCount, k: k, alpha: 1, a: w.pointer(T.self), lda: k,
                   b: cols.pointer(T.self), ldb: columnsCount, beta: 0, c: product, ldc: columnsCount)
            return Tensor.make([n, o, geometry.outputHeight, geometry.outputWidth], T.self) { y in
                for sample in 0..<n {
                    for channel in 0..<o {
                        let value = b?.pointer(T.self)[channel] ?? 0
                        let target = y + (sample * o + channel) * l, source = product + channel * columnsCount + sample * l
                        for i in 0..<l { target[i] = source[i] + value }
                    }
                }
            }
        }
        let result = dtype == .float32 ? forward(Float.self) : forward(Double.self)
        let needs = inputs.map(\.requiresGradient)
        return record("conv2d", result: result, inputs: inputs) { grad in
            let g = grad.storage.converted(to: dtype)
            func backward<T: TensorScalar>(_: T.Type) -> [Tensor?] {
                // dY as (O, N·L), the layout of the forward product.
                let dy = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, o * columnsCount))
                defer { dy.deallocate() }
                let gradient = g.pointer(T.self)
                for sample in 0..<n {
                    for channel in 0..<o {
                        (dy + channel * columnsCount + sample * l).update(from: gradient + (sample * o + channel) * l, count: l)
                    }
                }
                var dw: Tensor?, db: Tensor?, dx: Tensor?
                if needs[1] {
                    dw = Tensor.make(weight.shape, T.self) { target in
                        T.gemm(transposeA: false, transposeB: true, m: o, n: k, k: columnsCount, alpha: 1, a: dy, lda: columnsCount,
                               b: cols.pointer(T.self), ldb: columnsCount, beta: 0, c: target, ldc: k)
                    }
                }
                if inputs.count == 3 && needs[2] {
                    db = Tensor.make([o], T.self) { target in
                        for channel in 0..<o {
                            var sum: T = 0
                            let row = dy + channel * columnsCount
                            for i in 0..<columnsCount { sum += row[i] }
                            target[channel] = sum
                        }
                    }
                }
                if needs[0] {
                    let dcols = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, k * columnsCount))
                    defer { dcols.deallocate() }
                    T.gemm(transposeA: true, transposeB: false, m: k, n: columnsCount, k: o, alpha: 1, a: w.pointer(T.self), lda: k,
                           b: dy, ldb: columnsCount, beta: 0, c: dcols, ldc: columnsCount)
                    dx = Tensor.make(input.shape, T.self) { target in
                        target.update(repeating: 0, count: n * sampleSize)
                        let base = UncheckedSendable(target), columns = UncheckedSendable(UnsafePointer(dcols))
                        parallelFor(parts: parts.count) { part in
                            for sample in parts[part] {
                                geometry.col2im(columns.value + sample * l, into: base.value + sample * sampleSize, rowStride: columnsCount)
                            }
                        }
                    }
                }
                return [dx, dw] + (inputs.count == 3 ? [db] : [])
            }
            return dtype == .float32 ? backward(Float.self) : backward(Double.self)
        }
    }

    /// Max pooling of (N, C, H, W) over `kernel`×`kernel` windows every `stride` (default: `kernel`).
    public func maxPool2D(kernel: Int, stride: Int? = nil) -> Tensor {
        let stride = stride ?? kernel
        require(rank == 4, "maxPool2d: input must be (batch, channels, height, width), got \(shape)")
        require(kernel >= 1 && stride >= 1 && kernel <= shape[2] && kernel <= shape[3], "maxPool2d: kernel \(kernel) and stride \(stride) do not fit \(shape)")
        let (planes, height, width) = (shape[0] * shape[1], shape[2], shape[3])
        let outputHeight = (height - kernel) / stride + 1, outputWidth = (width - kernel) / stride + 1
        let outputCount = planes * outputHeight * outputWidth
        // Where each output's maximum came from (an index into the input), for backward.
        let positions = TensorStorage(dtype: .float64, count: Swift.max(1, outputCount))
        func forward<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            let chosen = UnsafeMutableRawPointer(positions.pointer(Double.self)).bindMemory(to: Int.self, capacity: outputCount)
            let source = UncheckedSendable(x), indices = UncheckedSendable(chosen)
            let parts = splitRanges(count: planes, parts: outputCount >= 1 << 14 ? ComputeSettings.threads : 1, granularity: 1)
            return Tensor.make([shape[0], shape[1], outputHeight, outputWidth], T.self) { y in
                let target = UncheckedSendable(y)
                parallelFor(parts: parts.count) { part in
                    let x = source.value, y = target.value, chosen = indices.value
                    for plane in parts[part] {
                        for i in 0..<outputHeight {
                            let rowStart = plane * height * width + i * stride * width
                            let out = (plane * outputHeight + i) * outputWidth
                            for j in 0..<outputWidth {
                                let corner = rowStart + j * stride
                                var best = x[corner], bestIndex = corner
                                // Selects rather than branches: which element wins is data, and a mispredicted
                                // branch per element cost more than the whole comparison.
                                if kernel == 2 {
                                    let right = x[corner + 1], below = x[corner + width], diagonal = x[corner + width + 1]
                                    var better = right > best
                                    best = better ? right : best
                                    bestIndex = better ? corner + 1 : bestIndex
                                    better = below > best
                                    best = better ? below : best
                                    bestIndex = better ? corner + width : bestIndex
                                    better = diagonal > best
                                    best = better ? diagonal : best
                                    bestIndex = better ? corner + width + 1 : bestIndex
                                } else {
                                    for u in 0..<kernel {
                                        let line = corner + u * width
                                        for v in 0..<kernel {
                                            let value = x[line + v], better = value > best
                                            best = better ? value : best
                                            bestIndex = better ? line + v : bestIndex
                                        }
                                    }
                                }
                                y[out + j] = best
                                chosen[out + j] = bestIndex
                            }
                        }
                    }
                }
            }
        }
        let result = dtype == .float32 ? forward(Float.self) : forward(Double.self)
        let inputShape = shape, inputType = dtype
        return Tensor.record("maxPool2d", result: result, inputs: [self]) { grad in
            func backward<T: TensorScalar>(_: T.Type) -> Tensor {
                let g = grad.storage.converted(to: inputType).pointer(T.self)
                let chosen = UnsafeMutableRawPointer(positions.pointer(Double.self)).bindMemory(to: Int.self, capacity: outputCount)
                return Tensor.make(inputShape, T.self) { d in
                    d.update(repeating: 0, count: inputShape.elementCount)
                    for out in 0..<outputCount { d[chosen[out]] += g[out] }
                }
            }
            return [inputType == .float32 ? backward(Float.self) : backward(Double.self)]
        }
    }
}
