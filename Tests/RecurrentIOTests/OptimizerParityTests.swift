import Testing
import Foundation
import RecurrentIO
import RecurrentNN
import RecurrentTraining
import RecurrentTensor

/// One parameter, so an optimizer's trajectory can be compared with PyTorch's element for element.
final class SingleParameter: Layer {
    var value: Tensor
    init(_ value: Tensor) { self.value = value.requiringGradient() }
    func visitParameters(_ visit: (String, inout Tensor) -> Void) { visit("p", &value) }
}

@Suite struct OptimizerParityTests {
    static let configurations: [(String, @Sendable () -> Optimizer)] = [
        ("sgd", { SGD(learningRate: 0.1) }),
        ("sgd_momentum", { SGD(learningRate: 0.1, momentum: 0.9) }),
        ("sgd_nesterov_decay", { SGD(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01) }),
        ("adam", { Adam(learningRate: 0.01) }),
        ("adam_decay", { Adam(learningRate: 0.01, weightDecay: 0.1) }),
        ("adamw", { Adam.adamW(learningRate: 0.01, weightDecay: 0.1) }),
        ("rmsprop", { RMSprop(learningRate: 0.01) }),
        ("rmsprop_momentum", { RMSprop(learningRate: 0.01, momentum: 0.9) }),
        ("adagrad", { Adagrad(learningRate: 0.1) }),
    ]

    @Test(arguments: configurations.map(\.0))
    func matchesPyTorchStepByStep(name: String) throws {
        let file = try SafeTensorsFile.read(contentsOf: fixtureDirectory.deletingLastPathComponent().appendingPathComponent("optimizers.safetensors").path)
        let optimizer = Self.configurations.first { $0.0 == name }!.1()
        let layer = SingleParameter(try file.tensor("initial"))
        for step in 0..<5 {
            let gradient = try file.tensor("grad.\(step)")
            layer.zeroGradients()
            (layer.value * gradient).sum().backward()   // ∂/∂p = gradient exactly
            optimizer.step(layer)
            let expected = try file.tensor("\(name).step\(step)")
            #expect(worstRelativeError(layer.value, expected) < 1e-12, "\(name) after step \(step)")
        }
    }

    @Test func clippingByGlobalNormMatchesTheDefinition() {
        let layer = SingleParameter(Tensor(shape: [2], doubles: [0, 0]))
        (layer.value * Tensor(shape: [2], doubles: [3, 4])).sum().backward()
        let norm = GradientClipping.clipByGlobalNorm(layer, maxNorm: 1)
        #expect(norm == 5)
        #expect(worstRelativeError(layer.value.grad!, Tensor(shape: [2], doubles: [0.6, 0.8])) < 1e-6)
        GradientClipping.clipByValue(layer, limit: 0.7)
        #expect(layer.value.grad!.doubles.map { ($0 * 1e6).rounded() / 1e6 } == [0.6, 0.7])
    }

    @Test func schedules() {
        let step = StepDecay(initial: 1, stepSize: 10, gamma: 0.5)
        #expect(step.learningRate(at: 9) == 1 && step.learningRate(at: 10) == 0.5 && step.learningRate(at: 25) == 0.25)
        let cosine = CosineDecay(initial: 1, totalSteps: 100, minimum: 0.1)
        #expect(cosine.learningRate(at: 0) == 1 && Swift.abs(cosine.learningRate(at: 50) - 0.55) < 1e-12 && Swift.abs(cosine.learningRate(at: 100) - 0.1) < 1e-12)
        let warm = LinearWarmup(warmupSteps: 4, then: cosine)
        #expect(warm.learningRate(at: 0) == 0.25 && warm.learningRate(at: 3) == 1 && warm.learningRate(at: 4) == 1)
    }
}

@Suite struct BatchingTests {
    @Test func stratifiedSplitKeepsEveryClassShare() {
        let labels = (0..<100).map { $0 < 90 ? 0 : 1 }   // a rare class of 10
        let split = Batching.stratifiedSplit(labels: labels, validationFraction: 0.2, seed: 1)
        #expect(Set(split.training).union(split.validation) == Set(0..<100) && split.training.count + split.validation.count == 100)
        #expect(split.validation.filter { labels[$0] == 1 }.count == 2 && split.validation.filter { labels[$0] == 0 }.count == 18)
        #expect(Batching.stratifiedSplit(labels: labels, validationFraction: 0.2, seed: 1).validation == split.validation)
    }

    @Test func bucketedBatchesCoverEverythingOnceWithSimilarLengths() {
        var generator = SeededGenerator(seed: 2)
        let lengths = (0..<1000).map { _ in Int(generator.next() % 50) + 1 }
        let batches = Batching.bucketedBatches(lengths: lengths, batchSize: 16, poolBatches: 20, using: &generator)
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<1000))
        // Padding: the padded area of bucketed batches is far smaller than of random ones.
        func padding(_ batches: [[Int]]) -> Int { batches.reduce(0) { total, batch in total + batch.map { batch.map { lengths[$0] }.max()! - lengths[$0] }.reduce(0, +) } }
        let random = Batching.shuffledBatches(count: 1000, batchSize: 16, using: &generator)
        #expect(padding(batches) * 5 < padding(random), "bucketed \(padding(batches)) vs random \(padding(random))")
    }
}
