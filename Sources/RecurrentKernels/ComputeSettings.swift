// Process-wide compute settings: how many threads the kernels may use, which GEMM backend runs, and whether
// the Swift GEMM's micro-kernel uses 512-bit vectors.
//
// They start from the environment (RECURRENT_THREADS, RECURRENT_BACKEND, RECURRENT_BLAS_LIBRARY, RECURRENT_SIMD)
// and can be
// changed at run time (the CLI's --threads and --backend). A bad environment value never traps: the library
// falls back to the default and remembers why, and the CLI turns that into an error with exit code 2.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Which matrix-multiply implementation runs.
public enum GEMMBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The package's own blocked SIMD kernel (always available).
    case swift
    /// A system BLAS loaded at run time (OpenBLAS or another CBLAS on Linux, Accelerate on Apple platforms).
    case blas

    public var description: String { rawValue }
}

/// What the user asked for: a backend, or `automatic` (BLAS when one is found, else Swift).
public enum GEMMBackendPreference: Sendable, Equatable, CustomStringConvertible {
    case automatic
    case forced(GEMMBackend)

    /// Parses `auto`, `swift` or `blas` (any case).
    public init(parsing text: String) throws(ComputeSettingsError) {
        switch text.lowercased() {
        case "auto", "automatic": self = .automatic
        case "swift": self = .forced(.swift)
        case "blas": self = .forced(.blas)
        default: throw .unknownBackend(text)
        }
    }

    public var description: String {
        switch self {
        case .automatic: "auto"
        case .forced(let backend): backend.rawValue
        }
    }
}

public enum ComputeSettingsError: Error, Equatable, CustomStringConvertible {
    case unknownBackend(String)
    case invalidThreadCount(String)
    case blasUnavailable(String)
    case unknownPool(String)
    case unknownVectorWidth(String)
    case avx512Unavailable

    public var description: String {
        switch self {
        case .unknownBackend(let name):
            "unknown GEMM backend '\(name)': expected one of swift, blas, auto"
        case .invalidThreadCount(let text):
            "invalid thread count '\(text)': expected a whole number from 1 to \(ComputeSettings.maximumThreads)"
        case .blasUnavailable(let why):
            "the BLAS backend was requested but no system BLAS could be loaded: \(why)"
        case .unknownPool(let name):
            "unknown RECURRENT_POOL '\(name)': expected spin or dispatch"
        case .unknownVectorWidth(let name):
            "unknown vector width '\(name)': expected avx512, avx2 or auto"
        case .avx512Unavailable:
            "AVX-512 was requested but this CPU (or its operating system) does not offer it"
        }
    }
}

/// The process-wide settings. All members are safe to call from any thread.
public enum ComputeSettings {
    /// More threads than this is surely a typo, and would only oversubscribe the machine.
    public static let maximumThreads = 1024

    private struct State {
        var threads: Int
        var preference: GEMMBackendPreference
        var environmentProblems: [EnvironmentProblem]
        var dispatchPool: Bool
        var avx512: Bool
    }

    private static let state: Mutex<State> = Mutex(readEnvironment())
    /// Read on every GEMM call, so an atomic rather than the lock; starts from the environment.
    private static let avx512Switch = Atomic<Bool>(state.withLock { $0.avx512 })

    /// The number of online processors, at least 1.
    public static var processorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Threads the kernels split work over (1 means everything runs on the calling thread).
    public static var threads: Int {
        state.withLock { $0.threads }
    }

    /// Sets the thread count; throws for anything outside 1...maximumThreads.
    public static func setThreads(_ count: Int) throws(ComputeSettingsError) {
        guard (1...maximumThreads).contains(count) else { throw .invalidThreadCount(String(count)) }
        // Not passed on to OpenBLAS: every call runs it on one thread and splits the product over ours. Resizing
        // its pool (64 threads, each reserving a large buffer) could hang at exit under a memory limit.
        state.withLock { $0.threads = count }
    }

    /// Parses a thread count as the user typed it.
    public static func parseThreads(_ text: String) throws(ComputeSettingsError) -> Int {
        guard let count = Int(text.trimmingSpaces), (1...maximumThreads).contains(count) else {
            throw .invalidThreadCount(text)
        }
        return count
    }

    public static var backendPreference: GEMMBackendPreference {
        state.withLock { $0.preference }
    }

    /// Chooses the backend. Forcing `.blas` when none can be loaded throws and leaves the setting as it was.
    public static func setBackend(_ preference: GEMMBackendPreference) throws(ComputeSettingsError) {
        if preference == .forced(.blas), SystemBLAS.shared == nil {
            throw .blasUnavailable(SystemBLAS.searchReport)
        }
        state.withLock { $0.preference = preference }
    }

