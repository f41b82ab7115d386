import RecurrentCLI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

exit(RecurrentCommand.run(arguments: Array(CommandLine.arguments.dropFirst())))
