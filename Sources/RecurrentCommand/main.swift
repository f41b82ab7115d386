import RecurrentCLI
import RecurrentKernels

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

MemoryRetention.keepFreedMemory()
// Progress and benchmark rows appear line by line even when stdout is a file or a pipe (`train … > log`),
// not all at once when the command exits.
setvbuf(stdout, nil, _IOLBF, 0)
var status = RecurrentCommand.run(arguments: Array(CommandLine.arguments.dropFirst()))
// Output that could not be written (a full disk, `> /dev/full`) is a failure, not a silent success.
// A failed line write leaves only the stream's error flag (errno has moved on since), so the reason is known only
// when this last flush is what failed.
let flushFailed = fflush(stdout) != 0
if flushFailed || ferror(stdout) != 0 {
    let reason = flushFailed ? String(cString: strerror(errno)) : "an earlier write failed"
    fputs("recurrent: cannot write to standard output: \(reason)\n", stderr)
    if status == 0 { status = 1 }
}
exit(status)
