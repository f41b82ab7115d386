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

    /// cols (C·kh·kw, L) of sample `x` (C, H, W).
    func im2col<T: TensorScalar>(_ x: UnsafePointer<T>, into cols: UnsafeMutablePointer<T>) {
        for c in 0..<channels { for u in 0..<kernelHeight { for v in 0..<kernelWidth {
            let row = cols + ((c * kernelHeight + u) * kernelWidth + v) * locations
            for i in 0..<outputHeight {
                let y = i * stride + u - padding
                for j in 0..<outputWidth {
                    let xx = j * stride + v - padding
                    row[i * outputWidth + j] = (0..<height).contains(y) && (0..<width).contains(xx) ? x[(c * height + y) * width + xx] : 0
                }
            }
        } } }
    }

    /// dx (C, H, W) += the columns folded back onto the image.
    func col2im<T: TensorScalar>(_ cols: UnsafePointer<T>, into dx: UnsafeMutablePointer<T>) {
        for c in 0..<channels { for u in 0..<kernelHeight { for v in 0..<kernelWidth {
            let row = cols + ((c * kernelHeight + u) * kernelWidth + v) * locations
            for i in 0..<outputHeight {
                let y = i * stride + u - padding
                guard (0..<height).contains(y) else { continue }
                for j in 0..<outputWidth {
                    let xx = j * stride + v - padding
                    if (0..<width).contains(xx) { dx[(c * height + y) * width + xx] += row[i * outputWidth + j] }
                }
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
        func forward<T: TensorScalar>(_: T.Type) -> Tensor {
            let cols = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, k * l))
            defer { cols.deallocate() }
            return Tensor.make([n, o, geometry.outputHeight, geometry.outputWidth], T.self) { y in
                for sample in 0..<n {
                    geometry.im2col(x.pointer(T.self) + sample * sampleSize, into: cols)
                    T.gemm(transposeA: false, transposeB: false, m: o, n: l, k: k, alpha: 1, a: w.pointer(T.self), lda: k,
                           b: cols, ldb: l, beta: 0, c: y + sample * o * l, ldc: l)
                    if let b { for channel in 0..<o { let row = y + (sample * o + channel) * l; let value = b.pointer(T.self)[channel]; for i in 0..<l { row[i] += value } } }
                }
            }
        }
        let result = dtype == .float32 ? forward(Float.self) : forward(Double.self)
        let needs = inputs.map(\.requiresGradient)
        return record("conv2d", result: result, inputs: inputs) { grad in
            let g = grad.storage.converted(to: dtype)
            func backward<T: TensorScalar>(_: T.Type) -> [Tensor?] {
                var dx = Tensor.zeros(input.shape, dtype: dtype), dw = Tensor.zeros(weight.shape, dtype: dtype)
                var db = Tensor.zeros([o], dtype: dtype)
                let cols = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(1, k * l))
                defer { cols.deallocate() }
                for sample in 0..<n {
                    let dy = g.pointer(T.self) + sample * o * l
                    if needs[1] {
                        geometry.im2col(x.pointer(T.self) + sample * sampleSize, into: cols)
                        dw.withUnsafeMutableBuffer(as: T.self) { target in
                            T.gemm(transposeA: false, transposeB: true, m: o, n: k, k: l, alpha: 1, a: dy, lda: l, b: cols, ldb: l, beta: 1, c: target.baseAddress!, ldc: k)
                        }
                    }
                    if needs[0] {
                        T.gemm(transposeA: true, transposeB: false, m: k, n: l, k: o, alpha: 1, a: w.pointer(T.self), lda: k, b: dy, ldb: l, beta: 0, c: cols, ldc: l)
                        dx.withUnsafeMutableBuffer(as: T.self) { target in geometry.col2im(cols, into: target.baseAddress! + sample * sampleSize) }
                    }
                    if inputs.count == 3 && needs[2] {
                        db.withUnsafeMutableBuffer(as: T.self) { target in
                            for channel in 0..<o { for i in 0..<l { target[channel] += dy[channel * l + i] } }
                        }
                    }
                }
                return [needs[0] ? dx : nil, needs[1] ? dw : nil] + (inputs.count == 3 ? [needs[2] ? db : nil] : [])
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
        var positions = [Int](repeating: 0, count: planes * outputHeight * outputWidth)
        func forward<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make([shape[0], shape[1], outputHeight, outputWidth], T.self) { y in
                for plane in 0..<planes { for i in 0..<outputHeight { for j in 0..<outputWidth {
                    var best = -T.infinity, bestIndex = plane * height * width + i * stride * width + j * stride
                    for u in 0..<kernel { for v in 0..<kernel {
                        let index = plane * height * width + (i * stride + u) * width + j * stride + v
                        if x[index] > best || x[index].isNaN { best = x[index]; bestIndex = index }
                    } }
                    let out = (plane * outputHeight + i) * outputWidth + j
                    y[out] = x[bestIndex]
                    positions[out] = bestIndex
                } } }
            }
        }
        let result = dtype == .float32 ? forward(Float.self) : forward(Double.self)
        let inputShape = shape, inputType = dtype
        return Tensor.record("maxPool2d", result: result, inputs: [self]) { grad in
            func backward<T: TensorScalar>(_: T.Type) -> Tensor {
                let g = grad.storage.pointer(T.self)
                var dx = Tensor.zeros(inputShape, dtype: inputType)
                dx.withUnsafeMutableBuffer(as: T.self) { d in for (out, index) in positions.enumerated() { d[index] += g[out] } }
                return dx
            }
            return [inputType == .float32 ? backward(Float.self) : backward(Double.self)]
        }
    }
}
