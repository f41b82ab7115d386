// Keeping freed tensor memory in the process instead of handing it back to the kernel.
//
// A training step allocates and frees the same large buffers (gates, cell states, gradients: 0.5–30 MB each)
// every iteration. glibc serves blocks above its mmap threshold with a fresh mmap and unmaps them on free, and
// trims the heap top above its trim threshold, so the next step faults every page back in and the kernel zeroes
// it. Measured on LSTM shape a (`bench rnn`, 1 thread): 40,000–130,000 page faults per 1,000 iterations, about
// a tenth of the profile and a quarter of the inference time; with the thresholds raised, 1,900 in all.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization

public enum MemoryRetention {
    /// Blocks below the mmap threshold come from the heap, so a freed one is reused by the next allocation. glibc
    /// 2.36 accepts the first value; older releases refuse anything above 32 MB (half their largest heap), so
    /// the second is the fallback.
    static let mmapThresholdChoices = [256 << 20, 32 << 20]
    /// Free memory at the heap top is returned to the system only beyond this much.
    public static let trimThreshold = 1 << 30
    /// The mmap threshold set, 0 until `keepFreedMemory()` succeeds.
    private static let mmapThresholdSet = Atomic<Int>(0)

    /// Whether `keepFreedMemory()` set the thresholds in this process.
    public static var isKeepingFreedMemory: Bool { mmapThreshold != nil }
    /// The mmap threshold in force when `keepFreedMemory()` set it.
    public static var mmapThreshold: Int? {
        let value = mmapThresholdSet.load(ordering: .relaxed)
        return value > 0 ? value : nil
    }

    /// Raises glibc's mmap and trim thresholds for this process (Linux; elsewhere it does nothing and returns
    /// false). The memory kept is bounded by the peak the process already reached. A `GLIBC_TUNABLES` setting
    /// that names malloc is the user's own choice and is left alone. Returns whether both thresholds were set.
    ///
    /// The thresholds govern the main thread's arena, where the command line allocates its tensors. A block
    /// allocated on another thread that overflows that thread's 64 MB heap still gets a heap of its own, which
    /// glibc unmaps on free whatever the thresholds.
    @discardableResult
    public static func keepFreedMemory() -> Bool {
        #if canImport(Glibc)
        if let tunables = getenv("GLIBC_TUNABLES"), String(cString: tunables).contains("malloc") { return false }
        // malloc.h is not part of the Glibc module: mallopt is looked up by name, with malloc.h's option numbers.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let (trimThresholdOption, mmapThresholdOption): (Int32, Int32) = (-1, -3)   // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        guard let threshold = mmapThresholdChoices.first(where: { mallopt(mmapThresholdOption, Int32($0)) == 1 }),
              mallopt(trimThresholdOption, Int32(trimThreshold)) == 1 else { return false }
        mmapThresholdSet.store(threshold, ordering: .relaxed)
        return true
        #else
        return false
        #endif
    }

    /// The block `info` allocates twice to show the setting at work: above glibc's largest dynamic mmap threshold
    /// (32 MB on 64-bit), so with the defaults it is a fresh mapping, faulted in page by page — unless the arena's
    /// free top already holds that much (glibc serves a request from the top before it considers mmap), which a
    /// process that has just started, as `info` has, does not.
    public static let probeBytes = 40 << 20

    /// Minor page faults this thread takes to allocate a block of `bytes`, write one byte per page and free it,
    /// measured on a second round (the first may grow the heap). With freed memory kept it is near zero on the main
    /// thread, about `bytes / 4096` otherwise; nil where the count is unavailable (not Linux).
    /// On another thread it depends on that thread's arena (see `keepFreedMemory()`).
    public static func pageFaultsReallocating(bytes: Int) -> Int? {
        #if canImport(Glibc)
        func threadMinorFaults() -> Int {
            var usage = rusage()
            getrusage(__rusage_who_t(1), &usage)   // RUSAGE_THREAD, which the Glibc module leaves out
            return usage.ru_minflt
        }
        let pageSize = 4096
        var faults = 0
        for _ in 0..<2 {
            let before = threadMinorFaults()
            guard let raw = malloc(bytes) else { return nil }
            let block = raw.bindMemory(to: UInt8.self, capacity: bytes)
            for page in stride(from: 0, to: bytes, by: pageSize) { block[page] = UInt8(truncatingIfNeeded: page >> 12) }
            // Read back and checked, so the optimiser cannot drop the writes as dead before the free.
            var intact = true
            for page in stride(from: 0, to: bytes, by: pageSize) { intact = intact && block[page] == UInt8(truncatingIfNeeded: page >> 12) }
            free(raw)
            guard intact else { return nil }
            faults = threadMinorFaults() - before
        }
        return faults
        #else
        return nil
        #endif
    }
}
