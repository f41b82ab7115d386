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
