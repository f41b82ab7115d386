// Observers of the fit loop: progress on the terminal, and metrics logs.

import Foundation
import RecurrentKernels

/// Progress on standard error: a live bar (epoch, step/total, loss, rate, ETA) redrawn at most ten times a
/// second when standard error is a terminal (and TERM is not "dumb" and CI is unset); otherwise one plain
/// line per epoch, so logs stay readable.
public final class ProgressReporter: TrainingObserver {
    public let isInteractive: Bool
    private let write: (String) -> Void
    private var epochs = 0, stepsPerEpoch = 0
    private var epochStart = 0.0, lastDraw = 0.0
    private var runningLoss = 0.0, batchesInEpoch = 0

    /// `interactive` defaults to what the environment says; `write` defaults to standard error.
    public init(interactive: Bool? = nil, write: ((String) -> Void)? = nil) {
        let environment = ProcessInfo.processInfo.environment
        isInteractive = interactive ?? (isatty(2) == 1 && environment["TERM"] != "dumb" && environment["CI"] == nil)
        // Progress is a courtesy: a closed or full standard error must not stop (or crash) the training.
        self.write = write ?? { text in try? FileHandle.standardError.write(contentsOf: Data(text.utf8)) }
    }

    public func handle(_ event: TrainingEvent) -> TrainingDecision {
        switch event {
        case .started(let epochs, let stepsPerEpoch):
            self.epochs = epochs
            self.stepsPerEpoch = stepsPerEpoch
            epochStart = monotonicSeconds()
        case .batchEnded(let epoch, _, let stepInEpoch, let loss, _):
            if stepInEpoch == 1 { epochStart = monotonicSeconds(); runningLoss = 0; batchesInEpoch = 0 }
            runningLoss += loss
            batchesInEpoch += 1
            let now = monotonicSeconds()
            guard isInteractive, now - lastDraw >= 0.1 || stepInEpoch == stepsPerEpoch else { break }
            lastDraw = now
            let elapsed = now - epochStart
            let rate = Double(stepInEpoch) / Swift.max(elapsed, 1e-9)
            let remaining = Double(stepsPerEpoch - stepInEpoch) / Swift.max(rate, 1e-9)
            let width = 24, filled = width * stepInEpoch / Swift.max(1, stepsPerEpoch)
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            write("\r\u{1B}[2Kepoch \(epoch + 1)/\(epochs) \(bar) \(stepInEpoch)/\(stepsPerEpoch)  loss \(Self.number(runningLoss / Double(batchesInEpoch)))  \(Self.number(rate)) steps/s  ETA \(Self.number(remaining))s")
        case .epochEnded(let epoch, _, let training, let validation):
            var line = "epoch \(epoch)/\(epochs): loss \(Self.number(training.loss))"
            if let accuracy = training.accuracy { line += ", accuracy \(Self.percent(accuracy))" }
            if let validation {
                line += "; validation loss \(Self.number(validation.loss))"
                if let accuracy = validation.accuracy { line += ", accuracy \(Self.percent(accuracy))" }
            }
            line += " (\(Self.number(monotonicSeconds() - epochStart))s)"
            write((isInteractive ? "\r\u{1B}[2K" : "") + line + "\n")
        case .finished:
            break
        }
        return .proceed
    }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        return String(format: Swift.abs(value) >= 100 ? "%.0f" : (Swift.abs(value) >= 1 ? "%.3f" : "%.4f"), value)
    }

    static func percent(_ fraction: Double) -> String { String(format: "%.2f%%", 100 * fraction) }
}

/// A log file that cannot be made or written (a full disk, a folder where the file should be), naming it.
public struct LogFileError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "\(file): \(problem)" }
}

/// Metrics per epoch as CSV (epoch, step, loss, accuracy, validation_loss, validation_accuracy) or JSON lines.
public final class MetricsLogger: TrainingObserver {
    public enum Format: Sendable { case csv, jsonLines }
    /// The first line of a CSV log.
    public static let csvHeader = "epoch,step,loss,accuracy,validation_loss,validation_accuracy"
    public let path: String
    public let format: Format
    private let handle: FileHandle

    /// Creates (or truncates) the log file; with `appending`, adds to an existing one (a resumed run).
    public init(path: String, format: Format = .csv, appending: Bool = false) throws(LogFileError) {
        self.path = path
        self.format = format
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue { throw LogFileError(file: path, problem: "is a folder, expected the metrics log file") }
        let continuing = appending && exists
        if !continuing {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw LogFileError(file: path, problem: "cannot create the metrics log file")
            }
        }
        do {
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        } catch {
            throw LogFileError(file: path, problem: "cannot open the metrics log for writing: \(error.localizedDescription)")
        }
        if continuing { try Self.attempt(path) { try handle.seekToEnd() } }
        if format == .csv && !continuing { try write(Self.csvHeader + "\n") }
    }

    /// Runs a file operation, reporting a failure (a full disk) as a `LogFileError` naming the log.
    private static func attempt(_ path: String, _ operation: () throws -> Void) throws(LogFileError) {
        do { try operation() } catch {
            throw LogFileError(file: path, problem: "cannot write the metrics log: \(error.localizedDescription)")
        }
    }

    private func write(_ text: String) throws(LogFileError) {
        try Self.attempt(path) { try handle.write(contentsOf: Data(text.utf8)) }
    }

    deinit { try? handle.close() }

    public func handle(_ event: TrainingEvent) throws -> TrainingDecision {
        guard case .epochEnded(let epoch, let step, let training, let validation) = event else { return .proceed }
        func field(_ value: Double?) -> String { value.map { "\($0)" } ?? "" }
        let line: String
        switch format {
        case .csv:
            line = "\(epoch),\(step),\(training.loss),\(field(training.accuracy)),\(field(validation?.loss)),\(field(validation?.accuracy))\n"
        case .jsonLines:
            var object: [String: Any] = ["epoch": epoch, "step": step, "loss": training.loss]
            if let accuracy = training.accuracy { object["accuracy"] = accuracy }
            if let validation {
                object["validation_loss"] = validation.loss
                if let accuracy = validation.accuracy { object["validation_accuracy"] = accuracy }
            }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            line = String(decoding: data, as: UTF8.self) + "\n"
        }
        try write(line)
        return .proceed
    }
}
