// Splitting work over the machine's cores.
//
// The recurrent kernels split one small GEMM per time step over the cores: hundreds of fork–joins a training
// step, each worth ~0.1 ms of work. Waking a sleeping thread costs tens of microseconds (Dispatch measured
// here: ~7 % of a char-LM step in the kernel's wake-up paths alone), so `parallelFor` hands parts to a pool of
// persistent workers that spin briefly between jobs before they sleep.

import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(part)` for part in 0..<parts, on up to `parts` threads at once; inline when parts == 1.
///
/// The body must only touch memory no other part touches. Callers pass raw pointers in, so the closure is
/// `@Sendable` by promise rather than by proof: every caller splits its output into disjoint ranges.
/// A `parallelFor` inside another's body, or from a second thread while the pool is busy, goes to Dispatch.
public func parallelFor(parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 {
        if parts == 1 { body(0) }
        return
    }
    if useDispatch || !WorkerPool.shared.run(parts: parts, body) {
        // The reference, and the way for a caller that finds the pool busy (another thread's job, or a part of
        // one calling parallelFor again): Dispatch still spreads its parts over the cores.
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: parts) { box.value($0) }
        }
    }
}
/// Read once: `RECURRENT_POOL=dispatch` (see `ComputeSettings.handsPartsToDispatch`). Both give the same results,
/// since parts never share output.
let useDispatch = ComputeSettings.handsPartsToDispatch

/// Persistent worker threads taking parts of one job at a time.
///
/// A job is published as a ticket: generation (high bits), part count and next unclaimed part (low bits).
/// Whoever claims a part does so by compare-and-swap on the ticket, so a worker that read a job's closure
/// pointer uses it only if its claim succeeded, which proves the job was still running when it read the pointer.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    private static let partBits = 16
    private static let generationMask = (1 << 31) - 1
    private static let partMask = (1 << partBits) - 1
    /// The cores this process may run on (at least 1).
    private static let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// How long an idle worker watches for the next job before it sleeps, in nanoseconds.
    private static let spinNanoseconds: UInt64 = 200_000

    private let ticket = Atomic<Int>(0)
    private let jobBody = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let workerCount = Atomic<Int>(0)
    // Heap-allocated: pthread objects must not move, and `&storedProperty` may pass a temporary.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var generation = 0

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    /// Runs the job on the pool; false (nothing run) when the pool is taken by another job.
    func run(parts: Int, _ body: (Int) -> Void) -> Bool {
        guard parts <= Self.partMask, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        // Never more threads than cores: parts are claimed by whoever is free, so fewer threads still run them all,
        // while a worker per part past the cores (--threads 1024 on two) spun 0.2 ms each after every job and
        // stretched a translation from a second to many minutes.
        ensureWorkers(min(parts, Self.cores) - 1)
        withoutActuallyEscaping(body) { body in
            var closure = body
            withUnsafeMutablePointer(to: &closure) { pointer in
                generation = (generation + 1) & Self.generationMask
                completed.store(0, ordering: .sequentiallyConsistent)
                jobBody.store(Int(bitPattern: UnsafeMutableRawPointer(pointer)), ordering: .sequentiallyConsistent)
                ticket.store(generation << (2 * Self.partBits) | parts << Self.partBits, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(condition)
                    pthread_mutex_unlock(mutex)
                }
                takeParts()
                while completed.load(ordering: .acquiring) < parts { spinPause() }
            }
        }
        return true
    }

    /// Claims and runs parts of the current job until none is left.
    private func takeParts() {
        while true {
            let current = ticket.load(ordering: .sequentiallyConsistent)
            let parts = (current >> Self.partBits) & Self.partMask, next = current & Self.partMask
            guard next < parts else { return }
            let address = jobBody.load(ordering: .sequentiallyConsistent)
            guard ticket.compareExchange(expected: current, desired: current + 1, ordering: .sequentiallyConsistent).exchanged else { continue }
            let body = UnsafeMutableRawPointer(bitPattern: address)!.assumingMemoryBound(to: ((Int) -> Void).self)
            body.pointee(next)
            completed.add(1, ordering: .releasing)
        }
    }

    private func ensureWorkers(_ wanted: Int) {
        while workerCount.load(ordering: .relaxed) < wanted {
            workerCount.add(1, ordering: .relaxed)
            let context = Unmanaged.passRetained(self).toOpaque()
            #if canImport(Darwin)
            var thread: pthread_t?
            let created = pthread_create(&thread, nil, { context in
                Unmanaged<WorkerPool>.fromOpaque(context).takeRetainedValue().workerLoop()
                return nil
            }, context)
            #else
            var thread = pthread_t()
            let created = pthread_create(&thread, nil, { context in
                Unmanaged<WorkerPool>.fromOpaque(context!).takeRetainedValue().workerLoop()
                return nil
            }, context)
            #endif
            // Without another thread the caller still runs every part itself (takeParts claims them all).
            guard created == 0 else { Unmanaged<WorkerPool>.fromOpaque(context).release(); return }
            #if canImport(Darwin)
            pthread_detach(thread!)
            #else
            pthread_detach(thread)
            #endif
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            // Spin on the ticket for a while; sleep on the condition when no job comes.
            var started: UInt64 = 0, spins = 0
            while ticket.load(ordering: .sequentiallyConsistent) >> (2 * Self.partBits) == seen {
                spins += 1
                // Yielding now and then leaves the core to any other runnable thread (another caller's work) while
                // costing an idle machine only a syscall; without it the suite's concurrent tests ran 1.8x slower.
                if spins & 63 == 0 { sched_yield() }
                if spins & 255 == 0 {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if started == 0 { started = now } else if now - started > Self.spinNanoseconds { sleepUntilNewJob(after: seen); break }
                }
                spinPause()
            }
            seen = ticket.load(ordering: .sequentiallyConsistent) >> (2 * Self.partBits)
            takeParts()
        }
    }

    private func sleepUntilNewJob(after seen: Int) {
        pthread_mutex_lock(mutex)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while ticket.load(ordering: .sequentiallyConsistent) >> (2 * Self.partBits) == seen {
            pthread_cond_wait(condition, mutex)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }

    @inline(__always)
    private func spinPause() {
        // No pause intrinsic in Swift; an empty atomic fence keeps the loop from being folded away.
        atomicMemoryFence(ordering: .acquiring)
    }
}

/// Splits `count` items into at most `parts` contiguous ranges whose bounds are multiples of `granularity`
/// (except the last bound, which is `count`). Fewer ranges come back when there is too little to split.
public func splitRanges(count: Int, parts: Int, granularity: Int) -> [Range<Int>] {
    guard count > 0 else { return [] }
    let units = (count + granularity - 1) / granularity
    let parts = max(1, min(parts, units))
    var ranges: [Range<Int>] = []
    ranges.reserveCapacity(parts)
    var startUnit = 0
    for part in 0..<parts {
        let endUnit = startUnit + units / parts + (part < units % parts ? 1 : 0)
        ranges.append(min(count, startUnit * granularity)..<min(count, endUnit * granularity))
        startUnit = endUnit
    }
    return ranges
}

/// Wraps a value that the caller promises is used safely across threads (disjoint writes through pointers).
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}

/// Stops the program with `message` when `condition` is false. Unlike `precondition`, whose message an
/// optimised build drops, this prints it in every build: it names the op, the tensors and the shapes at fault.
@inline(__always)
package func require(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
