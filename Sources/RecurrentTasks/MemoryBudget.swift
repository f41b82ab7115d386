// A training run's memory, estimated before anything is allocated or written.
//
// Every --set option is checked against its range, but ranges are checked one by one: hidden=4096 with
// layers=8, or a batch of 4,096 windows of 10,000 characters, are each in range and together need far more
// memory than the machine has. Such a run used to be killed by the kernel part-way into its first batch, with
// no message and a run folder left behind. The estimate below refuses it up front, naming the options to lower.

import Foundation
import RecurrentNN

/// What a training run holds at once, counted in Float32 values.
struct MemoryEstimate {
    /// Model parameters. Training holds each four times: the value, its gradient and Adam's two moments.
    var parameters: Double
    /// The largest batch's forward values kept for backward, and their gradients.
    var activations: Double

    var bytes: Double { 4 * (4 * parameters + activations) }

    /// The batch the activations are counted for: the training batch, or the validation chunk, whose rows run
    /// without gradients and so cost about half a training row each.
    static func largestBatch(training: Int, validation: Int) -> Int { max(training, validation / 2) }
}

enum MemoryBudget {
    /// Variable that sets the budget in bytes (a plain number, or one ending in K, M, G or T).
    static let variable = "RECURRENT_MEMORY_LIMIT"

    /// The bytes a run may plan to use: RECURRENT_MEMORY_LIMIT when set, else 90 % of the machine's memory (or of
    /// the container's limit, or of what `ulimit -v` leaves this process, when lower), leaving the rest to the
    /// system and to what the estimate does not count (code, small buffers, allocator slack).
    static func limit() throws -> (bytes: Double, source: String) {
        if let text = ProcessInfo.processInfo.environment[variable] {
            guard let bytes = parseByteCount(text), bytes > 0 else {
                throw TaskError("\(variable)=\(text): expected a number of bytes, optionally ending in K, M, G or T (e.g. 8G)")
            }
            return (bytes, "the \(variable) budget")
        }
        let machine = machineMemory()
        if let addressSpace = addressSpaceLimit(), addressSpace < machine {
            return (0.9 * addressSpace, "the 90 % of this process's address-space limit (ulimit -v) a run may plan on")
        }
        return (0.9 * machine, "the 90 % of this machine's memory a run may plan on")
    }

    /// The address space `ulimit -v` (RLIMIT_AS) leaves this process, in bytes: the limit less what the process has
    /// mapped already (code, libraries, thread stacks, allocator arenas); nil when unlimited or unknown. Under such a
    /// limit an allocation past it fails and Swift stops the process; a run planned past it used to start, write
    /// its run folder and abort in its first batch.
    static func addressSpaceLimit() -> Double? {
        #if canImport(Glibc)
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        // statm's first field: the pages mapped now.
        let mappedPages = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) } ?? 0
        return max(0, Double(limit.rlim_cur) - mappedPages * Double(sysconf(Int32(_SC_PAGESIZE))))
        #else
        return nil
        #endif
    }

    /// "8G" → 8·2³⁰; "1500000000" → 1.5e9. Nil for anything else.
    static func parseByteCount(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var digits = Substring(trimmed), scale = 1.0
        if let last = trimmed.last, let unit = units[last] { digits = trimmed.dropLast(); scale = unit }
        guard let number = Double(digits), number.isFinite, number >= 0 else { return nil }
        return number * scale
    }

    /// Physical memory, lowered to the cgroup (v2 or v1) limit when one is set below it.
    static func machineMemory() -> Double {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        // Unknown (sysconf failed): no limit rather than a negative one that would refuse every run.
        var bytes = pages > 0 && pageSize > 0 ? Double(pages) * Double(pageSize) : .infinity
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let limit = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
                bytes = min(bytes, limit)
            }
        }
        return bytes
    }

    /// Throws, naming the estimate and the options that drive it, when `estimate` does not fit the budget.
    static func require(_ estimate: MemoryEstimate, task: String, lower options: String) throws {
        let (budget, source) = try limit()
        guard estimate.bytes > budget else { return }
        // Binary units, as RECURRENT_MEMORY_LIMIT's K, M and G mean them; the largest that keeps a whole part, so
        // a small budget does not read as 0.0 GiB.
        func binarySize(_ bytes: Double) -> String {
            for (unit, size) in [("GiB", 0x1p30), ("MiB", 0x1p20), ("KiB", 0x1p10)] where bytes >= size {
                return String(format: "%.1f \(unit)", bytes / size)
            }
            return String(format: "%.0f bytes", bytes)
        }
        let parts = ["parameters with their gradients and Adam's state \(binarySize(16 * estimate.parameters))",
                     "one batch's activations \(binarySize(4 * estimate.activations))"]
        throw TaskError("this \(task) run needs about \(binarySize(estimate.bytes)) of memory (\(parts.joined(separator: ", "))), "
                        + "more than \(source), \(binarySize(budget)); lower \(options)")
    }
}

