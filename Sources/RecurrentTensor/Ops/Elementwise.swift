// Elementwise ops: unary math (activations included) and broadcasting binary arithmetic.
//
// Each unary op is a small type holding its value and its derivative side by side; each binary op's backward
// sums the gradient over the dimensions its input was broadcast along (`summed(toShape:)`).

import RecurrentKernels

// MARK: - Unary

/// An elementwise function f with its derivative, written in terms of the input x and the output y = f(x).
protocol ElementwiseFunction {
    static var name: String { get }
    static func value<T: TensorScalar>(_ x: T) -> T
    static func derivative<T: TensorScalar>(x: T, y: T) -> T
    /// y = f(x) over `count` elements; the kernels' vectorised form where there is one.
    static func values<T: TensorScalar>(_ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, count: Int)
}

extension ElementwiseFunction {
    static func values<T: TensorScalar>(_ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, count: Int) {
        for i in 0..<count { y[i] = value(x[i]) }
    }
}

/// σ(x) = 1 / (1 + e^-x), computed without overflow for either sign; σ' = y(1 − y).
enum SigmoidFunction: ElementwiseFunction {
    static let name = "sigmoid"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { T.sigmoid(x) }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { y * (1 - y) }
    static func values<T: TensorScalar>(_ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, count: Int) {
        y.update(from: x, count: count)
        T.sigmoid(inPlace: y, count: count)
    }
}

/// tanh; tanh' = 1 − y².
enum TanhFunction: ElementwiseFunction {
    static let name = "tanh"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { T.tanh(x) }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { 1 - y * y }
    static func values<T: TensorScalar>(_ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, count: Int) {
        T.tanh(x, into: y, count: count)
    }
}

/// max(0, x); the derivative is 1 for x > 0 and 0 otherwise (0 at the kink, as PyTorch). NaN stays NaN, so a
/// non-finite value is never hidden from the checks downstream.
enum ReLUFunction: ElementwiseFunction {
    static let name = "relu"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { x > 0 || x.isNaN ? x : 0 }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { x > 0 ? 1 : 0 }
}

/// eˣ; its own derivative.
enum ExpFunction: ElementwiseFunction {
    static let name = "exp"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { T.exp(x) }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { y }
}

/// ln x; derivative 1/x.
enum LogFunction: ElementwiseFunction {
    static let name = "log"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { T.log(x) }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { 1 / x }
}

/// √x; derivative 1/(2√x).
enum SqrtFunction: ElementwiseFunction {
    static let name = "sqrt"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { T.sqrt(x) }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { 1 / (2 * y) }
}

/// x²; derivative 2x.
enum SquareFunction: ElementwiseFunction {
    static let name = "square"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { x * x }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { 2 * x }
}

/// |x|; derivative sign(x) (0 at 0).
enum AbsFunction: ElementwiseFunction {
    static let name = "abs"
    @inline(__always) static func value<T: TensorScalar>(_ x: T) -> T { Swift.abs(x) }
    @inline(__always) static func derivative<T: TensorScalar>(x: T, y: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}

extension Tensor {
    func applying<F: ElementwiseFunction>(_: F.Type) -> Tensor {
        func forward<T: TensorScalar>(_: T.Type) -> Tensor {
            let x = storage.pointer(T.self)
            return Tensor.make(shape, T.self) { y in F.values(x, into: y, count: elementCount) }
        }
        let result = dtype == .float32 ? forward(Float.self) : forward(Double.self)
        let input = self
        return Tensor.record(F.name, result: result, inputs: [self]) { grad in
            // dL/dx = dL/dy · f'(x, y)
            func backward<T: TensorScalar>(_: T.Type) -> Tensor {
                let g = grad.storage.pointer(T.self), x = input.storage.pointer(T.self), y = result.storage.pointer(T.self)
                return Tensor.make(input.shape, T.self) { dx in
                    for i in 0..<input.elementCount { dx[i] = g[i] * F.derivative(x: x[i], y: y[i]) }
                }
            }
            return [input.dtype == .float32 ? backward(Float.self) : backward(Double.self)]
        }
    }

