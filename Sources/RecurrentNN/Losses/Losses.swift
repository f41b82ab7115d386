// Losses, each computed in the numerically stable form.

import RecurrentKernels
import RecurrentTensor

public enum Loss {
    /// Softmax cross-entropy over class indices, averaged over the counted rows.
    ///
    ///     L = mean over rows r with targets[r] ≠ ignoreIndex of  −Σ_c q_rc · log softmax(z_r)_c
    ///     q = (1 − ε)·onehot(target) + ε / C        (ε = labelSmoothing; ε = 0 gives −log p_target)
    ///
    /// logits (N, C) or (…, C), targets one per row. log-softmax subtracts the row maximum, so logits of ±1e4
    /// are fine. Rows whose target is `ignoreIndex` (padding) count for nothing, in value or gradient.
    public static func crossEntropy(logits: Tensor, targets: [Int], ignoreIndex: Int? = nil, labelSmoothing: Double = 0) -> Tensor {
        require(logits.rank >= 1, "crossEntropy: logits must have a class axis, got shape \(logits.shape)")
        require((0..<1).contains(labelSmoothing), "crossEntropy: label smoothing \(labelSmoothing) outside [0, 1)")
        let classes = logits.shape[logits.rank - 1]
        let rows = logits.elementCount / Swift.max(1, classes)
        require(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows of logits \(logits.shape)")
        for (row, target) in targets.enumerated() where target != ignoreIndex {
            require((0..<classes).contains(target), "crossEntropy: target \(target) of row \(row) outside 0..<\(classes)")
        }
        // One fused op (Tensor.softmaxCrossEntropy): log-softmax, pick and mean without (N, C) intermediates.
        return logits.reshaped([rows, classes]).softmaxCrossEntropy(targets: targets, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing)
    }

    /// Binary cross-entropy on logits, averaged: max(z, 0) − z·y + log(1 + e^−|z|), which never takes the log
    /// of 0 nor overflows.
    public static func binaryCrossEntropy(logits: Tensor, targets: Tensor) -> Tensor {
        require(logits.shape == targets.shape, "binaryCrossEntropy: logits \(logits.shape) and targets \(targets.shape) differ")
        let count = Double(Swift.max(1, logits.elementCount))
        return Tensor.custom("binaryCrossEntropy", inputs: [logits], forward: { p in
            let z = p[0]
            return (z.relu() - z * targets + (1 + (-z.abs()).exp()).log()).mean()
        }, backward: { grad, p in
            // dL/dz = (σ(z) − y) / N, exact everywhere (the max/abs form has kinks at z = 0).
            [grad * (p[0].sigmoid() - targets) / count]
        })
    }

    /// Mean squared error.
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        require(prediction.shape == target.shape, "meanSquaredError: prediction \(prediction.shape) and target \(target.shape) differ")
        return (prediction - target).squared().mean()
    }
}
