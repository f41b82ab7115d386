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
    static let blockBytes = 40 << 20   // above glibc's largest dynamic mmap threshold (32 MB on 64-bit)
    static var pages: Int { blockBytes / 4096 }
    /// A fresh mapping faults at least once per 2 MB even when transparent huge pages are always on.
    static var fewestFreshFaults: Int { blockBytes / (2 << 20) }

    func threadMinorFaults() -> Int {
        var usage = rusage()
        let thisThread = __rusage_who_t(1)   // RUSAGE_THREAD, which the Glibc module leaves out
        getrusage(thisThread, &usage)
        return usage.ru_minflt
    }

    /// Page faults taken while allocating, writing and freeing one block.
    func faultsForOneBlock() -> Int {
        let before = threadMinorFaults()
        let block = malloc(Self.blockBytes)!.bindMemory(to: UInt8.self, capacity: Self.blockBytes)
        // One write per page, and a sum read back that the test checks, so the optimiser keeps the block.
        var sum = 0
        for page in 0..<Self.pages { block[page * 4096] = UInt8(truncatingIfNeeded: page) }
        for page in 0..<Self.pages { sum &+= Int(block[page * 4096]) }
        free(block)
        let faults = threadMinorFaults() - before
        #expect(sum == (0..<Self.pages).reduce(0) { $0 &+ Int(UInt8(truncatingIfNeeded: $1)) })
        return faults
    }

    @Test func aFreedBlockIsReusedWithoutPageFaults() throws {
        try #require(getenv("GLIBC_TUNABLES") == nil, "the user's GLIBC_TUNABLES decide the allocator here")
        if !MemoryRetention.isKeepingFreedMemory {
            // The allocator's defaults: every block is a fresh mapping, faulted in page by page.
            _ = faultsForOneBlock()
            #expect(faultsForOneBlock() >= Self.fewestFreshFaults)
            #expect(MemoryRetention.keepFreedMemory())
        }
        _ = faultsForOneBlock()   // the first block grows the heap once
        let faults = faultsForOneBlock()
        #expect(faults < Self.fewestFreshFaults / 2, "\(faults) page faults for a block of \(Self.pages) pages that was freed just before")
    }
}
#endif
