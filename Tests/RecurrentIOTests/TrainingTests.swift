import Testing
import Foundation
import RecurrentIO
import RecurrentNN
import RecurrentTraining
import RecurrentTensor

/// ../shared/data beside the repository (read-only; tests write only to temporary folders).
let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/data")

/// The digits: pixels scaled to [0, 1], labels, split 80/20 stratified by class with a seeded shuffle.
struct Digits {
    let images: [[Float]], labels: [Int]
    let training: [Int], validation: [Int]

    init() throws {
        let table = try NumericCSV.read(contentsOf: sharedData.appendingPathComponent("digits8x8/digits_train.csv").path)
        let allLabels = table.rows.map { Int($0[0]) }
        images = table.rows.map { $0.dropFirst().map { Float($0 / 16) } }
        labels = allLabels
        var generator = SeededGenerator(seed: 1)
        var training: [Int] = [], validation: [Int] = []
        for label in 0..<10 {
            var members = allLabels.indices.filter { allLabels[$0] == label }
            members.shuffle(using: &generator)
            let cut = members.count / 5
            validation += members[..<cut]
            training += members[cut...]
        }
        self.training = training
        self.validation = validation
    }

    func batch(_ indices: [Int]) -> (Tensor, [Int]) {
        (Tensor(shape: [indices.count, 64], scalars: indices.flatMap { images[$0] }), indices.map { labels[$0] })
    }
}

func mlp(seed: UInt64) -> Sequential {
    Sequential([Dense(inputSize: 64, outputSize: 128, seed: seed), Activation(.relu), Dense(inputSize: 128, outputSize: 10, seed: seed + 1)])
}

func train(_ model: Sequential, _ digits: Digits, epochs: Int, seed: UInt64, observers: [TrainingObserver] = []) throws -> Metrics {
    let trainer = Trainer(model: model, optimizer: Adam(learningRate: 1e-3), configuration: TrainingConfiguration(epochs: epochs, batchSize: 32, seed: seed), observers: observers)
    func evaluate(_ indices: [Int]) -> Metrics {
        let (x, y) = digits.batch(indices)
        let logits = model(x)
        let correct = zip(logits.argmax(alongAxis: 1), y).filter { $0 == $1 }.count
        return Metrics(loss: Double(Loss.crossEntropy(logits: logits, targets: y).item), accuracy: Double(correct) / Double(y.count), examples: y.count)
    }
    try trainer.fit(count: digits.training.count, batch: { positions in
        let (x, y) = digits.batch(positions.map { digits.training[$0] })
        let logits = model(x)
        let correct = zip(logits.argmax(alongAxis: 1), y).filter { $0 == $1 }.count
        return BatchResult(loss: Loss.crossEntropy(logits: logits, targets: y), examples: y.count, correct: correct)
    }, validate: { evaluate(digits.validation) })
    return noGrad { evaluate(digits.validation) }
}

@Suite struct FitTests {
    /// The lecture's one-to-one shape on real data: an MLP 64-128-10 with Adam, 40 epochs, held-out accuracy.
    @Test func digitsMLPReachesNinetyFivePercent() throws {
        let digits = try Digits()
        #expect(digits.training.count + digits.validation.count == 1438)
        var lines: [String] = []
        let progress = ProgressReporter(interactive: false) { lines.append($0) }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let logPath = directory.appendingPathComponent("metrics.csv").path
        let result = try train(mlp(seed: 3), digits, epochs: 40, seed: 4, observers: [progress, try MetricsLogger(path: logPath)])
        print("digits MLP 64-128-10, 40 epochs: held-out accuracy \(result.accuracy!) on \(result.examples) images")
        #expect(result.accuracy! >= 0.95, "held-out accuracy \(result.accuracy!)")
        #expect(lines.count == 40 && lines.last!.hasPrefix("epoch 40/40: loss"), "\(lines.suffix(2))")
        let log = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n")
        #expect(log.count == 41 && log[0] == "epoch,step,loss,accuracy,validation_loss,validation_accuracy")
        let firstLoss = Double(log[1].split(separator: ",")[2])!, lastLoss = Double(log[40].split(separator: ",")[2])!
        #expect(lastLoss < firstLoss / 5, "training loss fell from \(firstLoss) to \(lastLoss)")
    }