    /// The backend that GEMM calls use now.
    public static var activeBackend: GEMMBackend {
        switch backendPreference {
        case .forced(let backend): return backend == .blas && SystemBLAS.shared == nil ? .swift : backend
        case .automatic: return SystemBLAS.shared == nil ? .swift : .blas
        }
    }

    /// Why the active backend is the one it is, for `recurrent info`.
    public static var backendReason: String {
        let found = SystemBLAS.shared
        let customNote = SystemBLAS.customLibraryProblem.map { " (RECURRENT_BLAS_LIBRARY not used: \($0))" } ?? ""
        switch (backendPreference, found) {
        case (.forced(.swift), _): return "forced by setting: Swift SIMD kernels"
        case (.forced(.blas), let blas?): return "forced by setting: \(blas.versionDescription)" + customNote
        case (.forced(.blas), nil): return "BLAS forced but none loads (\(SystemBLAS.searchReport)): Swift SIMD kernels"
        case (.automatic, let blas?): return "\(blas.versionDescription) found" + customNote
        case (.automatic, nil): return "no system BLAS: Swift SIMD kernels"
        }
    }

    /// Whether the Swift GEMM multiplies with the AVX-512 micro-kernel (16 lanes, twice AVX2's FMA work per
    /// instruction), and the gate passes and the RNN's activations run in AVX-512 registers (the same bits as
    /// their AVX2 forms). On by default wherever the CPU offers it; RECURRENT_SIMD=avx2 or `setAVX512(false)` turns
    /// it off, which the tests and the GEMM benchmark use to compare the two.
    public static var usesAVX512: Bool {
        avx512Switch.load(ordering: .relaxed)
    }

    /// Turns the AVX-512 micro-kernel on or off; asking for it on a CPU without it throws and changes nothing.
    public static func setAVX512(_ on: Bool) throws(ComputeSettingsError) {
        if on && !KernelInfo.avx512Usable { throw .avx512Unavailable }
        avx512Switch.store(on, ordering: .relaxed)
    }

    /// Whether `parallelFor` hands parts to Dispatch (RECURRENT_POOL=dispatch, the reference the spinning
    /// worker pool is measured against) instead of the pool. Read once, from the environment.
    public static var handsPartsToDispatch: Bool {
        state.withLock { $0.dispatchPool }
    }

    /// A RECURRENT_* environment variable whose value could not be used (the default was used instead).
    public struct EnvironmentProblem: Sendable, CustomStringConvertible {
        public let variable: String
        public let value: String
        public let problem: String
        public var description: String { "\(variable)=\(value): \(problem)" }
    }

    /// Problems found in RECURRENT_* environment variables, each naming its variable.
    public static var environmentProblems: [EnvironmentProblem] {
        state.withLock { $0.environmentProblems }
    }

    private static func readEnvironment() -> State {
        var problems: [EnvironmentProblem] = []
        var threads = processorCount
        if let text = environmentValue("RECURRENT_THREADS") {
            do { threads = try parseThreads(text) } catch { problems.append(EnvironmentProblem(variable: "RECURRENT_THREADS", value: text, problem: "\(error)")) }
        }
        var preference = GEMMBackendPreference.automatic
        if let text = environmentValue("RECURRENT_BACKEND") {
            do { preference = try GEMMBackendPreference(parsing: String(text.trimmingSpaces)) } catch {
                problems.append(EnvironmentProblem(variable: "RECURRENT_BACKEND", value: text, problem: "\(error)"))
            }
        }
        var dispatchPool = false
        if let text = environmentValue("RECURRENT_POOL") {
            switch text.trimmingSpaces {
            case "spin": dispatchPool = false
            case "dispatch": dispatchPool = true
            default: problems.append(EnvironmentProblem(variable: "RECURRENT_POOL", value: text, problem: "\(ComputeSettingsError.unknownPool(text))"))
            }
        }
        var avx512 = KernelInfo.avx512Usable
        if let text = environmentValue("RECURRENT_SIMD") {
            switch text.trimmingSpaces.lowercased() {
            case "auto": break
            case "avx2": avx512 = false
            case "avx512" where KernelInfo.avx512Usable: avx512 = true
            case "avx512": problems.append(EnvironmentProblem(variable: "RECURRENT_SIMD", value: text, problem: "\(ComputeSettingsError.avx512Unavailable)"))
            default: problems.append(EnvironmentProblem(variable: "RECURRENT_SIMD", value: text, problem: "\(ComputeSettingsError.unknownVectorWidth(text))"))
            }
        }
        return State(threads: threads, preference: preference, environmentProblems: problems, dispatchPool: dispatchPool, avx512: avx512)
    }
}

func environmentValue(_ name: String) -> String? {
    guard let raw = getenv(name) else { return nil }
    let value = String(cString: raw)
    return value.isEmpty ? nil : value
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and newlines (Foundation stays out of the kernels).
    var trimmingSpaces: SubSequence {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
