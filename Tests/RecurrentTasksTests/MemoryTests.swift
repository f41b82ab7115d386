// The lecture's claims about memory, checked with fixed seeds and generous margins.

import Testing
import Foundation
import RecurrentTensor
import RecurrentTasks

@Suite struct MemoryTests {
    let inputs = MemoryExperiment.inputSize, classes = MemoryExperiment.recallClasses

    /// Options each in range can together need far more memory than the machine has (a 4,096-unit LSTM over
    /// 4,096 steps: about 145 GiB); the study refuses them before it starts, naming what to lower. It used to
    /// grow past 19 GB before anything stopped it.
    @Test func aStudyTooBigForTheMachineIsRefusedUpFront() throws {
        let huge = MemoryStudy.Configuration(variants: [.lstm], flowLength: 2, lengths: [4096], trainingSteps: 1, hiddenSize: 4096)
        #expect { try MemoryStudy.requireMemory(huge) } throws: { "\($0)".contains("GiB of memory") && "\($0)".contains("--hidden, --lengths or --steps") }
        try MemoryStudy.requireMemory(.standard)
    }

    @Test func atInitialisationTheTanhRNNsGradientVanishesAndTheOpenLSTMsDoesNot() {
        let tanh = RecallModel(.tanhRNN, inputSize: inputs, hiddenSize: 64, classes: classes, seed: 1)
        let lstm = RecallModel(.openLSTM(bias: 3), inputSize: inputs, hiddenSize: 64, classes: classes, seed: 1)
        let tanhFlow = MemoryExperiment.gradientFlow(tanh, length: 64, seed: 2)
        let lstmFlow = MemoryExperiment.gradientFlow(lstm, length: 64, seed: 2)
        #expect(tanhFlow.count == 64 && lstmFlow.count == 64)
        #expect(tanhFlow[0] * 100 <= lstmFlow[0], "‖∂L/∂h_0‖: tanh RNN \(tanhFlow[0]), LSTM with forget bias 3 \(lstmFlow[0])")
        // The plain RNN's gradient falls step after step: over 1000× within the sequence, the open LSTM's not.
        #expect(MemoryExperiment.horizon(tanhFlow) != nil && MemoryExperiment.horizon(tanhFlow)! < 40)
        #expect(MemoryExperiment.horizon(lstmFlow) == nil)
    }

    @Test(arguments: [MemoryVariant.tanhRNN, .openLSTM(bias: 3), .gru])
    func gradientProbesMatchFiniteDifferencesOfTheLoss(variant: MemoryVariant) {
        // ∂L/∂h_t read from the probes is checked against central differences of the loss in Float64.
        let model = RecallModel(variant, inputSize: inputs, hiddenSize: 5, classes: classes, seed: 3)
        model.convertParameters(to: .float64)
        var generator = SeededGenerator(seed: 4)
        let (sequences, labels) = MemoryExperiment.recallBatch(length: 6, batch: 2, using: &generator)
        let x = sequences.converted(to: .float64)
        let probes = (0..<6).map { _ in Tensor.zeros([2, 5], dtype: .float64) }
        let result = GradientCheck.check(probes) { MemoryExperiment.probedLoss(model, inputs: x, labels: labels, probes: $0) }
        #expect(result.passed, "\(result)")
        let flow = MemoryExperiment.gradientFlow(model, length: 6, batch: 2, seed: 4)
        #expect(flow.allSatisfy { $0.isFinite && $0 > 0 })
    }

    @Test func afterTrainingTheOpenLSTMRecallsSixtyFourStepsAndTheTanhRNNCannot() {
        let lstm = RecallModel(.openLSTM(bias: 3), inputSize: inputs, hiddenSize: 64, classes: classes, seed: 5)
        let lstmAccuracy = MemoryExperiment.trainRecall(lstm, length: 64, steps: 300, seed: 6)
        let tanh = RecallModel(.tanhRNN, inputSize: inputs, hiddenSize: 64, classes: classes, seed: 5)
        let tanhAccuracy = MemoryExperiment.trainRecall(tanh, length: 64, steps: 300, seed: 6)
        #expect(lstmAccuracy >= 0.9, "LSTM (forget bias 3) recall at T = 64: \(lstmAccuracy)")
        #expect(tanhAccuracy <= 0.6, "tanh RNN recall at T = 64: \(tanhAccuracy)")
    }

    @Test func gatesAreSwitches() {
        let (gate, values, product) = GateTrace.switchTable()
        #expect(gate == [0.8, 0, 0.2, 1] && values == [2, 1, 3, 5])
        #expect(zip(product, [1.6, 0, 0.6, 5] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(GateTrace.switchTableLine == "(0.8, 0.0, 0.2, 1.0) ⊙ (2, 1, 3, 5) = (1.6, 0, 0.6, 5)")
        let (trace, accuracy) = GateInspection.recallTrace(length: 12, hiddenSize: 8, steps: 150)
        #expect(accuracy > 0.5)
        #expect(trace.forget.count == 8 && trace.forget[0].count == 12 && trace.tokens.count == 12)
        #expect(trace.forget.flatMap { $0 }.allSatisfy { (0...1).contains($0) })
        let (shut, open) = GateTrace.saturation(trace.forget)
        #expect(shut >= 0 && open <= 1 && shut + open <= 1)
        #expect(trace.heatmaps.map(\.name) == ["forget", "input", "output", "cell"])
    }
}
