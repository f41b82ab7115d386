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
if fflush(stdout) != 0 || ferror(stdout) != 0 {
    let reason = String(cString: strerror(errno))
    fputs("recurrent: cannot write to standard output: \(reason)\n", stderr)
    if status == 0 { status = 1 }
}
exit(status)
