// Options every command that computes shares: threads and GEMM backend.

import ArgumentParser
import Recurrent

struct ComputeOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Threads for the kernels (default: RECURRENT_THREADS or all cores).", valueName: "n"))
    var threads: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("GEMM backend: auto (system BLAS when found), swift or blas (default: RECURRENT_BACKEND or auto).", valueName: "name"))
    var backend: String?

    func validate() throws {
        if let threads {
            do { _ = try ComputeSettings.parseThreads(threads) } catch { throw ValidationError("--threads: \(error)") }
        }
        if let backend {
            do { _ = try GEMMBackendPreference(parsing: backend) } catch { throw ValidationError("--backend: \(error)") }
        }
    }

    /// The environment variables these options stand in for when given.
    var overriddenVariables: [String] {
        (threads == nil ? [] : ["RECURRENT_THREADS"]) + (backend == nil ? [] : ["RECURRENT_BACKEND"])
    }

    /// Applies the options to the process-wide settings.
    func apply() throws {
        do {
            if let threads { try ComputeSettings.setThreads(ComputeSettings.parseThreads(threads)) }
            if let backend { try ComputeSettings.setBackend(GEMMBackendPreference(parsing: backend)) }
        } catch {
            throw UsageError("\(error)")
        }
    }
}

/// A command with the compute options (`--threads`, `--backend`).
protocol ComputeCommand: ParsableCommand {
    var compute: ComputeOptions { get }
}