    @Test func sameSeedSameWeightsBitForBit() throws {
        let digits = try Digits()
        let a = mlp(seed: 5), b = mlp(seed: 5)
        _ = try train(a, digits, epochs: 2, seed: 6)
        _ = try train(b, digits, epochs: 2, seed: 6)
        for (x, y) in zip(a.namedParameters, b.namedParameters) { #expect(x.value.scalars == y.value.scalars, "\(x.name)") }
    }

    /// The update writes each parameter where it lies. While the batch's graph lives it holds the parameters, so
    /// an update made then finds each one shared and copies it first: a copy of every weight at every step.
    @Test func theUpdateWritesParametersInPlace() throws {
        let model = mlp(seed: 3)
        func addresses() -> [UInt] {
            model.namedParameters.map { $0.value.withUnsafeBuffer(as: Float.self) { UInt(bitPattern: $0.baseAddress) } }
        }
        let before = addresses()
        let trainer = Trainer(model: model, optimizer: Adam(learningRate: 1e-3), configuration: TrainingConfiguration(epochs: 1, batchSize: 4))
        try trainer.fit(count: 4, batch: { indices in
            BatchResult(loss: model(Tensor.ones([indices.count, 64])).sum(), examples: indices.count)
        })
        #expect(trainer.step == 1)
        #expect(addresses() == before)
    }

    @Test func nonFiniteLossStopsWithTheStep() throws {
        let model = mlp(seed: 7)
        let trainer = Trainer(model: model, optimizer: SGD(learningRate: 0.1), configuration: TrainingConfiguration(epochs: 3, batchSize: 4))
        let before = model.namedParameters.map { $0.value.scalars }
        var calls = 0
        #expect(throws: TrainingError.nonFinite(step: 2, what: "the loss (nan)")) {
            try trainer.fit(count: 40, batch: { indices in
                calls += 1
                let x = Tensor.ones([indices.count, 64])
                let loss = model(x).sum() * (calls == 3 ? Double.nan : 0)
                return BatchResult(loss: loss, examples: indices.count)
            })
        }
        // The two good steps changed nothing (zero loss); the bad one was not applied.
        #expect(model.namedParameters.map { $0.value.scalars } == before)
    }

