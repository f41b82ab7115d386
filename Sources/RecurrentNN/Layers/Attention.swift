// Attention for encoder–decoder models: how a decoder step reads the encoder's states.

import RecurrentKernels
import RecurrentTensor

/// Scores each source position against a query, softmaxes the scores over the valid positions and returns the
/// weighted sum of the values, with the weights (for plotting).
///
///     dot (Luong):       score(q, k_s) = q · k_s                           (query and keys of one size)
///     general (Luong):   score(q, k_s) = q · (W k_s)                       W (Hq, Hk)
///     additive (Bahdanau): score(q, k_s) = v · tanh(W_q q + W_k k_s)       W_q (A, Hq), W_k (A, Hk), v (A)
///     α = softmax_s(score),  context = Σ_s α_s · value_s
///
/// Shapes: query (B, Hq); keys (B, S, Hk); values (B, S, Hv), the keys by default; `lengths` marks each
/// sample's valid source positions — padded ones get weight 0 (exactly, in Float32) and no gradient.
/// Output: context (B, Hv) and weights (B, S).
/// Parameters: `weight` (general); `query_weight`, `key_weight`, `score_weight` (additive). Initialization:
/// uniform in ±1/√(fan in), as PyTorch's nn.Linear.
public final class Attention: Layer {
    public enum Scoring: String, Sendable, CaseIterable { case dot, general, additive }

    public let scoring: Scoring
    public let querySize: Int, keySize: Int, attentionSize: Int
    public var weight: Tensor?
    public var queryWeight: Tensor?, keyWeight: Tensor?, scoreWeight: Tensor?

    public init(_ scoring: Scoring, querySize: Int, keySize: Int, attentionSize: Int? = nil, seed: UInt64 = 0, dtype: DType = .float32) {
        require(scoring != .dot || querySize == keySize, "Attention (dot): query size \(querySize) must equal key size \(keySize)")
        self.scoring = scoring
        self.querySize = querySize
        self.keySize = keySize
        self.attentionSize = attentionSize ?? querySize
        var generator = SeededGenerator(seed: seed)
        func uniform(_ shape: Shape, fanIn: Int) -> Tensor {
            let bound = 1 / Double(fanIn).squareRoot()
            return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, using: &generator).requiringGradient()
        }
        switch scoring {
        case .dot: break
        case .general: weight = uniform([querySize, keySize], fanIn: keySize)
        case .additive:
            queryWeight = uniform([self.attentionSize, querySize], fanIn: querySize)
            keyWeight = uniform([self.attentionSize, keySize], fanIn: keySize)
            scoreWeight = uniform([self.attentionSize], fanIn: self.attentionSize)
        }
    }

    public func visitParameters(_ visit: (String, inout Tensor) -> Void) {
        if weight != nil { visit("weight", &weight!) }
        if queryWeight != nil { visit("query_weight", &queryWeight!) }
        if keyWeight != nil { visit("key_weight", &keyWeight!) }
        if scoreWeight != nil { visit("score_weight", &scoreWeight!) }
    }

    public func callAsFunction(query: Tensor, keys: Tensor, values: Tensor? = nil, lengths: [Int]? = nil) -> (context: Tensor, weights: Tensor) {
        let values = values ?? keys
        require(query.rank == 2 && query.shape[1] == querySize, "Attention: query has shape \(query.shape), expected (batch, \(querySize))")
        let batch = query.shape[0]
        require(keys.rank == 3 && keys.shape[0] == batch && keys.shape[2] == keySize, "Attention: keys have shape \(keys.shape), expected (\(batch), steps, \(keySize))")
        let steps = keys.shape[1]
        require(values.rank == 3 && values.shape[0] == batch && values.shape[1] == steps, "Attention: values have shape \(values.shape), expected (\(batch), \(steps), features)")
        var scores: Tensor   // (B, S)
        switch scoring {
        case .dot:
            scores = keys.matmul(query.expandingDimension(at: 2)).squeezingDimension(at: 2)
        case .general:
            scores = keys.matmul(transposing: weight!).matmul(query.expandingDimension(at: 2)).squeezingDimension(at: 2)
        case .additive:
            let projected = keys.matmul(transposing: keyWeight!) + query.matmul(transposing: queryWeight!).expandingDimension(at: 1)
            scores = projected.tanh().matmul(scoreWeight!.expandingDimension(at: 1)).squeezingDimension(at: 2)
        }
        if let lengths {
            require(lengths.count == batch && lengths.allSatisfy { (1...steps).contains($0) }, "Attention: lengths \(lengths) must give 1…\(steps) valid positions for each of \(batch) samples")
            // −1e9 rather than −∞: a finite mask keeps softmax's arithmetic NaN-free, and e^(−1e9) is 0 anyway.
            let mask = (0..<batch).flatMap { b in (0..<steps).map { $0 < lengths[b] ? 0.0 : -1e9 } }
            scores = scores + Tensor(shape: [batch, steps], doubles: mask, dtype: scores.dtype)
        }
        let weights = scores.softmax(alongAxis: 1)
        let context = weights.expandingDimension(at: 1).matmul(values).squeezingDimension(at: 1)
        return (context, weights)
    }
}
