// Packing buffers for the blocked GEMM, kept between calls: a fresh multi-megabyte allocation each call would
// be a fresh mmap, and touching it page by page costs more than packing small matrices.

import Synchronization

struct GEMMScratch: @unchecked Sendable {
    let a: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>
    let edge: UnsafeMutablePointer<Float>
    let aCapacity: Int
    let bCapacity: Int

    private static let pool = Mutex<[GEMMScratch]>([])
    /// One set per thread that may run a GEMM at once is plenty; more would only hold memory.
    private static let poolLimit = 8

    /// Buffers of at least these sizes (in floats), 64-byte aligned.
    static func take(aCount: Int, bCount: Int) -> GEMMScratch {
        let reused: GEMMScratch? = pool.withLock { free in
            guard let index = free.firstIndex(where: { $0.aCapacity >= aCount && $0.bCapacity >= bCount }) else {
                return nil
            }
            return free.remove(at: index)
        }
        if let reused { return reused }
        return GEMMScratch(aCapacity: aCount, bCapacity: bCount)
    }

    static func give(_ scratch: GEMMScratch) {
        let evicted: GEMMScratch? = pool.withLock { free in
            free.append(scratch)
            // Keep the largest sets: they serve every smaller request too.
            guard free.count > poolLimit else { return nil }
            let smallest = free.indices.min { free[$0].aCapacity + free[$0].bCapacity < free[$1].aCapacity + free[$1].bCapacity }!
            return free.remove(at: smallest)
        }
        evicted?.deallocate()
    }

    private init(aCapacity: Int, bCapacity: Int) {
        self.aCapacity = aCapacity
        self.bCapacity = bCapacity
        a = Self.allocate(aCapacity)
        b = Self.allocate(bCapacity)
        edge = Self.allocate(GEMM.microRows * GEMM.microColumns)
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    private func deallocate() {
        a.deallocate()
        b.deallocate()
        edge.deallocate()
    }
}
