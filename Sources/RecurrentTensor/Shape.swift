// A tensor's shape: its dimensions, outermost first (row-major).

import RecurrentKernels

/// The dimensions of a tensor, outermost first. `[]` is a scalar.
public struct Shape: Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible, RandomAccessCollection {
    public var dimensions: [Int]

    public init(_ dimensions: [Int]) {
        require(dimensions.allSatisfy { $0 >= 0 }, "Shape: negative dimension in \(dimensions)")
        self.dimensions = dimensions
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    /// Number of dimensions.
    public var rank: Int { dimensions.count }
    /// Number of elements (1 for a scalar).
    public var elementCount: Int { dimensions.reduce(1, *) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { dimensions.count }
    public subscript(position: Int) -> Int {
        get { dimensions[position] }
        set { dimensions[position] = newValue }
    }

    /// "(2, 3)"; a scalar is "()".
    public var description: String { "(" + dimensions.map(String.init).joined(separator: ", ") + ")" }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var strides = [Int](repeating: 1, count: rank)
        var running = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= dimensions[axis]
        }
        return strides
    }

    /// Resolves a possibly negative axis (-1 is the last); nil when out of range.
    public func normalizedAxis(_ axis: Int) -> Int? {
        let resolved = axis < 0 ? axis + rank : axis
        return (0..<rank).contains(resolved) ? resolved : nil
    }

    /// The shape without `axis`.
    func removing(axis: Int) -> Shape {
        var dimensions = self.dimensions
        dimensions.remove(at: axis)
        return Shape(dimensions)
    }

    /// (product of dimensions before `axis`, dimension at `axis`, product after): the view every
    /// along-an-axis kernel works on.
    func split(at axis: Int) -> (outer: Int, size: Int, inner: Int) {
        (dimensions[..<axis].reduce(1, *), dimensions[axis], dimensions[(axis + 1)...].reduce(1, *))
    }

    /// The NumPy broadcast of two shapes (dimensions aligned from the right; 1 stretches), or nil.
    public static func broadcast(_ a: Shape, _ b: Shape) -> Shape? {
        let rank = Swift.max(a.rank, b.rank)
        var result = [Int](repeating: 0, count: rank)
        for offset in 0..<rank {
            let x = offset < a.rank ? a[a.rank - 1 - offset] : 1
            let y = offset < b.rank ? b[b.rank - 1 - offset] : 1
            guard x == y || x == 1 || y == 1 else { return nil }
            result[rank - 1 - offset] = x == 1 ? y : x
        }
        return Shape(result)
    }
}
