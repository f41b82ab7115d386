// `recurrent`: a thin command-line shell over the library. No training or kernel logic lives here.

import ArgumentParser
import Foundation
import Recurrent

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct RecurrentCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "recurrent",
        abstract: "Sequence models (RNN, LSTM, GRU) trained and run fast on the CPU.",
        discussion: """
            Environment: RECURRENT_THREADS (threads for the kernels), RECURRENT_BACKEND (auto, swift or blas), \
            RECURRENT_BLAS_LIBRARY (a CBLAS library file to try first), RECURRENT_POOL (spin or dispatch: how work \
            is handed to the threads), RECURRENT_MEMORY_LIMIT (bytes, or e.g. 8G: what a charlm, sentiment or \
            translate training run, or the memory study, may plan to use; default 90 % of the machine's memory).
            """,
        version: recurrentVersion,
        subcommands: [TourCommand.self, TrainCommand.self, EvaluateCommand.self, PredictCommand.self, CaptionCommand.self, TranslateCommand.self, SampleCommand.self, MemoryCommand.self, GatesCommand.self, SummaryCommand.self, InfoCommand.self, BenchCommand.self, SaveLoopCommand.self, ResumeCheckCommand.self])

    public init() {}

    /// Parses `arguments`, runs the command and returns the process exit status: 0 on success, 2 for anything
    /// the user typed or supplied wrong (with a message naming it), 1 for other failures.
    public static func run(arguments: [String]) -> Int32 {
        do {
            try checkHelpTopic(arguments)
            var command = try parseAsRoot(arguments)
            // A bad value in the environment is an error, unless the command line gives the setting it is for.
            let overridden = (command as? ComputeCommand)?.compute.overriddenVariables ?? []
            for problem in ComputeSettings.environmentProblems where !overridden.contains(problem.variable) {
                throw UsageError("environment: \(problem)")
            }
            try command.run()
            return 0
        } catch {
            let status = exitStatus(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if status == 0 {
                    print(message)
                } else {
                    writeToStandardError("recurrent: " + message + "\n")
                }
            }
            return status
        }
    }

    /// `help NAME…` must name a command at each level: ArgumentParser answers an unknown name (`help frobnicate`,
    /// `help train bogus`) with the nearest help it has and status 0, as if the command existed.
    static func checkHelpTopic(_ arguments: [String]) throws {
        guard arguments.first == "help" else { return }
        var commands = configuration.subcommands
        var path: [String] = []
        for name in arguments.dropFirst() {
            if name.hasPrefix("-") { break }
            // `help help` is ArgumentParser's own and prints the overview.
            if path.isEmpty && name == "help" { return }
            let names = commands.map { $0._commandName }
            guard let index = names.firstIndex(of: name) else {
                let visible = zip(commands, names).filter { $0.0.configuration.shouldDisplay }.map(\.1)
                if path.isEmpty {
                    throw UsageError("help: '\(name)' is not a command; the commands are \(visible.joined(separator: ", "))")
                }
                let parent = path.joined(separator: " ")
                throw UsageError(visible.isEmpty
                    ? "help: '\(parent)' has no subcommands, so '\(name)' names none"
                    : "help: '\(name)' is not a command of '\(parent)'; its commands are \(visible.joined(separator: ", "))")
            }
            path.append(name)
            commands = commands[index].configuration.subcommands
        }
    }

    /// 2 for usage and input errors (including ArgumentParser's validation errors, 64 by default), else the
    /// error's own code.
    public static func exitStatus(for error: Error) -> Int32 {
        // A bad input file is the user's input too: name it and exit 2.
        if error is UsageError || error is TaskError || error is SafeTensorsError || error is DataFileError || error is ParameterLoadingError
            || error is LogFileError || error is NonFiniteScores { return 2 }
        let code = exitCode(for: error)
        if code == .validationFailure { return 2 }
        return code.rawValue
    }
}

/// A problem with what the user typed or supplied: printed with the thing at fault, exit status 2.
public struct UsageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Creates the folder an --out option names (with its parents), or throws a usage error saying why it cannot.
func createOutputFolder(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw UsageError("--out \(path): cannot create the folder (\(folderProblem(path, creatingParents: true)))")
    }
}

func writeToStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}
