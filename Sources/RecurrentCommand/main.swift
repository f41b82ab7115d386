import RecurrentCLI
import RecurrentKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

MemoryRetention.keepFreedMemory()
exit(RecurrentCommand.run(arguments: Array(CommandLine.arguments.dropFirst())))
