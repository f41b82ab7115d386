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
}
