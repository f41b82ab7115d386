import Testing
@testable import RecurrentKernels
#if canImport(Glibc)
import Glibc
#endif

#if canImport(Glibc)
/// `MemoryRetention.keepFreedMemory()` in this process: the call sets the thresholds. The page faults they save
/// are counted on the main thread of the `recurrent` executable (`CommandLineTests`), where the setting holds,
/// with the allocator's defaults as the control (every page of the block faults again). Counted here they are not
/// a property of this code: test functions run on pool threads, whose glibc arenas unmap a block that overflowed
/// their heap whatever the thresholds, and a count taken here with the defaults once came out 0 instead of
/// the thousands seen every other time (CI run of session 16).
@Suite struct MemoryRetentionTests {
    @Test(.enabled(if: !(getenv("GLIBC_TUNABLES").map { String(cString: $0).contains("malloc") } ?? false),
                   "the user's GLIBC_TUNABLES decide the allocator"))
    func keepingFreedMemorySetsTheThresholds() throws {
        if !MemoryRetention.isKeepingFreedMemory { #expect(MemoryRetention.keepFreedMemory()) }
        let threshold = try #require(MemoryRetention.mmapThreshold)
        #expect(MemoryRetention.mmapThresholdChoices.contains(threshold))
        // A second call finds them set and sets them again.
        #expect(MemoryRetention.keepFreedMemory())
        #expect(MemoryRetention.mmapThreshold == threshold)
    }
}
#endif
