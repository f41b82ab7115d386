import Testing
@testable import RecurrentKernels
#if canImport(Glibc)
import Glibc
#endif

#if canImport(Glibc)
/// `MemoryRetention.keepFreedMemory()`: a large block freed and allocated again comes back without the kernel
/// faulting its pages in anew. Counted with this thread's minor page faults, so tests on other threads do not
/// disturb the count.
@Suite struct MemoryRetentionTests {
    /// Above glibc's largest dynamic mmap threshold (32 MB on 64-bit): with the defaults it is always a fresh mapping.
    static let largeBlock = 40 << 20

    /// A fresh mapping faults at least once per 2 MB, even when transparent huge pages are always on.
    static func fewestFreshFaults(_ bytes: Int) -> Int { bytes / (2 << 20) }

    func threadMinorFaults() -> Int {
        var usage = rusage()
        let thisThread = __rusage_who_t(1)   // RUSAGE_THREAD, which the Glibc module leaves out
        getrusage(thisThread, &usage)
        return usage.ru_minflt
    }

    /// Page faults taken while allocating, writing and freeing one block of `bytes`.
    func faultsForOneBlock(_ bytes: Int) -> Int {
        let pages = bytes / 4096
        let before = threadMinorFaults()
        let block = malloc(bytes)!.bindMemory(to: UInt8.self, capacity: bytes)
        // One write per page, and a sum read back that the test checks, so the optimiser keeps the block.
        var sum = 0
        for page in 0..<pages { block[page * 4096] = UInt8(truncatingIfNeeded: page) }
        for page in 0..<pages { sum &+= Int(block[page * 4096]) }
        free(block)
        let faults = threadMinorFaults() - before
        #expect(sum == (0..<pages).reduce(0) { $0 &+ Int(UInt8(truncatingIfNeeded: $1)) })
        return faults
    }

    @Test(.enabled(if: !(getenv("GLIBC_TUNABLES").map { String(cString: $0).contains("malloc") } ?? false),
                   "the user's GLIBC_TUNABLES decide the allocator"))
    func aFreedBlockIsReusedWithoutPageFaults() throws {
        if !MemoryRetention.isKeepingFreedMemory {
            // The allocator's defaults: every large block is a fresh mapping, faulted in page by page.
            _ = faultsForOneBlock(Self.largeBlock)
            #expect(faultsForOneBlock(Self.largeBlock) >= Self.fewestFreshFaults(Self.largeBlock))
            #expect(MemoryRetention.keepFreedMemory())
        }
        let threshold = try #require(MemoryRetention.mmapThreshold)
        // Below the threshold that was set (an older glibc only takes 32 MB).
        let bytes = threshold > Self.largeBlock ? Self.largeBlock : threshold * 3 / 4
        _ = faultsForOneBlock(bytes)   // the first block grows the heap once
        let faults = faultsForOneBlock(bytes)
        #expect(faults < Self.fewestFreshFaults(bytes) / 2, "\(faults) page faults for a block of \(bytes >> 20) MB that was freed just before")
    }
}
#endif
