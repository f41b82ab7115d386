import Testing
import Foundation
import RecurrentIO
import RecurrentNN
import RecurrentKernels
import RecurrentTensor

/// Fixtures written by Scripts/reference/recurrent_fixtures.py with real PyTorch.
let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/pytorch")

func fixtureNames() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: fixtureDirectory.path)) ?? [])
        .filter { $0.hasSuffix(".safetensors") }.map { String($0.dropLast(".safetensors".count)) }.sorted()
}

/// A new, empty folder under the system's temporary directory (tests write nowhere else).
func temporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Largest |a − b| / max(1, |b|) over all elements.
func worstRelativeError(_ a: Tensor, _ b: Tensor) -> Double {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.doubles, b.doubles).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
}

@Suite struct PyTorchParityTests {
    @Test func fixturesArePresent() {
        #expect(fixtureNames().count >= 12, "found \(fixtureNames()) in \(fixtureDirectory.path)")
    }

    @Test(arguments: fixtureNames(), [DType.float64, .float32])
    func matchesPyTorch(fixture: String, dtype: DType) throws {
        let path = fixtureDirectory.appendingPathComponent(fixture + ".safetensors").path
        let file = try SafeTensorsFile.read(contentsOf: path)
        let module = file.metadata["module"] ?? "", layers = Int(file.metadata["num_layers"] ?? "") ?? 0
        let bidirectional = file.metadata["bidirectional"] == "true"
        let kind: RecurrentCellKind = switch module {
        case "LSTM": .lstm
        case "GRU": .gru
        default: file.metadata["nonlinearity"] == "relu" ? .rnnReLU : .rnnTanh
        }
        let input = try file.tensor("input", file: path).converted(to: dtype).requiringGradient()
        let (batch, inputSize) = (input.shape[0], input.shape[2])
        let h0 = try file.tensor("h0", file: path)
        let hiddenSize = h0.shape[2], stateCount = h0.shape[0]
        let layer = RecurrentLayer(kind, inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layers, bidirectional: bidirectional, dtype: dtype)
        var stateDict: [String: Tensor] = [:]
        for (name, entry) in file.entries where name.hasPrefix("param.") { stateDict[String(name.dropFirst(6))] = entry.tensor }
        try layer.loadPyTorchStateDict(stateDict)

        let lengths = file.entries["lengths"]?.integers
        let hiddenStarts = (0..<stateCount).map { h0.slice(alongAxis: 0, $0..<($0 + 1)).reshaped([batch, hiddenSize]).converted(to: dtype).requiringGradient() }
        let c0 = file.entries["c0"]?.tensor
        let cellStarts = c0.map { c0 in (0..<stateCount).map { c0.slice(alongAxis: 0, $0..<($0 + 1)).reshaped([batch, hiddenSize]).converted(to: dtype).requiringGradient() } }
        let starts = (0..<stateCount).map { RecurrentState(hidden: hiddenStarts[$0], cell: cellStarts?[$0]) }
        let result = layer(input, lengths: lengths, initialStates: starts)

        // Float64 agrees to rounding; Float32 to the 1e-5 relative that single precision allows.
        let tolerance = dtype == .float64 ? 1e-10 : 1e-5
        let hn = Tensor.stack(result.finalStates.map(\.hidden))
        #expect(worstRelativeError(result.output, try file.tensor("output")) < tolerance, "\(fixture) output")
        #expect(worstRelativeError(hn, try file.tensor("h_n")) < tolerance, "\(fixture) h_n")
        var loss = try (result.output * file.tensor("weight.output")).sum() + (hn * file.tensor("weight.h_n")).sum()
        if kind == .lstm {
            let cn = Tensor.stack(result.finalStates.map { $0.cell! })
            #expect(worstRelativeError(cn, try file.tensor("c_n")) < tolerance, "\(fixture) c_n")
            loss = try loss + (cn * file.tensor("weight.c_n")).sum()
        }

        let parameters = layer.namedParameters
        let gradients = loss.gradients(withRespectTo: [input] + hiddenStarts + (cellStarts ?? []) + parameters.map(\.value))
        #expect(worstRelativeError(gradients[0], try file.tensor("grad.input")) < tolerance, "\(fixture) ∂L/∂input")
        let dh0 = Tensor.stack(Array(gradients[1...stateCount]))
        #expect(worstRelativeError(dh0, try file.tensor("grad.h0")) < tolerance, "\(fixture) ∂L/∂h0")
        var offset = 1 + stateCount
        if cellStarts != nil {
            let dc0 = Tensor.stack(Array(gradients[offset..<(offset + stateCount)]))
            #expect(worstRelativeError(dc0, try file.tensor("grad.c0")) < tolerance, "\(fixture) ∂L/∂c0")
            offset += stateCount
        }
        // Our parameters' gradients against PyTorch's: a summed bias receives what each of PyTorch's two did.
        for (index, (name, _)) in parameters.enumerated() {
            let gradient = gradients[offset + index]
            let suffix = String(name[name.range(of: "_l")!.lowerBound...])
            let expected: Tensor
            if name.hasPrefix("weight_") {
                expected = try file.tensor("grad." + name)
            } else if name.hasPrefix("bias_hn") {
                expected = try file.tensor("grad.bias_hh" + suffix).slice(alongAxis: 0, (2 * hiddenSize)..<(3 * hiddenSize))
            } else {
                expected = try file.tensor("grad.bias_ih" + suffix)
            }
            #expect(worstRelativeError(gradient, expected) < tolerance, "\(fixture) ∂L/∂\(name)")
        }
    }

