// `recurrent info`: what this build and machine will compute with.

import ArgumentParser
import Recurrent

struct InfoCommand: ComputeCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print the version, GEMM backend (and why), threads, SIMD width and FMA support.")

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        try compute.apply()
        for line in Self.report() { print(line) }
    }

    static func report() -> [String] {
        var lines = ["Recurrent \(recurrentVersion)\(KernelInfo.isDebugBuild ? " (debug build: kernels run far below speed)" : "")"]
        let blasLocation = SystemBLAS.shared.map { " [\($0.path)]" } ?? ""
        lines.append("  backend    \(ComputeSettings.activeBackend): \(ComputeSettings.backendReason)\(ComputeSettings.activeBackend == .blas ? blasLocation : "")")
        if ComputeSettings.activeBackend == .swift, let blas = SystemBLAS.shared {
            lines.append("             (also available: \(blas.versionDescription) [\(blas.path)])")
        }
        if ComputeSettings.backendPreference == .automatic && ComputeSettings.activeBackend == .blas {
            if SystemBLAS.shared?.kernelsKeepUpWithOurs == false {
                lines.append("             (auto: the Swift kernel for every product: this BLAS's kernels use narrower vectors than ours)")
            } else {
                lines.append("             (auto: the Swift kernel, measured faster or even, except for weight gradients Aᵀ·B deeper than \(GEMM.shallowDepthLimit))")
            }
        }
        lines.append("  recurrent  steps multiply by weights packed once per sequence on the Swift kernel (BLAS would repack them each step)")
        lines.append("  memory     " + (MemoryRetention.mmapThreshold.map {
            "freed blocks stay in the process (glibc mmap threshold \($0 >> 20) MB, trim threshold \(MemoryRetention.trimThreshold >> 20) MB)"
        } ?? "the allocator's defaults"))
        // Measured here, on the main thread, where commands allocate their tensors.
        if let faults = MemoryRetention.pageFaultsReallocating(bytes: MemoryRetention.probeBytes) {
            lines.append("             (a \(MemoryRetention.probeBytes >> 20) MB block freed and allocated again: \(faults) page faults)")
        }
        lines.append("  threads    \(ComputeSettings.threads) of \(ComputeSettings.processorCount) processors")
        lines.append("  SIMD       \(KernelInfo.simdDescription)")
        lines.append("  FMA        \(KernelInfo.fmaCompiledIn ? "compiled in" : "not compiled in (addingProduct falls back to a library call)")")
        if let processor = KernelInfo.processor {
            lines.append("  CPU        \(processor.name)\(processor.hasAVX2AndFMA ? " (AVX2 and FMA)" : " (no AVX2/FMA reported)")")
        }
        return lines
    }
}