    @Test func nonFiniteGradientLeavesTheLastGoodCheckpoint() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = mlp(seed: 9), optimizer = SGD(learningRate: 0.01)
        let trainer = Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(epochs: 3, batchSize: 4))
        trainer.observers = [CheckpointSaver(directory: directory.path, trainer: trainer, configuration: "mlp")]
        var calls = 0
        #expect(throws: TrainingError.nonFinite(step: 3, what: "the gradient of 0.weight")) {
            try trainer.fit(count: 8, batch: { indices in
                calls += 1
                // In the fourth batch √(0·…) adds 0 to the loss but an infinite slope (d√u/du at 0) to the gradient.
                let output = model(Tensor.ones([indices.count, 64])).sum()
                return BatchResult(loss: calls == 4 ? output + (output * 0).sqrt() : output, examples: indices.count)
            })
        }
        let path = directory.appendingPathComponent("last.safetensors").path
        let file = try SafeTensorsFile.read(contentsOf: path)
        #expect(file.metadata["step"] == "2" && file.metadata["epoch"] == "1", "the epoch-1 checkpoint is the last good one")
        let restored = mlp(seed: 0)
        try Checkpoint.load(from: path, model: restored, optimizer: SGD(learningRate: 0.01), trainer: Trainer(model: restored, optimizer: SGD(learningRate: 0.01), configuration: TrainingConfiguration(epochs: 3, batchSize: 4)), configuration: "mlp")
    }

    /// A checkpoint whose weights were damaged to NaN is refused at load, naming the tensor; so is loop state that
    /// counting on from would overflow. A symbolic link is written through, not replaced.
    @Test func damagedCheckpointsAreRefusedAndLinksWrittenThrough() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = mlp(seed: 9), optimizer = SGD(learningRate: 0.01)
        let trainer = Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(epochs: 1, batchSize: 4))
        let path = directory.appendingPathComponent("last.safetensors").path
        try Checkpoint.save(to: path, model: model, optimizer: optimizer, trainer: trainer, configuration: "mlp")
        func restore(_ file: String) throws {
            let restored = mlp(seed: 0)
            try Checkpoint.load(from: file, model: restored, optimizer: SGD(learningRate: 0.01),
                                trainer: Trainer(model: restored, optimizer: SGD(learningRate: 0.01), configuration: TrainingConfiguration(epochs: 3, batchSize: 4)), configuration: "mlp")
        }
        try restore(path)
        var file = try SafeTensorsFile.read(contentsOf: path)
        let name = try #require(file.entries.keys.sorted().first { $0.hasPrefix("model.") })
        var damaged = file
        var values = try #require(damaged.entries[name]?.tensor).scalars
        values[1] = .nan
        damaged.entries[name] = SafeTensorsEntry(Tensor(shape: try #require(damaged.entries[name]?.tensor).shape, scalars: values))
        let nanPath = directory.appendingPathComponent("nan.safetensors").path
        try damaged.write(to: nanPath)
        #expect { try restore(nanPath) } throws: { "\($0)".contains(name) && "\($0)".contains("finite") }
        file.metadata["step"] = String(Int.max)
        let stepPath = directory.appendingPathComponent("step.safetensors").path
        try file.write(to: stepPath)
        #expect { try restore(stepPath) } throws: { "\($0)".contains("out of range") }

        let real = directory.appendingPathComponent("real.txt").path, link = directory.appendingPathComponent("link.txt").path
        try #require(FileManager.default.createFile(atPath: real, contents: Data("old".utf8)))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        try writeAtomically(Data("new".utf8), to: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == real)
        #expect(String(decoding: try #require(FileManager.default.contents(atPath: real)), as: UTF8.self) == "new")
    }

    /// Where a file cannot be written, the reason is the real one: a folder missing right under the root (the
    /// search for the nearest existing folder used to stop at / and call it a file), a name over 255 bytes
    /// (which the file system reports as missing), a folder where the file should be.
    @Test func unwritablePathsSayWhy() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missingTop = "/recurrent-no-such-folder-\(UUID().uuidString)/x.svg"
        let plainFile = directory.appendingPathComponent("plain").path
        try #require(FileManager.default.createFile(atPath: plainFile, contents: Data("x".utf8)))
        let cases = [
            (plainFile + "/x.svg", "\(plainFile) is a file, not a folder"),
            (directory.path + "/plots/", "ends in '/', so it names a folder"),
            (missingTop, "does not exist (the nearest folder that does is /)"),
            (directory.appendingPathComponent(String(repeating: "a", count: 300) + ".svg").path, "the file name is too long: 304 bytes"),
            (directory.path, "is a folder, expected a file name"),
        ]
        for (path, expected) in cases {
            #expect { try writeAtomically(Data("x".utf8), to: path) } throws: { "\($0)".contains(expected) }
        }
        #expect { try SafeTensorsFile.read(contentsOf: directory.path) } throws: { "\($0)".contains("is a folder, expected a safetensors file") }
        #expect { try SafeTensorsFile.read(contentsOf: missingTop) } throws: { "\($0)".contains("no such file") }
    }

    /// A metrics log that cannot be written (a full disk) ends training with an error naming the file; it used
    /// to trap inside Foundation's non-throwing write. /dev/full, Linux's always-full device, stands in for the
    /// disk; it is opened for appending, so nothing tries to replace it.
    @Test func fullDiskUnderTheMetricsLogIsAnErrorNamingIt() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }
        let logger = try MetricsLogger(path: "/dev/full", appending: true)
        let event = TrainingEvent.epochEnded(epoch: 1, step: 10, training: Metrics(loss: 0.5, accuracy: nil, examples: 10), validation: nil)
        #expect { _ = try logger.handle(event) } throws: { ($0 as? LogFileError)?.file == "/dev/full" && "\($0)".contains("cannot write the metrics log") }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect { _ = try MetricsLogger(path: directory.path) } throws: { "\($0)".contains("is a folder, expected the metrics log file") }
    }

    @Test func earlyStoppingStopsOnAPlateau() throws {
        let model = mlp(seed: 8)
        let stopper = EarlyStopping(patience: 2)
        var epochs = 0
        let counter = ClosureObserver { if case .epochEnded = $0 { epochs += 1 } }
        let trainer = Trainer(model: model, optimizer: SGD(learningRate: 0), configuration: TrainingConfiguration(epochs: 10, batchSize: 8), observers: [stopper, counter])
        try trainer.fit(count: 16, batch: { indices in BatchResult(loss: model(Tensor.zeros([indices.count, 64])).sum() * 0, examples: indices.count) },
                        validate: { Metrics(loss: 1, accuracy: nil, examples: 1) })
        #expect(epochs == 3, "no improvement after the first epoch: stop after two more")
    }
}