    /// Logistic sigmoid σ(x) = 1 / (1 + e^-x), elementwise; stable for large |x|.
    public func sigmoid() -> Tensor { applying(SigmoidFunction.self) }
    /// Hyperbolic tangent, elementwise.
    public func tanh() -> Tensor { applying(TanhFunction.self) }
    /// max(0, x), elementwise.
    public func relu() -> Tensor { applying(ReLUFunction.self) }
    /// eˣ, elementwise.
    public func exp() -> Tensor { applying(ExpFunction.self) }
    /// Natural logarithm, elementwise.
    public func log() -> Tensor { applying(LogFunction.self) }
    /// Square root, elementwise.
    public func sqrt() -> Tensor { applying(SqrtFunction.self) }
    /// x², elementwise.
    public func squared() -> Tensor { applying(SquareFunction.self) }
    /// |x|, elementwise.
    public func abs() -> Tensor { applying(AbsFunction.self) }
}

// MARK: - Binary with broadcasting

/// An elementwise function of two arguments.
protocol BinaryFunction {
    static func value<T: TensorScalar>(_ a: T, _ b: T) -> T
}
enum AddFunction: BinaryFunction { @inline(__always) static func value<T: TensorScalar>(_ a: T, _ b: T) -> T { a + b } }
enum SubtractFunction: BinaryFunction { @inline(__always) static func value<T: TensorScalar>(_ a: T, _ b: T) -> T { a - b } }
enum MultiplyFunction: BinaryFunction { @inline(__always) static func value<T: TensorScalar>(_ a: T, _ b: T) -> T { a * b } }
enum DivideFunction: BinaryFunction { @inline(__always) static func value<T: TensorScalar>(_ a: T, _ b: T) -> T { a / b } }

extension Tensor {
    /// Applies `F` elementwise over the broadcast of `a` and `b` (NumPy rules), in the wider dtype. Not recorded.
    static func broadcasting<F: BinaryFunction>(_ op: String, _ a: Tensor, _ b: Tensor, _: F.Type) -> Tensor {
        guard let outputShape = Shape.broadcast(a.shape, b.shape) else {
            fatalError("\(op): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let dtype = DType.promoted(a.dtype, b.dtype)
        let aStorage = a.storage.converted(to: dtype), bStorage = b.storage.converted(to: dtype)
        func kernel<T: TensorScalar>(_: T.Type) -> Tensor {
            let pa = aStorage.pointer(T.self), pb = bStorage.pointer(T.self)
            let count = outputShape.elementCount
            return Tensor.make(outputShape, T.self) { y in
                guard count > 0 else { return }
                let rank = outputShape.rank, inner = rank == 0 ? 1 : outputShape[rank - 1], rows = count / inner
                let aStrides = broadcastStrides(a.shape, rank: rank), bStrides = broadcastStrides(b.shape, rank: rank)
                let aStep = rank == 0 ? 0 : aStrides[rank - 1], bStep = rank == 0 ? 0 : bStrides[rank - 1]
                let same = a.shape == b.shape
                // Large outputs split by rows over the cores; every row is written by one part.
                let ranges = splitRanges(count: rows, parts: count >= 1 << 16 ? ComputeSettings.threads : 1, granularity: 1)
                let pointers = UncheckedSendable((pa, pb, y))
                parallelFor(parts: ranges.count) { part in
                    let (pa, pb, y) = pointers.value
                    let range = ranges[part]
                    if same {
                        for i in (range.lowerBound * inner)..<(range.upperBound * inner) { y[i] = F.value(pa[i], pb[i]) }
                        return
                    }
                    // Offsets of the part's first row; then walk the output row by row (a broadcast axis has stride 0).
                    var index = [Int](repeating: 0, count: Swift.max(rank, 1))
                    var aOffset = 0, bOffset = 0, remainder = range.lowerBound
                    for axis in stride(from: rank - 2, through: 0, by: -1) {
                        index[axis] = remainder % outputShape[axis]
                        remainder /= outputShape[axis]
                        aOffset += index[axis] * aStrides[axis]
                        bOffset += index[axis] * bStrides[axis]
                    }
                    for row in range {
                        let yRow = y + row * inner, aRow = pa + aOffset, bRow = pb + bOffset
                        // The common steps written out so the loops vectorise (bias rows, scalars).
                        switch (aStep, bStep) {
                        case (1, 1): for j in 0..<inner { yRow[j] = F.value(aRow[j], bRow[j]) }
                        case (1, 0): let value = bRow[0]; for j in 0..<inner { yRow[j] = F.value(aRow[j], value) }
                        case (0, 1): let value = aRow[0]; for j in 0..<inner { yRow[j] = F.value(value, bRow[j]) }
                        default: for j in 0..<inner { yRow[j] = F.value(aRow[j * aStep], bRow[j * bStep]) }
                        }
                        var axis = rank - 2
                        while axis >= 0 {
                            index[axis] += 1
                            aOffset += aStrides[axis]
                            bOffset += bStrides[axis]
                            if index[axis] < outputShape[axis] { break }
                            aOffset -= aStrides[axis] * outputShape[axis]
                            bOffset -= bStrides[axis] * outputShape[axis]
                            index[axis] = 0
                            axis -= 1
                        }
                    }
                }
            }
        }
        return dtype == .float32 ? kernel(Float.self) : kernel(Double.self)
    }

    /// Strides of `shape` aligned right to `rank` axes, 0 along axes where it is broadcast.
    static func broadcastStrides(_ shape: Shape, rank: Int) -> [Int] {
        let strides = shape.strides
        return (0..<rank).map { axis in
            let own = axis - (rank - shape.rank)
            return own < 0 || shape[own] == 1 ? 0 : strides[own]
        }
    }

    /// The sum of this tensor over the axes along which `target` was broadcast to make it: how a broadcast
    /// input receives its gradient.
    public func summed(toShape target: Shape) -> Tensor {
        if shape == target { return self }
        require(Shape.broadcast(target, shape) == shape, "summed(toShape:): \(target) does not broadcast to \(shape)")
        var result = self
        // Leading axes that `target` lacks, then axes where it has size 1.
        let extra = rank - target.rank
        for _ in 0..<extra { result = result.sum(alongAxis: 0) }
        for axis in 0..<target.rank where target[axis] == 1 && result.shape[axis] != 1 {
            result = result.sum(alongAxis: axis, keepingDimension: true)
        }
        return result.reshaped(target.dimensions)
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcasting("add", a, b, AddFunction.self)
        return record("add", result: result, inputs: [a, b]) { grad in
            // d(a + b) = da + db
            [a.requiresGradient ? grad.summed(toShape: a.shape) : nil,
             b.requiresGradient ? grad.summed(toShape: b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcasting("subtract", a, b, SubtractFunction.self)
        return record("subtract", result: result, inputs: [a, b]) { grad in
            // d(a − b) = da − db
            [a.requiresGradient ? grad.summed(toShape: a.shape) : nil,
             b.requiresGradient ? (-grad).summed(toShape: b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcasting("multiply", a, b, MultiplyFunction.self)
        return record("multiply", result: result, inputs: [a, b]) { grad in
            // d(a·b) = b·da + a·db
            [a.requiresGradient ? (grad * b.detached()).summed(toShape: a.shape) : nil,
             b.requiresGradient ? (grad * a.detached()).summed(toShape: b.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let result = broadcasting("divide", a, b, DivideFunction.self)
        return record("divide", result: result, inputs: [a, b]) { grad in
            // d(a/b) = da/b − a·db/b²
            [a.requiresGradient ? (grad / b.detached()).summed(toShape: a.shape) : nil,
             b.requiresGradient ? (-(grad * result.detached()) / b.detached()).summed(toShape: b.shape) : nil]
        }
    }

    public static prefix func - (a: Tensor) -> Tensor {
        let result = broadcasting("negate", Tensor(-1, dtype: a.dtype), a, MultiplyFunction.self)
        return record("negate", result: result, inputs: [a]) { grad in [-grad] }
    }

    // Scalars broadcast as constants of the tensor's dtype.
    public static func + (a: Tensor, b: Double) -> Tensor { a + Tensor.full([], b, dtype: a.dtype) }
    public static func + (a: Double, b: Tensor) -> Tensor { Tensor.full([], a, dtype: b.dtype) + b }
    public static func - (a: Tensor, b: Double) -> Tensor { a - Tensor.full([], b, dtype: a.dtype) }
    public static func - (a: Double, b: Tensor) -> Tensor { Tensor.full([], a, dtype: b.dtype) - b }
    public static func * (a: Tensor, b: Double) -> Tensor { a * Tensor.full([], b, dtype: a.dtype) }
    public static func * (a: Double, b: Tensor) -> Tensor { Tensor.full([], a, dtype: b.dtype) * b }
    public static func / (a: Tensor, b: Double) -> Tensor { a / Tensor.full([], b, dtype: a.dtype) }
    public static func / (a: Double, b: Tensor) -> Tensor { Tensor.full([], a, dtype: b.dtype) / b }

    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
}
