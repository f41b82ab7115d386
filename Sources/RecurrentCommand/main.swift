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
exit(RecurrentCommand.run(arguments: Array(CommandLine.arguments.dropFirst())))
