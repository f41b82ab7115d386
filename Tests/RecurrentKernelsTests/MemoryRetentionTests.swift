import Testing
@testable import RecurrentKernels
#if canImport(Glibc)
import Glibc
#endif

#if canImport(Glibc)
/// `MemoryRetention.keepFreedMemory()` in this process: with the allocator's defaults a large block is a fresh
/// mapping every time, and the call sets the thresholds. Whether a freed block then comes back without page faults
/// is checked on the main thread of the `recurrent` executable (`CommandLineTests`): test functions run on pool
/// threads, whose glibc arenas unmap a block that overflowed their heap whatever the thresholds.
@Suite struct MemoryRetentionTests {
    /// A fresh mapping faults at least once per 2 MB, even when transparent huge pages are always on.
    static func fewestFreshFaults(_ bytes: Int) -> Int { bytes / (2 << 20) }

    @Test(.enabled(if: !(getenv("GLIBC_TUNABLES").map { String(cString: $0).contains("malloc") } ?? false),
                   "the user's GLIBC_TUNABLES decide the allocator"))
    func defaultsMapALargeBlockAfreshAndTheThresholdsAreSet() throws {
        if !MemoryRetention.isKeepingFreedMemory {
            let faults = try #require(MemoryRetention.pageFaultsReallocating(bytes: MemoryRetention.probeBytes))
            #expect(faults >= Self.fewestFreshFaults(MemoryRetention.probeBytes))
            #expect(MemoryRetention.keepFreedMemory())
        }
        let threshold = try #require(MemoryRetention.mmapThreshold)
        #expect(MemoryRetention.mmapThresholdChoices.contains(threshold))
    }
}
#endif
