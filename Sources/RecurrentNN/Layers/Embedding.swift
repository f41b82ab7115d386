// Word embeddings: a table of vectors looked up by index.

import RecurrentKernels
import RecurrentTensor

/// A lookup table: index i → row i of `weight`.
///
///     y[b, t] = W[indices[b, t]]
///
/// Shapes: indices of any shape S (given as a flat array and its shape) → (S…, D).
/// Parameters: `weight` (V, D), initialized N(0, 1) as PyTorch's nn.Embedding.
/// `paddingIndex`: that row starts at zero and never receives a gradient (padded positions leave it alone).
/// `isFrozen`: no row receives a gradient (pretrained vectors kept fixed).
public final class Embedding: Layer {
    public let vocabularySize: Int
    public let dimension: Int
    public let paddingIndex: Int?
    public var isFrozen: Bool
    public var weight: Tensor

    public init(vocabularySize: Int, dimension: Int, paddingIndex: Int? = nil, frozen: Bool = false, seed: UInt64 = 0, dtype: DType = .float32) {
        require(vocabularySize > 0 && dimension > 0, "Embedding: sizes must be positive, got \(vocabularySize)×\(dimension)")
        if let paddingIndex { require((0..<vocabularySize).contains(paddingIndex), "Embedding: padding index \(paddingIndex) outside 0..<\(vocabularySize)") }
        self.vocabularySize = vocabularySize
        self.dimension = dimension
        self.paddingIndex = paddingIndex
        isFrozen = frozen
        var generator = SeededGenerator(seed: seed)
        var table = Tensor.normal([vocabularySize, dimension], dtype: dtype, using: &generator)
        if let paddingIndex {
            table = Self.zeroingRow(table, paddingIndex)
        }
        weight = table.requiringGradient()
    }

    private static func zeroingRow(_ table: Tensor, _ row: Int) -> Tensor {
        var values = table.doubles
        for j in 0..<table.shape[1] { values[row * table.shape[1] + j] = 0 }
        return Tensor(shape: table.shape, doubles: values, dtype: table.dtype)
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        visit("weight", &weight)
    }

    /// Looks up `indices` (row-major over `shape`, or a flat list), giving (shape…, D).
    public func callAsFunction(_ indices: [Int], shape: Shape? = nil) -> Tensor {
        for (position, index) in indices.enumerated() where !(0..<vocabularySize).contains(index) {
            fatalError("Embedding: index \(index) at position \(position) is outside the vocabulary 0..<\(vocabularySize)")
        }
        let indexShape = shape ?? Shape([indices.count])
        if isFrozen { return weight.detached().indexSelect(indices, alongAxis: 0, indexShape: indexShape) }
        let rows = weight.indexSelect(indices, alongAxis: 0, indexShape: indexShape)
        guard let paddingIndex, indices.contains(paddingIndex) else { return rows }
        // The same values, but no gradient reaches the padding row: looked-up rows · m + stop(rows) · (1 − m),
        // m = 0 where the index is padding. Masking the looked-up rows, not the table, keeps this O(N·D).
        let mask = Tensor(shape: Shape(indexShape.dimensions + [1]), doubles: indices.map { $0 == paddingIndex ? 0 : 1 }, dtype: weight.dtype)
        return rows * mask + rows.detached() * (1 - mask)
    }
}