final class ClosureObserver: TrainingObserver {
    let body: (TrainingEvent) -> Void
    init(_ body: @escaping (TrainingEvent) -> Void) { self.body = body }
    func handle(_ event: TrainingEvent) -> TrainingDecision { body(event); return .proceed }
}

@Suite struct CSVTests {
    @Test(arguments: [
        ("", "the file is empty"), ("a,b\n", "no data rows"), ("a,b\n1,2\n3\n", ":3: 1 fields, expected 2"),
        ("a,b\n1,x\n", ":2: field 2 ('b') is 'x', not a finite decimal number"), ("a,b\n1,nan\n", "not a finite decimal number"),
        ("a,b\n1,0x9\n", ":2: field 2 ('b') is '0x9'"), ("a,b\n0x1p3,1\n", ":2: field 1 ('a') is '0x1p3'"),
    ])
    func malformedFilesNameFileAndLine(content: String, expected: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.csv").path
        try #require(FileManager.default.createFile(atPath: path, contents: Data(content.utf8)), "could not write the test file")
        #expect { try NumericCSV.read(contentsOf: path) } throws: { "\($0)".contains("bad.csv") && "\($0)".contains(expected) }
    }

    @Test func notUTF8IsRefused() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("binary.csv").path
        try #require(FileManager.default.createFile(atPath: path, contents: Data([0x61, 0x0A, 0xFF, 0xFE, 0x0A])), "could not write the test file")
        #expect { try NumericCSV.read(contentsOf: path) } throws: { "\($0)".contains("not UTF-8") }
    }
}

@Suite struct CheckpointTests {
    func run(epochs: ClosedRange<Int>, digits: Digits, model: Sequential, optimizer: Adam, trainer: Trainer) throws {
        let subset = Array(digits.training.prefix(200))
        try trainer.fit(count: subset.count, batch: { positions in
            let (x, y) = digits.batch(positions.map { subset[$0] })
            return BatchResult(loss: Loss.crossEntropy(logits: model(x), targets: y), examples: y.count)
        })
    }

