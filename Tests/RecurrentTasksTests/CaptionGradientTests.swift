import Testing
import RecurrentTensor
import RecurrentNN
import RecurrentTasks

@Suite struct CaptionGradientTests {
    @Test func gradientReachesTheEncoder() {
        let model = CaptionModel(vocabularySize: 12, hiddenSize: 8, embeddingSize: 4, seed: 1)
        let scenes = GeneratedScenes.make(count: 3, seed: 1)
        let states = model.encode(scenes.map(\.image))
        let (logits, _) = model.decode([[2, 5, 6], [2, 7, 0], [2, 4, 5]], lengths: [3, 2, 3], states: states)
        Loss.crossEntropy(logits: logits, targets: [5, 6, 3, 7, 3, 0, 4, 5, 3], ignoreIndex: 0).backward()
        for (name, parameter) in model.namedParameters {
            print(name, parameter.grad.map { $0.squaredSum } ?? -1)
        }
    }
}
