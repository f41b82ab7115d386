// Splitting work over the machine's cores.

import Dispatch

/// Runs `body(part)` for part in 0..<parts, on up to `parts` threads at once; inline when parts == 1.
///
/// The body must only touch memory no other part touches. Callers pass raw pointers in, so the closure is
/// `@Sendable` by promise rather than by proof: every caller splits its output into disjoint ranges.
public func parallelFor(parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 {
        if parts == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: parts) { box.value($0) }
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