    func objects(epochs: Int) -> (Sequential, Adam, Trainer) {
        let model = mlp(seed: 11), optimizer = Adam(learningRate: 1e-3)
        return (model, optimizer, Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(epochs: epochs, batchSize: 16, seed: 12)))
    }

    /// N epochs straight, and N/2 + save + load into new objects + N/2, give bit-identical weights.
    @Test func resumeIsBitIdentical() throws {
        let digits = try Digits()
        let (straight, straightOptimizer, straightTrainer) = objects(epochs: 4)
        try run(epochs: 1...4, digits: digits, model: straight, optimizer: straightOptimizer, trainer: straightTrainer)

        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("half.safetensors").path
        let (first, firstOptimizer, firstTrainer) = objects(epochs: 2)
        try run(epochs: 1...2, digits: digits, model: first, optimizer: firstOptimizer, trainer: firstTrainer)
        try Checkpoint.save(to: path, model: first, optimizer: firstOptimizer, trainer: firstTrainer, configuration: "mlp 64-128-10")

        let (resumed, resumedOptimizer, resumedTrainer) = objects(epochs: 4)
        try Checkpoint.load(from: path, model: resumed, optimizer: resumedOptimizer, trainer: resumedTrainer, configuration: "mlp 64-128-10")
        #expect(resumedTrainer.epoch == 2 && resumedTrainer.step == firstTrainer.step)
        try run(epochs: 3...4, digits: digits, model: resumed, optimizer: resumedOptimizer, trainer: resumedTrainer)
        for (a, b) in zip(straight.namedParameters, resumed.namedParameters) {
            #expect(a.value.scalars == b.value.scalars, "\(a.name) differs after resuming")
        }
    }

    @Test func wrongCheckpointsAreRefusedWithTheReason() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.safetensors").path
        let (model, optimizer, trainer) = objects(epochs: 1)
        try Checkpoint.save(to: path, model: model, optimizer: optimizer, trainer: trainer, configuration: "mlp 64-128-10")

        func expectRefusal(_ file: String, configuration: String = "mlp 64-128-10", model: Sequential? = nil, _ expected: String) {
            let (fresh, freshOptimizer, freshTrainer) = objects(epochs: 1)
            let target = model ?? fresh
            let before = target.namedParameters.map { $0.value.scalars }
            #expect {
                try Checkpoint.load(from: file, model: target, optimizer: freshOptimizer, trainer: freshTrainer, configuration: configuration)
            } throws: { "\($0)".contains(expected) }
            #expect(target.namedParameters.map { $0.value.scalars } == before, "a refused checkpoint changed the model")
        }
        expectRefusal(path, configuration: "mlp 64-256-10", "different model configuration")
        expectRefusal(path, model: Sequential([Dense(inputSize: 64, outputSize: 100), Activation(.relu), Dense(inputSize: 100, outputSize: 10)]), "tensor 'model.0.weight' has shape (128, 64), expected (100, 64)")

        var file = try SafeTensorsFile.read(contentsOf: path)
        file.entries["model.2.bias"] = nil
        let missing = directory.appendingPathComponent("missing.safetensors").path
        try file.write(to: missing)
        expectRefusal(missing, "missing tensor 'model.2.bias'")

        let plain = directory.appendingPathComponent("plain.safetensors").path
        try SafeTensorsFile(entries: ["x": SafeTensorsEntry(Tensor([1]))]).write(to: plain)
        expectRefusal(plain, "not a Recurrent checkpoint")

        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let truncated = directory.appendingPathComponent("truncated.safetensors").path
        try #require(FileManager.default.createFile(atPath: truncated, contents: bytes.prefix(bytes.count - 10)), "could not write the test file")
        expectRefusal(truncated, "truncated.safetensors")
    }

    /// Adam's moments are part of the run: a NaN among them, or one left out (which would restart Adam without
    /// a word), refuses the checkpoint, naming what is wrong.
    @Test func damagedOptimizerStateIsRefused() throws {
        let digits = try Digits()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("trained.safetensors").path
        let (model, optimizer, trainer) = objects(epochs: 1)
        try run(epochs: 1...1, digits: digits, model: model, optimizer: optimizer, trainer: trainer)
        try Checkpoint.save(to: path, model: model, optimizer: optimizer, trainer: trainer, configuration: "mlp 64-128-10")
        func expectRefusal(_ change: (inout SafeTensorsFile) throws -> Void, _ expected: String) throws {
            var file = try SafeTensorsFile.read(contentsOf: path)
            try change(&file)
            let damaged = directory.appendingPathComponent("damaged.safetensors").path
            try file.write(to: damaged)
            let (fresh, freshOptimizer, freshTrainer) = objects(epochs: 2)
            #expect {
                try Checkpoint.load(from: damaged, model: fresh, optimizer: freshOptimizer, trainer: freshTrainer, configuration: "mlp 64-128-10")
            } throws: { "\($0)".contains(expected) }
            #expect(freshOptimizer.buffers.isEmpty && freshTrainer.step == 0, "a refused checkpoint changed the optimizer or the trainer")
        }
        try expectRefusal({ file in
            let moment = try #require(file.entries["optimizer.0.weight.v"]?.tensor)
            var scalars = moment.scalars
            scalars[5] = .nan
            file.entries["optimizer.0.weight.v"] = SafeTensorsEntry(Tensor(shape: moment.shape, scalars: scalars))
        }, "optimizer tensor 'optimizer.0.weight.v' holds nan at flat index 5")
        // A weight stored as Float64 beyond Float32's range is finite in the file but infinite once loaded: named
        // as the number it is (it used to read "holds inf").
        try expectRefusal({ file in
            let weight = try #require(file.entries["model.0.weight"]?.tensor)
            var doubles = weight.doubles
            doubles[3] = 1e300
            file.entries["model.0.weight"] = SafeTensorsEntry(Tensor(shape: weight.shape, doubles: doubles))
        }, "tensor 'model.0.weight' holds 1e+300, beyond Float32's range, at flat index 3")
        try expectRefusal({ $0.entries["optimizer.2.bias.m"] = nil }, "records 8 optimizer tensors but holds 7; 'optimizer.2.bias.m' is missing")
        try expectRefusal({ $0.entries["notes.extra"] = SafeTensorsEntry(Tensor([1, 2])) }, "tensor 'notes.extra' is neither the model's")
        try expectRefusal({ $0.metadata["optimizer_tensors"] = "eight" }, "optimizer_tensors metadata 'eight' is not a count")
        // The intact file loads; so does one written before the count was recorded, as it is.
        let (fresh, freshOptimizer, freshTrainer) = objects(epochs: 2)
        try Checkpoint.load(from: path, model: fresh, optimizer: freshOptimizer, trainer: freshTrainer, configuration: "mlp 64-128-10")
        #expect(freshOptimizer.buffers.count == 4)
        var older = try SafeTensorsFile.read(contentsOf: path)
        older.metadata["optimizer_tensors"] = nil
        let olderPath = directory.appendingPathComponent("older.safetensors").path
        try older.write(to: olderPath)
        let (_, olderOptimizer, olderTrainer) = objects(epochs: 2)
        try Checkpoint.load(from: olderPath, model: objects(epochs: 2).0, optimizer: olderOptimizer, trainer: olderTrainer, configuration: "mlp 64-128-10")
        #expect(olderOptimizer.buffers.count == 4)
    }
}

