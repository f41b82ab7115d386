import Dispatch
import Testing
@testable import RecurrentKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The worker pool behind `parallelFor`: every part runs exactly once, whether the workers are spinning, asleep
/// (woken by the next job), nested inside a part, or asked from several threads at once (the pool takes one job at
/// a time; the others go to Dispatch).
@Suite struct ParallelTests {
    /// Runs `parallelFor(parts:)` and returns how many times each part ran.
    func runCounts(_ parts: Int, inner: Int = 0) -> [Int] {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: parts)
        counts.initialize(repeating: 0, count: parts)
        defer { counts.deallocate() }
        let box = UncheckedSendable(counts)
        parallelFor(parts: parts) { part in
            var innerRuns = 0
            if inner > 0 {
                // A nested call finds the pool busy and goes to Dispatch; its body still sees each part once.
                let seen = UnsafeMutablePointer<Int>.allocate(capacity: 1)
                seen.initialize(to: 0)
                let seenBox = UncheckedSendable(seen)
                parallelFor(parts: inner) { _ in seenBox.value.pointee += 1 }
                innerRuns = seen.pointee
                seen.deallocate()
            }
            box.value[part] += inner > 0 && innerRuns != inner ? 100 : 1
        }
        return Array(UnsafeBufferPointer(start: counts, count: parts))
    }

    @Test func everyPartRunsExactlyOnce() {
        for parts in [2, 3, 7, 64, 1000] {
            for _ in 0..<200 { #expect(runCounts(parts) == Array(repeating: 1, count: parts)) }
        }
    }

    @Test func sleepingWorkersWakeForTheNextJob() {
        // Longer than the workers' spin, so each job finds them asleep.
        for _ in 0..<20 {
            usleep(2_000)
            #expect(runCounts(4) == [1, 1, 1, 1])
        }
    }

    @Test func nestedCallsComplete() {
        for _ in 0..<50 { #expect(runCounts(5, inner: 6) == Array(repeating: 1, count: 5)) }
    }

    @Test func callsFromSeveralThreadsAtOnceAllComplete() {
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        failures.initialize(repeating: 0, count: 4)
        defer { failures.deallocate() }
        let box = UncheckedSendable(failures)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<300 where runCounts(3 + round % 5, inner: round % 3) != Array(repeating: 1, count: 3 + round % 5) {
                box.value[caller] += 1
            }
        }
        #expect(Array(UnsafeBufferPointer(start: failures, count: 4)) == [0, 0, 0, 0])
    }
}
