// Splitting and batching examples: a stratified validation split, and batches of similar lengths.

import RecurrentKernels
import RecurrentTensor

public enum Batching {
    /// Indices split into training and validation, `validationFraction` of each class held out (rounded
    /// down), both shuffled by `seed`. Every class keeps its share, so a rare class is not lost to chance.
    public static func stratifiedSplit(labels: [Int], validationFraction: Double, seed: UInt64) -> (training: [Int], validation: [Int]) {
        require((0..<1).contains(validationFraction), "stratifiedSplit: fraction \(validationFraction) outside [0, 1)")
        var generator = SeededGenerator(seed: seed)
        var training: [Int] = [], validation: [Int] = []
        for label in Set(labels).sorted() {
            var members = labels.indices.filter { labels[$0] == label }
            members.shuffle(using: &generator)
            let held = Int(Double(members.count) * validationFraction)
            validation += members[..<held]
            training += members[held...]
        }
        training.shuffle(using: &generator)
        validation.shuffle(using: &generator)
        return (training, validation)
    }

    /// Batches of positions 0..<count in shuffled order.
    public static func shuffledBatches(count: Int, batchSize: Int, using generator: inout SeededGenerator) -> [[Int]] {
        var order = Array(0..<count)
        order.shuffle(using: &generator)
        return stride(from: 0, to: count, by: batchSize).map { Array(order[$0..<Swift.min(count, $0 + batchSize)]) }
    }

    /// Batches whose sequences have similar lengths, so little of each padded batch is padding: shuffle, cut
    /// into pools of `poolBatches` batches, sort each pool by length, cut into batches, shuffle the batches.
    public static func bucketedBatches(lengths: [Int], batchSize: Int, poolBatches: Int = 50, using generator: inout SeededGenerator) -> [[Int]] {
        require(batchSize >= 1 && poolBatches >= 1, "bucketedBatches: batch size \(batchSize) and pool \(poolBatches) must be ≥ 1")
        var order = Array(lengths.indices)
        order.shuffle(using: &generator)
        var batches: [[Int]] = []
        for poolStart in stride(from: 0, to: order.count, by: batchSize * poolBatches) {
            let pool = order[poolStart..<Swift.min(order.count, poolStart + batchSize * poolBatches)].sorted { lengths[$0] < lengths[$1] }
            for start in stride(from: 0, to: pool.count, by: batchSize) {
                batches.append(Array(pool[(pool.startIndex + start)..<Swift.min(pool.endIndex, pool.startIndex + start + batchSize)]))
            }
        }
        batches.shuffle(using: &generator)
        return batches
    }
}