@Suite struct ProgressTests {
    @Test func terminalGetsABarAndEpochLines() throws {
        var output = ""
        let progress = ProgressReporter(interactive: true) { output += $0 }
        _ = progress.handle(.started(epochs: 2, stepsPerEpoch: 3))
        for step in 1...3 { _ = progress.handle(.batchEnded(epoch: 0, step: step, stepInEpoch: step, loss: 1.5, learningRate: 0.1)) }
        _ = progress.handle(.epochEnded(epoch: 1, step: 3, training: Metrics(loss: 1.5, accuracy: 0.5, examples: 9), validation: nil))
        #expect(output.contains("\r\u{1B}[2Kepoch 1/2 "), "the bar redraws in place")
        #expect(output.contains("3/3") && output.contains("steps/s") && output.contains("ETA"))
        #expect(output.hasSuffix("epoch 1/2: loss 1.500, accuracy 50.00% (\(output.split(separator: "(").last!)"))
    }

    @Test func logsGetPlainLinesOnly() throws {
        var output = ""
        let progress = ProgressReporter(interactive: false) { output += $0 }
        _ = progress.handle(.started(epochs: 1, stepsPerEpoch: 2))
        for step in 1...2 { _ = progress.handle(.batchEnded(epoch: 0, step: step, stepInEpoch: step, loss: 0.5, learningRate: 0.1)) }
        _ = progress.handle(.epochEnded(epoch: 1, step: 2, training: Metrics(loss: 0.5, accuracy: nil, examples: 4), validation: Metrics(loss: 0.25, accuracy: 0.9, examples: 2)))
        #expect(!output.contains("\r") && !output.contains("\u{1B}"))
        #expect(output.hasPrefix("epoch 1/1: loss 0.5000; validation loss 0.2500, accuracy 90.00%"))
    }
}