extension MemoryEstimate {
    /// A stacked LSTM or GRU keeps, per layer and position, its gates, cell, output and the state before the step,
    /// and in backward the gates' and the input's gradients: about 14·H values for an LSTM, a little less for a GRU.
    static let recurrentValuesPerUnit = 14.0

    /// The char-LM: `batch` windows of `length` characters through `layers` LSTMs of `hidden` units, logits over
    /// `alphabet` characters (values, softmax and gradient).
    static func characterModel(alphabet: Int, hidden: Int, layers: Int, batch: Int, length: Int) -> MemoryEstimate {
        let (v, h, l) = (Double(alphabet), Double(hidden), Double(layers))
        let parameters = Double(RecurrentLayer.parameterCount(.lstm, inputSize: alphabet, hiddenSize: hidden, layerCount: layers)) + h * v + v
        return MemoryEstimate(parameters: parameters, activations: Double(batch) * Double(length) * (recurrentValuesPerUnit * h * l + 2 * h + 4 * v))
    }

    /// Sentiment: embeddings → (bi)LSTM over `batch` sentences of up to `length` tokens.
    static func sentenceClassifier(vocabulary: Int, embedding: Int, hidden: Int, directions: Int, batch: Int, length: Int) -> MemoryEstimate {
        let (e, h, d) = (Double(embedding), Double(hidden), Double(directions))
        let parameters = Double(vocabulary) * e + d * Double(RecurrentLayer.parameterCount(.lstm, inputSize: embedding, hiddenSize: hidden)) + d * h + 1
        return MemoryEstimate(parameters: parameters, activations: Double(batch) * Double(length) * (2 * e + recurrentValuesPerUnit * h * d))
    }

    /// Translation: GRU encoder and decoder with attention over `batch` pairs of up to `sourceLength` and
    /// `targetLength` tokens; per target position the attention weights, the combined state and the logits.
    static func translation(source: Int, target: Int, embedding: Int, hidden: Int, batch: Int, sourceLength: Int, targetLength: Int) -> MemoryEstimate {
        let (e, h, vt, ts, tt) = (Double(embedding), Double(hidden), Double(target), Double(sourceLength), Double(targetLength))
        let recurrent = 2 * Double(RecurrentLayer.parameterCount(.gru, inputSize: embedding, hiddenSize: hidden))
        let parameters = Double(source + target) * e + recurrent + 3 * h * h + h + h * vt + vt
        let perPair = ts * (2 * e + recurrentValuesPerUnit * h) + tt * (2 * e + (recurrentValuesPerUnit + 8) * h + 3 * vt + 3 * ts)
        return MemoryEstimate(parameters: parameters, activations: Double(batch) * perPair)
    }

    /// The memory study (`recurrent memory`) at its largest cell, the LSTM: recall training on batches of 64 at
    /// the longest length (fused, `recurrentValuesPerUnit` a position); gradient flow stepping the cell one step
    /// at a time through `flowLength` steps, each step's tensors kept for backward (about 20·H values a
    /// position); and recall accuracy read on batches of 256 without gradients, which measured 4.8 GB at
    /// H = 256 and length 2,048 (about 9·H values a position: the input projection of every step and the
    /// outputs, with what the allocator keeps from training).
    static func memoryStudy(hidden: Int, flowLength: Int, longestLength: Int) -> MemoryEstimate {
        let h = Double(hidden), classes = Double(MemoryExperiment.recallClasses)
        let parameters = Double(RecurrentLayer.parameterCount(.lstm, inputSize: MemoryExperiment.inputSize, hiddenSize: hidden)) + h * classes + classes
        let training = 64 * Double(longestLength) * (recurrentValuesPerUnit * h + 2 * Double(MemoryExperiment.inputSize))
        let flow = 64 * Double(flowLength) * 20 * h
        let accuracy = 256 * Double(longestLength) * 9 * h
        return MemoryEstimate(parameters: parameters, activations: max(training, flow, accuracy))
    }
}
