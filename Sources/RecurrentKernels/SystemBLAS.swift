// An optional system BLAS, found at run time so that the package builds and runs with no system library.
//
// Linux: dlopen of OpenBLAS or any CBLAS (libopenblas.so.0, libblas.so.3, ...); Apple platforms: Accelerate.
// RECURRENT_BLAS_LIBRARY names a library file to try first. Only `cblas_sgemm`/`cblas_dgemm` are used.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A loaded CBLAS library.
public final class SystemBLAS: Sendable {
    // CBLAS's enum values (cblas.h): CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112.
    private static let rowMajor: Int32 = 101
    private static func cblasTranspose(_ transposed: Bool) -> Int32 { transposed ? 112 : 111 }

    private typealias SGEMM = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
        UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32
    ) -> Void
    private typealias DGEMM = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Double, UnsafePointer<Double>?, Int32,
        UnsafePointer<Double>?, Int32, Double, UnsafeMutablePointer<Double>?, Int32
    ) -> Void
    private typealias SetThreads = @convention(c) (Int32) -> Void
    private typealias GetConfig = @convention(c) () -> UnsafePointer<CChar>?

    /// The file that was loaded.
    public let path: String
    /// For example "OpenBLAS 0.3.21" or "CBLAS from libblas.so.3".
    public let versionDescription: String
    /// The vector width of the kernels OpenBLAS picked for this CPU (512, 256 or 128 bits), from their name;
    /// nil for another BLAS or a name we do not know.
    public let kernelVectorBits: Int?
    private let sgemm: SGEMM
    private let dgemm: DGEMM?
    private let setThreadsFunction: SetThreads?
    private let threadsInUse = Atomic<Int>(0)

    private init(path: String, handle: UnsafeMutableRawPointer, sgemm: SGEMM) {
        self.path = path
        self.sgemm = sgemm
        dgemm = dlsym(handle, "cblas_dgemm").map { unsafeBitCast($0, to: DGEMM.self) }
        setThreadsFunction = dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: SetThreads.self) }
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        if let getConfig = dlsym(handle, "openblas_get_config").map({ unsafeBitCast($0, to: GetConfig.self) }),
           let config = getConfig() {
            // "OpenBLAS 0.3.21 NO_AFFINITY Zen MAX_THREADS=64": keep the name and version, and name the kernels
            // it picked for this CPU: an OpenBLAS older than the CPU falls back to much slower ones (0.3.21 runs
            // its SSE3 "Prescott" kernels on a 2023 Xeon unless OPENBLAS_CORETYPE says otherwise).
            let words = String(cString: config).split(separator: " ").prefix(2)
            let core = dlsym(handle, "openblas_get_corename").map { unsafeBitCast($0, to: GetConfig.self) }?().map { String(cString: $0) }
            versionDescription = words.joined(separator: " ") + (core.map { ", \($0) kernels" } ?? "")
            kernelVectorBits = core.flatMap { Self.vectorBits(ofOpenBLASCore: $0) }
        } else if path.contains("Accelerate") {
            versionDescription = "Accelerate"
            kernelVectorBits = nil
        } else {
            versionDescription = "CBLAS from \(fileName)"
            kernelVectorBits = nil
        }
    }

    /// x86 OpenBLAS core names by the vectors their SGEMM kernels use (Sandy Bridge's AVX has no FMA).
    public static func vectorBits(ofOpenBLASCore name: String) -> Int? {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": 512
        case "haswell", "skylake", "zen", "excavator", "steamroller", "piledriver": 256
        case "sandybridge", "nehalem", "prescott", "core2", "penryn", "dunnington", "atom", "katmai", "coppermine",
             "northwood", "banias", "opteron", "barcelona", "bobcat", "bulldozer": 128
        default: nil
        }
    }

    /// Whether its kernels use vectors at least as wide as the Swift kernel's. When they do not (an OpenBLAS
    /// older than the CPU runs its fallback kernels: 25 against our 140 GFLOP/s on a 2023 Xeon), the automatic
    /// backend keeps every product on the Swift kernel.
    public var kernelsKeepUpWithOurs: Bool {
        guard let bits = kernelVectorBits else { return true }   // not known: trust the measured rule
        #if arch(x86_64)
        return bits >= (ComputeSettings.usesAVX512 ? 512 : 256)
        #else
        return true
        #endif
    }

    /// The system BLAS, or nil when none could be loaded. Looked up once.
    public static var shared: SystemBLAS? { loaded.library }
    /// What the search tried and why each candidate failed (empty when one loaded).
    public static var searchReport: String { loaded.library == nil ? loaded.report : "" }
    /// Why the library named by RECURRENT_BLAS_LIBRARY was not used, when it was named and another one loaded.
    public static var customLibraryProblem: String? {
        guard loaded.library != nil, let custom = environmentValue("RECURRENT_BLAS_LIBRARY"), loaded.library?.path != custom else { return nil }
        return loaded.report.split(separator: "; ").map(String.init).first { $0.hasPrefix(custom + ":") } ?? "\(custom): not used"
    }

    private static let loaded: (library: SystemBLAS?, report: String) = search()

    /// Library names tried in order.
    public static var candidatePaths: [String] {
        var paths: [String] = []
        if let custom = environmentValue("RECURRENT_BLAS_LIBRARY") { paths.append(custom) }
        #if canImport(Darwin)
        paths.append("/System/Library/Frameworks/Accelerate.framework/Accelerate")
        #else
        paths += ["libopenblas.so.0", "libopenblas.so", "libblas.so.3", "libcblas.so.3", "libmkl_rt.so"]
        #endif
        return paths
    }

    private static func search() -> (SystemBLAS?, String) {
        var failures: [String] = []
        for path in candidatePaths {
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                // dlerror's text ("PATH: cannot open shared object file: …"), without the path twice or a ';'.
                var reason = dlerror().map { String(String(cString: $0).map { $0 == ";" ? "," : $0 }) } ?? "not found"
                if reason.hasPrefix(path + ": ") { reason.removeFirst(path.count + 2) }
                failures.append("\(path): \(reason)")
                continue
            }
            guard let symbol = dlsym(handle, "cblas_sgemm") else {
                failures.append("\(path): no cblas_sgemm")
                dlclose(handle)
                continue
            }
            let blas = SystemBLAS(path: path, handle: handle, sgemm: unsafeBitCast(symbol, to: SGEMM.self))
            return (blas, failures.joined(separator: "; "))
        }
        return (nil, failures.joined(separator: "; "))
    }

    /// Sets the library's own thread pool size (OpenBLAS only; others ignore it).
    func setThreads(_ count: Int) {
        guard let setThreadsFunction, threadsInUse.load(ordering: .relaxed) != count else { return }
        setThreadsFunction(Int32(clamping: count))
        threadsInUse.store(count, ordering: .relaxed)
    }

    /// BLAS takes 32-bit sizes; larger problems must go to the Swift kernel.
    static func fits(_ values: Int...) -> Bool { values.allSatisfy { $0 <= Int(Int32.max) } }

    /// Row-major C = alpha·op(A)·op(B) + beta·C.
    ///
    /// The library runs single-threaded and the product is split over `threads` of our own, by columns of C
    /// (or rows, when C is narrow). OpenBLAS's own threads spin (sched_yield) between calls while ours do the
    /// elementwise work around them; on two cores that spinning cost a third of a training step.
    public func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        setThreads(1)
        let sgemm = self.sgemm
        Self.split(transposeA: transposeA, transposeB: transposeB, m: m, n: n, lda: lda, ldb: ldb, ldc: ldc, threads: threads) { rows, columns, aOffset, bOffset, cOffset in
            sgemm(
                Self.rowMajor, Self.cblasTranspose(transposeA), Self.cblasTranspose(transposeB),
                Int32(rows), Int32(columns), Int32(k), alpha, a + aOffset, Int32(lda), b + bOffset, Int32(ldb), beta, c + cOffset, Int32(ldc))
        }
    }

    /// Whether `cblas_dgemm` was found too.
    public var hasDoublePrecision: Bool { dgemm != nil }

    /// Row-major Float64 GEMM; only valid when `hasDoublePrecision`.
    func dgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int, threads: Int
    ) {
        guard let dgemm else { return }
        setThreads(1)
        Self.split(transposeA: transposeA, transposeB: transposeB, m: m, n: n, lda: lda, ldb: ldb, ldc: ldc, threads: threads) { rows, columns, aOffset, bOffset, cOffset in
            dgemm(
                Self.rowMajor, Self.cblasTranspose(transposeA), Self.cblasTranspose(transposeB),
                Int32(rows), Int32(columns), Int32(k), alpha, a + aOffset, Int32(lda), b + bOffset, Int32(ldb), beta, c + cOffset, Int32(ldc))
        }
    }

    /// Cuts C into `threads` blocks of whole columns (or whole rows when C has fewer columns than rows) and
    /// calls `body(rows, columns, aOffset, bOffset, cOffset)` for each on its own thread. Blocks are at least
    /// 64 wide, so a small product stays one call.
    static func split(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, lda: Int, ldb: Int, ldc: Int, threads: Int,
        _ body: (Int, Int, Int, Int, Int) -> Void
    ) {
        if n >= m {
            let ranges = splitRanges(count: n, parts: threads, granularity: 64)
            parallelFor(parts: ranges.count) { part in
                let columns = ranges[part]
                body(m, columns.count, 0, transposeB ? columns.lowerBound * ldb : columns.lowerBound, columns.lowerBound)
            }
        } else {
            let ranges = splitRanges(count: m, parts: threads, granularity: 64)
            parallelFor(parts: ranges.count) { part in
                let rows = ranges[part]
                body(rows.count, n, transposeA ? rows.lowerBound : rows.lowerBound * lda, 0, rows.lowerBound * ldc)
            }
        }
    }
}
