// Recurrent layers to and from safetensors files holding PyTorch state_dicts
// (`safetensors.torch.save_file(module.state_dict(), path)`).

import RecurrentNN
import RecurrentTensor

extension RecurrentLayer {
    /// Loads the weights of a PyTorch nn.RNN / nn.LSTM / nn.GRU saved with safetensors; `prefix` selects one
    /// module of a larger state_dict (e.g. "encoder."). Errors name the file and the tensor at fault.
    public func loadPyTorchWeights(from path: String, prefix: String = "") throws {
        let file = try SafeTensorsFile.read(contentsOf: path)
        var stateDict: [String: Tensor] = [:]
        for (name, entry) in file.entries where name.hasPrefix(prefix) {
            guard let tensor = entry.tensor else {
                throw SafeTensorsError(file: path, problem: "tensor '\(name)' has dtype \(entry.dtype.rawValue), expected F32 or F64")
            }
            stateDict[name] = tensor
        }
        do { try loadPyTorchStateDict(stateDict, prefix: prefix) } catch {
            throw SafeTensorsError(file: path, problem: "\(error)")
        }
    }

    /// Writes the weights as a PyTorch state_dict in Float32, loadable with `module.load_state_dict(load_file(path))`.
    public func savePyTorchWeights(to path: String, prefix: String = "") throws {
        let entries = pytorchStateDict(prefix: prefix).mapValues { SafeTensorsEntry($0.converted(to: .float32)) }
        try SafeTensorsFile(entries: entries, metadata: ["format": "pt", "written_by": "Recurrent"]).write(to: path)
    }
}

extension Layer {
    /// Every parameter by its walk name, in one safetensors file written atomically.
    public func saveParameters(to path: String) throws {
        try SafeTensorsFile(entries: Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, SafeTensorsEntry($0.value)) })).write(to: path)
    }

    /// Replaces the parameters from a file `saveParameters` wrote; every name must be there with its shape, and
    /// every value finite (as training leaves them). A problem is an error naming the file; nothing changes then.
    public func loadParameters(contentsOf path: String) throws {
        let values = try SafeTensorsFile.read(contentsOf: path).entries.compactMapValues(\.tensor)
        for (name, tensor) in values.sorted(by: { $0.key < $1.key }) {
            if let (index, value) = Checkpoint.firstNonFinite(tensor) {
                throw SafeTensorsError(file: path, problem: "tensor '\(name)' holds \(value) at flat index \(index); saved parameters must be finite Float32 values")
            }
        }
        do { try loadParameters(values) } catch { throw SafeTensorsError(file: path, problem: "\(error)") }
    }
}