    @Test func exportedStateDictComputesTheSameFunction() throws {
        for kind in RecurrentCellKind.allCases {
            let source = RecurrentLayer(kind, inputSize: 3, hiddenSize: 2, layerCount: 2, bidirectional: true, seed: 1, dtype: .float64)
            let target = RecurrentLayer(kind, inputSize: 3, hiddenSize: 2, layerCount: 2, bidirectional: true, seed: 2, dtype: .float64)
            try target.loadPyTorchStateDict(source.pytorchStateDict(prefix: "rnn."), prefix: "rnn.")
            var generator = SeededGenerator(seed: 3)
            let x = Tensor.normal([2, 4, 3], dtype: .float64, using: &generator)
            #expect(worstRelativeError(target(x, lengths: [4, 2]).output, source(x, lengths: [4, 2]).output) < 1e-14)
        }
    }

    @Test func wrongOrMissingWeightsAreNamed() {
        let layer = RecurrentLayer(.lstm, inputSize: 3, hiddenSize: 2)
        var stateDict = layer.pytorchStateDict()
        stateDict["weight_hh_l0"] = Tensor.zeros([8, 3])
        #expect(throws: ParameterLoadingError.wrongShape(name: "weight_hh_l0", expected: [8, 2], found: [8, 3])) { try layer.loadPyTorchStateDict(stateDict) }
        stateDict["weight_hh_l0"] = nil
        #expect(throws: ParameterLoadingError.missing("weight_hh_l0")) { try layer.loadPyTorchStateDict(stateDict) }
        var extra = layer.pytorchStateDict()
        extra["weight_hr_l0"] = Tensor.zeros([1])
        #expect(throws: ParameterLoadingError.unexpected(["weight_hr_l0"])) { try layer.loadPyTorchStateDict(extra) }
    }
}

@Suite struct SafeTensorsTests {
    @Test func roundTripThroughAFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("weights.safetensors").path
        let file = SafeTensorsFile(
            entries: ["a": SafeTensorsEntry(Tensor([[1, 2], [3, 4]])), "b": SafeTensorsEntry(Tensor(shape: [3], doubles: [0.1, 0.2, 0.3])),
                      "lengths": SafeTensorsEntry(integers: [5, 2])],
            metadata: ["step": "7"])
        try file.write(to: path)
        let back = try SafeTensorsFile.read(contentsOf: path)
        #expect(back.metadata == ["step": "7"])
        #expect(try back.tensor("a").scalars == [1, 2, 3, 4])
        #expect(try back.tensor("b").doubles == [0.1, 0.2, 0.3])
        #expect(back.entries["lengths"]?.integers == [5, 2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["weights.safetensors"], "no temporary file left behind")
    }

    /// A valid file's bytes with the header replaced.
    func file(header: String, data: [UInt8] = [0, 0, 128, 63]) -> Data {
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(Data(header.utf8))
        bytes.append(contentsOf: data)
        return bytes
    }

    @Test(arguments: [
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", "not a JSON object"),
        ("{\"x\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype 'Q7'"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8 bytes"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", "outside the 4 data bytes"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "outside"),
        ("{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", "2 trailing bytes"),
        ("{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", "gap in the data"),
        ("{\"x\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", "overlaps"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "invalid shape"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496],\"data_offsets\":[0,4]}}", "overflows"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "invalid shape"),
        ("{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "no dtype"),
        ("[1, 2]", "not a JSON object"),
    ])
    func malformedHeadersAreRefused(header: String, expected: String) {
        #expect {
            _ = try SafeTensorsFile.decode(file(header: header), file: "bad.safetensors")
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("bad.safetensors: ") && message.contains(expected)
        }
    }

    @Test func truncatedAndOversizedHeadersAreRefused() {
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile.decode(Data([1, 2, 3])) }
        var huge = Data()
        withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { huge.append(contentsOf: $0) }
        #expect { try SafeTensorsFile.decode(huge) } throws: { "\($0)".contains("exceeds the limit") }
        var short = Data()
        withUnsafeBytes(of: UInt64(100).littleEndian) { short.append(contentsOf: $0) }
        short.append(contentsOf: [0x7B, 0x7D])
        #expect { try SafeTensorsFile.decode(short) } throws: { "\($0)".contains("runs past the end") }
    }
}

@Suite struct PyTorchFileTests {
    @Test func layerWeightsRoundTripThroughAFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("gru.safetensors").path
        let source = RecurrentLayer(.gru, inputSize: 3, hiddenSize: 4, layerCount: 2, bidirectional: true, seed: 1)
        try source.savePyTorchWeights(to: path, prefix: "encoder.")
        let target = RecurrentLayer(.gru, inputSize: 3, hiddenSize: 4, layerCount: 2, bidirectional: true, seed: 2)
        try target.loadPyTorchWeights(from: path, prefix: "encoder.")
        var generator = SeededGenerator(seed: 3)
        let x = Tensor.normal([2, 5, 3], using: &generator)
        #expect(worstRelativeError(target(x).output, source(x).output) == 0)
    }

    @Test func aPyTorchFixtureLoadsByFileAndAWrongLayerIsNamed() throws {
        let path = fixtureDirectory.appendingPathComponent("lstm_2.safetensors").path
        // The fixture stores its state_dict under "param.".
        let layer = RecurrentLayer(.lstm, inputSize: 4, hiddenSize: 3, layerCount: 2)
        try layer.loadPyTorchWeights(from: path, prefix: "param.")
        let wrong = RecurrentLayer(.lstm, inputSize: 4, hiddenSize: 5, layerCount: 2)
        #expect { try wrong.loadPyTorchWeights(from: path, prefix: "param.") } throws: { error in
            "\(error)".contains("lstm_2.safetensors") && "\(error)".contains("param.weight_ih_l0")
        }
    }
}
