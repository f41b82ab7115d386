// What the kernels were compiled with, for `recurrent info` and benchmark headers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RecurrentAVX512

public enum KernelInfo {
    /// Float32 lanes per SIMD vector that the GEMM micro-kernel uses.
    public static let simdLanes = 8

    /// Whether this build can emit fused multiply-add instructions (x86_64 needs an FMA target; arm64 always can).
    public static var fmaCompiledIn: Bool {
        #if arch(arm64)
        return true
        #elseif RECURRENT_X86_FMA
        return true
        #else
        return false
        #endif
    }

    /// Whether this CPU and its operating system run AVX-512F code (the GEMM micro-kernel's wide form).
    public static let avx512Usable: Bool = recurrent_avx512_usable()

    /// The instruction set the vectors map to.
    public static var simdDescription: String {
        #if arch(arm64)
        return "\(simdLanes) × Float32 as two 128-bit NEON registers"
        #elseif arch(x86_64) && RECURRENT_X86_FMA
        let gemm = ComputeSettings.usesAVX512
            ? "; GEMM micro-kernel: 16 × Float32 in 512-bit AVX-512 registers (found at run time)"
            : avx512Usable ? "; AVX-512 present but turned off (RECURRENT_SIMD=avx2)" : ""
        return "\(simdLanes) × Float32 in one 256-bit AVX2 register (x86-64-v3)" + gemm
        #else
        return "\(simdLanes) × Float32, no vector FMA target"
        #endif
    }

    public static var isDebugBuild: Bool {
        #if DEBUG
        return true
        #else
        return false
        #endif
    }

    /// The processor's name and whether it reports AVX2 and FMA (Linux: /proc/cpuinfo), or nil when unknown.
    public static var processor: (name: String, hasAVX2AndFMA: Bool)? {
        #if os(Linux)
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var name = "unknown", flags: Set<Substring> = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingSpaces, value = parts[1].trimmingSpaces
            if key == "model name", name == "unknown" { name = String(value) }
            if key == "flags", flags.isEmpty { flags = Set(value.split(separator: " ")) }
            if name != "unknown", !flags.isEmpty { break }
        }
        return (name, flags.contains("avx2") && flags.contains("fma"))
        #else
        return nil
        #endif
    }
}

/// The measured peak of this core's FMA units: twelve independent vector FMA chains, enough to cover the
/// latency on current x86 and ARM cores, on the widest vectors the GEMM uses (AVX-512 when it is on).
public enum MachinePeak {
    /// GFLOP/s of one thread running only FMAs for about `seconds`.
    public static func measureSingleCore(seconds: Double = 0.2) -> Double {
        let wide = ComputeSettings.usesAVX512
        let lanes = wide ? 16 : KernelInfo.simdLanes
        var iterations = 1 << 20
        while true {
            let start = monotonicSeconds()
            let checksum = wide ? recurrent_avx512_fma_loop(iterations) : fmaLoop(iterations: iterations)
            let elapsed = monotonicSeconds() - start
            if checksum.isNaN { return 0 }   // keeps the loop's result alive
            if elapsed >= seconds || iterations >= 1 << 34 {
                return Double(iterations) * 12 * Double(lanes) * 2 / elapsed / 1e9
            }
            iterations *= elapsed > 0 ? Swift.max(2, Int(seconds / elapsed * 1.2)) : 16
        }
    }

    /// GFLOP/s of the GEMM's micro-kernel alone for about `seconds`: one full tile (6 × 32 on AVX-512, 6 × 16 on
    /// AVX2) over a depth block, again and again on the same packed panels and C tile (39 KB on AVX-512: in L1 where
    /// it holds that much, else L2). No packing, no misses past L2, no edges: the most any product built from these
    /// tiles can reach, as a share of `measureSingleCore`'s peak (the rest of a product's time goes to packing and to
    /// waiting on memory).
    public static func measureMicroKernel(seconds: Double = 0.2) -> Double {
        let wide = ComputeSettings.usesAVX512 && KernelInfo.avx512Usable
        let depth = GEMM.depthBlock, rows = GEMM.microRows, columns = (wide ? 2 : 1) * GEMM.microColumns
        let a = UnsafeMutablePointer<Float>.allocate(capacity: rows * depth), b = UnsafeMutablePointer<Float>.allocate(capacity: columns * depth)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        // Small values whose sums stay far from overflow however many times the tile adds onto C.
        for index in 0..<(rows * depth) { a[index] = Float(index % 7) * 1e-3 }
        for index in 0..<(columns * depth) { b[index] = Float(index % 5) * 1e-3 }
        c.initialize(repeating: 0, count: rows * columns)
        func tiles(_ count: Int) {
            for _ in 0..<count {
                if wide {
                    recurrent_avx512_gemm_tile(Int32(rows), 2, depth, a, 1, rows, b, b + GEMM.microColumns * depth, c, columns, 1, b, b)
                } else {
                    GEMM.microKernel(depth: depth, a: a, b: b, c: c, ldc: columns, beta: 1)
                }
            }
        }
        var count = 256
        while true {
            let start = monotonicSeconds()
            tiles(count)
            let elapsed = monotonicSeconds() - start
            if c[0].isNaN { return 0 }   // keeps the tiles' results alive
            if elapsed >= seconds || count >= 1 << 30 {
                return Double(count) * 2 * Double(rows * columns * depth) / elapsed / 1e9
            }
            count *= elapsed > 0 ? Swift.max(2, Int(seconds / elapsed * 1.2)) : 16
        }
    }

    @inline(never)
    static func fmaLoop(iterations: Int) -> Float {
        typealias V = SIMD8<Float>
        let a = V(repeating: 0.999_999), b = V(repeating: 1e-7)
        var c0 = V(repeating: 0), c1 = V(repeating: 1), c2 = V(repeating: 2), c3 = V(repeating: 3)
        var c4 = V(repeating: 4), c5 = V(repeating: 5), c6 = V(repeating: 6), c7 = V(repeating: 7)
        var c8 = V(repeating: 8), c9 = V(repeating: 9), c10 = V(repeating: 10), c11 = V(repeating: 11)
        for _ in 0..<iterations {
            c0 = c0.addingProduct(a, b); c1 = c1.addingProduct(a, b); c2 = c2.addingProduct(a, b)
            c3 = c3.addingProduct(a, b); c4 = c4.addingProduct(a, b); c5 = c5.addingProduct(a, b)
            c6 = c6.addingProduct(a, b); c7 = c7.addingProduct(a, b); c8 = c8.addingProduct(a, b)
            c9 = c9.addingProduct(a, b); c10 = c10.addingProduct(a, b); c11 = c11.addingProduct(a, b)
        }
        let total = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11
        return total.sum()
    }
}

/// Seconds on a monotonic clock.
public func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
