import Testing
import Foundation
import Dispatch
#if canImport(FoundationXML)
import FoundationXML
#endif
import RecurrentCLI
import Recurrent

/// Runs the built `recurrent` executable when it is present next to the test bundle, capturing its output.
/// With `timeout`, a run that takes longer is killed (and fails its test) instead of hanging the suite. With
/// `addressSpaceKilobytes`, it runs under that `ulimit -v`.
func runRecurrent(_ arguments: [String], environment: [String: String] = [:], timeout: Double? = nil, standardOutput: FileHandle? = nil,
                  addressSpaceKilobytes: Int? = nil) throws -> (status: Int32, output: String, error: String)? {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [bundle.appendingPathComponent("recurrent"), bundle.deletingLastPathComponent().appendingPathComponent("recurrent")]
    guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        // `swift test` builds the executable beside the tests; its absence is a broken build, not a skip.
        Issue.record("the recurrent executable was not found next to \(bundle.path)")
        return nil
    }
    let process = Process()
    if let addressSpaceKilobytes {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(addressSpaceKilobytes) && exec \"$0\" \"$@\"", executable.path] + arguments
    } else {
        process.executableURL = executable
        process.arguments = arguments
    }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe(), error = Pipe()
    process.standardOutput = standardOutput ?? output
    process.standardError = error
    try process.run()
    // Killed by the watchdog, the run ends with SIGTERM's status, which the caller's status check reports.
    let watchdog = DispatchWorkItem { [process] in
        if process.isRunning { process.terminate() }
    }
    if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
    if standardOutput != nil { try output.fileHandleForWriting.close() }
    let outputData = standardOutput == nil ? output.fileHandleForReading.readDataToEndOfFile() : Data()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.cancel()
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
}

@Suite struct CommandLineTests {
    /// Output that cannot be written (a full disk) fails the command, saying why, instead of exiting 0.
    @Test func unwritableOutputIsAFailure() throws {
        guard let full = FileHandle(forWritingAtPath: "/dev/full") else { return }   // Linux's always-full device
        defer { try? full.close() }
        guard let result = try runRecurrent(["info"], standardOutput: full) else { return }
        #expect(result.status == 1, "status \(result.status): \(result.error)")
        #expect(result.error.contains("cannot write to standard output"), "\(result.error)")
    }

    @Test(arguments: [
        ["info", "--threads", "0"], ["info", "--threads=-3"], ["info", "--threads", "lots"], ["info", "--backend", "cuda"],
        ["bench", "gemm", "--threads", "1,0"], ["bench", "gemm", "--shapes", "5x"], ["bench", "gemm", "--shapes", "0"],
        ["bench", "gemm", "--shapes", "8x20x12:nx"], ["bench", "gemm", "--shapes", "8x20x12:nt:tn"],
        ["bench", "gemm", "--implementations", "mkl"], ["bench", "gemm", "--rounds", "-1"], ["no-such-command"],
        ["bench", "rnn", "--cases", "lstm:z"], ["bench", "rnn", "--cases", "lstm:4x2x3x5"], ["bench", "rnn", "--cases", "lstm:4x2x0x5x1"],
        ["bench", "rnn", "--cases", "mlp:4x2x3x5x1"], ["bench", "rnn", "--cases", "gru:4x2x3x5x99"],
        ["bench", "rnn", "--cases", "lstm:100000x100000x100000x100000x16"], ["bench", "rnn", "--modes", "fly"], ["bench", "rnn", "--iterations", "0"], ["bench", "rnn", "--rounds", "0"],
        ["bench", "gates", "--hidden", "0"], ["bench", "gates", "--hidden", "16,,8"], ["bench", "gates", "--rounds", "0"], ["gates", "--sentence", "hello"],
        ["bench", "gemm", "--shapes", ","], ["bench", "gemm", "--implementations", ""], ["bench", "rnn", "--cases", ""], ["bench", "rnn", "--modes", ","],
        // A parameter count past Int's range, and a forget bias whose label went through Int().
        ["summary", "--input-size", "1000000", "lstm:1000000x1000000:bi"], ["summary", "--input-size", "8", "gru:1000000x1000000", "dense:1000000"],
        ["memory", "--forget-bias=1e19"], ["memory", "--lengths", "4,,8"], ["memory", "--lengths", "4,"],
        // A --data-dir without the tour's four datasets is refused before any chapter runs.
        ["tour", "--data-dir", "/tmp", "--out", "/tmp/never-a-tour"],
        ["_train-digits", "--data", "/nonexistent.csv", "--epochs", "1", "--weights", "/tmp/never-written.safetensors"],
        ["_train-digits", "--data", "x.csv", "--epochs=-1", "--weights", "w"],
        // Help on a command that does not exist is an error, not the overview.
        ["help", "frobnicate"], ["help", "train", "bogus"], ["help", "bench", "gpu"],
    ])
    func badInputExitsWithStatusTwo(arguments: [String]) {
        #expect(RecurrentCommand.run(arguments: arguments) == 2)
    }

    @Test func helpAndVersionSucceed() {
        #expect(RecurrentCommand.run(arguments: ["--version"]) == 0)
        #expect(RecurrentCommand.run(arguments: ["bench", "gemm", "--help"]) == 0)
        for topic in [["help"], ["help", "train"], ["help", "bench", "gemm"], ["help", "help"], ["help", "summary", "--help"]] {
            #expect(RecurrentCommand.run(arguments: topic) == 0, "\(topic)")
        }
    }

    @Test func processReportsBadInputWithoutTrapping() throws {
        guard let result = try runRecurrent(["info", "--backend", "gpu"]) else { return }
        #expect(result.status == 2)
        #expect(result.error.contains("unknown GEMM backend 'gpu'"), "\(result.error)")
        guard let environment = try runRecurrent(["info"], environment: ["RECURRENT_THREADS": "-4"]) else { return }
        #expect(environment.status == 2)
        #expect(environment.error.contains("RECURRENT_THREADS") || environment.error.contains("invalid thread count '-4'"), "\(environment.error)")
        // The command line's own --threads (or --backend) stands in for the variable, whose bad value then does not matter.
        guard let overridden = try runRecurrent(["info", "--threads", "1", "--backend", "swift"], environment: ["RECURRENT_THREADS": "abc", "RECURRENT_BACKEND": "gpu"]) else { return }
        #expect(overridden.status == 0, "\(overridden.error)")
        guard let halfOverridden = try runRecurrent(["info", "--threads", "1"], environment: ["RECURRENT_BACKEND": "gpu"]) else { return }
        #expect(halfOverridden.status == 2 && halfOverridden.error.contains("RECURRENT_BACKEND=gpu"), "\(halfOverridden.error)")
        guard let vectors = try runRecurrent(["info"], environment: ["RECURRENT_SIMD": "avx1024"]) else { return }
        #expect(vectors.status == 2 && vectors.error.contains("RECURRENT_SIMD=avx1024"), "\(vectors.error)")
        guard let narrow = try runRecurrent(["info"], environment: ["RECURRENT_SIMD": "avx2"]) else { return }
        #expect(narrow.status == 0 && !narrow.output.contains("GEMM micro-kernel: 16 × Float32"), "\(narrow.output)")
        // A negative number after an option is that option's value, checked like any other (not "Missing value").
        guard let negative = try runRecurrent(["info", "--threads", "-1"]) else { return }
        #expect(negative.status == 2)
        #expect(negative.error.contains("invalid thread count '-1'"), "\(negative.error)")
        guard let epochs = try runRecurrent(["train", "digits", "--epochs", "-3", "--out", "/nonexistent/never"]) else { return }
        #expect(epochs.status == 2)
        #expect(epochs.error.contains("--epochs -3"), "\(epochs.error)")
        // An --out that cannot be a folder (it lies under a file) fails before the minutes of training, not after.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-file-\(UUID().uuidString)").path
        try #require(FileManager.default.createFile(atPath: file, contents: Data("not a folder".utf8)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        for command in ["memory", "gates"] {
            guard let late = try runRecurrent([command, "--out", file + "/plots"]) else { return }
            #expect(late.status == 2)
            #expect(late.error.contains("\(file) is a file"), "\(late.error)")
            #expect(!late.output.contains("Training"), "\(command) trained before finding --out unusable")
        }
    }

    /// Far more threads than cores: the pool runs the parts on at most one thread per core. With a spinning worker
    /// per part, a one-epoch run took minutes; it takes a fraction of a second (60 s is the hang guard, not a timing).
    @Test func moreThreadsThanCoresDoesNotStall() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-threads-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        guard let result = try runRecurrent(["train", "digits", "--epochs", "2", "--threads", "1024", "--out", folder.path, "--quiet"], timeout: 60) else { return }
        #expect(result.status == 0, "\(result.error)")
    }

    /// A library named by RECURRENT_BLAS_LIBRARY that cannot be used is reported, with the loader's reason.
    @Test func infoSaysWhyTheNamedBLASWasNotUsed() throws {
        guard let result = try runRecurrent(["info"], environment: ["RECURRENT_BLAS_LIBRARY": "/nonexistent/libcblas.so"]) else { return }
        #expect(result.status == 0)
        // Only when another BLAS loaded instead; with none, the backend line says so in its own words.
        if result.output.contains(" found") {
            #expect(result.output.contains("RECURRENT_BLAS_LIBRARY not used: /nonexistent/libcblas.so:"), "\(result.output)")
        }
    }

    @Test func infoNamesBackendThreadsSIMDAndFMA() throws {
        guard let result = try runRecurrent(["info", "--threads", "1", "--backend", "swift"]) else { return }
        #expect(result.status == 0)
        for field in ["Recurrent 0.1.0", "backend    swift: forced by setting", "threads    1 of", "SIMD", "FMA"] {
            #expect(result.output.contains(field), "missing \(field) in:\n\(result.output)")
        }
    }

    /// The executable keeps freed memory: on its main thread a 40 MB block freed and allocated again takes almost
    /// no page faults. A malloc setting in GLIBC_TUNABLES leaves the allocator alone, and there (an mmap threshold
    /// of 1 MB) every page of the block faults in again, which shows the count is real.
    @Test func infoShowsAFreedBlockReusedWithoutPageFaults() throws {
        func reportedFaults(_ environment: [String: String]) throws -> Int? {
            guard let result = try runRecurrent(["info"], environment: environment) else { return nil }
            #expect(result.status == 0)
            let line = result.output.split(separator: "\n").first { $0.contains("freed and allocated again") }
            let count = line?.split(separator: ":").last?.split(separator: " ").first.flatMap { Int($0) }
            #expect(count != nil, "no page-fault count in:\n\(result.output)")
            return count
        }
        let userTunables = ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? ""
        if !userTunables.contains("malloc"), let kept = try reportedFaults([:]) {
            #expect(kept < 10, "\(kept) page faults for a block freed just before")
        }
        if let fresh = try reportedFaults(["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1048576"]) {
            #expect(fresh >= 20, "only \(fresh) page faults for a fresh 40 MB mapping")
        }
    }

    /// Under `ulimit -v` an allocation past the limit stops the process. A run planned past it used to start,
    /// write its run folder and abort in its first batch; the plan counts the limit now, and refuses the run before
    /// anything is written.
    @Test func addressSpaceLimitBoundsTheMemoryPlan() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-ulimit-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        guard let result = try runRecurrent(["train", "charlm", "--set", "hidden=2048", "--set", "batch=64", "--set", "sequence=400", "--epochs", "1", "--out", folder],
                                            timeout: 120, addressSpaceKilobytes: 3_000_000) else { return }
        #expect(result.status == 2, "status \(result.status): \(result.error)")
        #expect(result.error.contains("address-space limit (ulimit -v)") && result.error.contains("lower --set"), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: folder), "the refused run left \(folder)")
    }

    /// `--implementations blas` where no BLAS loads leaves nothing to time: a usage error naming why, not an empty
    /// table with status 0. Where one loads, its row.
    @Test func benchGEMMOfAMissingBLASIsAnError() throws {
        guard let result = try runRecurrent(["bench", "gemm", "--implementations", "blas", "--shapes", "8", "--threads", "1", "--rounds", "1", "--json"]) else { return }
        if result.error.contains("no system BLAS loads") {
            #expect(result.status == 2 && result.output.isEmpty, "status \(result.status): \(result.output)")
            #expect(result.error.contains("--implementations blas") && result.error.contains("nothing to time"), "\(result.error)")
        } else {
            #expect(result.status == 0 && result.output.contains("\"impl\":\"blas\""), "\(result.error)")
        }
    }

    @Test func benchGEMMPrintsOneJSONObjectPerMeasurement() throws {
        guard let result = try runRecurrent(["bench", "gemm", "--json", "--shapes", "40,8x20x12:nt", "--threads", "1", "--rounds", "1"]) else { return }
        #expect(result.status == 0, "\(result.error)")
        let lines = result.output.split(separator: "\n")
        // Two shapes, one thread count: swift, swift-prepacked, blas when one loads, and swift-avx2 when the Swift
        // kernel uses AVX-512.
        let implementations = (result.error.contains("no system BLAS") ? 2 : 3) + (ComputeSettings.usesAVX512 ? 1 : 0)
        #expect(lines.count == 2 * implementations)
        var seen: Set<String> = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["bench"] as? String == "gemm")
            let implementation = object?["impl"] as? String ?? ""
            #expect(["swift", "swift-avx2", "swift-prepacked", "blas"].contains(implementation))
            seen.insert(implementation)
            #expect((object?["gflops"] as? Double).map { $0 > 0 } == true)
            #expect(object?["threads"] as? Int == 1)
            // The transposed form is named; the plain one keeps the documented fields only.
            #expect(object?["form"] as? String == (object?["m"] as? Int == 8 ? "nt" : nil))
        }
        #expect(seen.count == implementations)
        #expect(result.error.contains("self-check"), "\(result.error)")
    }

    /// A shape of one's own, CELL:TxBxIxHxL, runs beside the standard ones and keeps its sizes in the JSON.
    @Test func benchRNNTakesAShapeOfOnesOwn() throws {
        guard let result = try runRecurrent(["bench", "rnn", "--json", "--cases", "gru:7x3x5x4x2,lstm:a", "--modes", "infer", "--iterations", "1",
                                             "--python", "none"]) else { return }
        #expect(result.status == 0, "\(result.error)")
        let objects = try result.output.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 2)
        let own = try #require(objects.first ?? nil)
        #expect(own["cell"] as? String == "gru" && own["shape"] as? String == "7x3x5x4x2")
        #expect(own["T"] as? Int == 7 && own["B"] as? Int == 3 && own["I"] as? Int == 5 && own["H"] as? Int == 4 && own["L"] as? Int == 2)
        #expect((own["ms"] as? Double).map { $0 > 0 } == true)
    }

    /// Hidden sizes 3 and 9 send every pass through its zero-padded tail group as well as a whole one.
    @Test func benchGatesChecksThenTimesEachPassBesideItsReference() throws {
        guard let result = try runRecurrent(["bench", "gates", "--json", "--hidden", "3,9", "--rounds", "1"]) else { return }
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("self-check: vector gate passes against the scalar references, 8 cases"), "\(result.error)")
        let objects = try result.output.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        // Two cells × two passes × two sizes, each timed as reference and AVX2 (and AVX-512 where the CPU has it).
        let implementations = KernelInfo.avx512Usable ? 3 : 2
        #expect(objects.count == 8 * implementations)
        var seen: Set<String> = []
        for object in objects {
            #expect(object?["bench"] as? String == "gates")
            #expect((object?["ns_per_unit"] as? Double).map { $0 > 0 } == true)
            seen.insert("\(object?["cell"] ?? "") \(object?["pass"] ?? "") \(object?["hidden"] ?? "") \(object?["impl"] ?? "")")
        }
        #expect(seen.count == 8 * implementations)
        #expect(seen.contains("lstm forward 9 avx2"))
        if KernelInfo.avx512Usable { #expect(seen.contains("gru backward 3 avx512")) }
    }

    /// `bench rnn` asks the PyTorch script for one measurement at a time, beside ours. A stand-in for Python speaks
    /// the script's protocol (ready, then one reply per request, each taking 1,000 ms, after a stray line of output
    /// that must be passed over) and logs every request, so the test sees one request per round and measurement,
    /// the request fields, and the ratio computed from the replies.
    @Test func benchRNNAsksPyTorchBesideEachMeasurement() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-rnn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let requestLog = folder.appendingPathComponent("requests.jsonl"), fakePython = folder.appendingPathComponent("python")
        try """
            #!/bin/sh
            echo '{"ready": true}'
            while IFS= read -r line; do
              echo "$line" >> '\(requestLog.path)'
              echo 'a warning some library printed'
              case "$line" in *'"infer"'*) mode=infer;; *'"train+dx"'*) mode=train+dx;; *) mode=train;; esac
              echo "{\\"cell\\": \\"lstm\\", \\"shape\\": \\"a\\", \\"mode\\": \\"$mode\\", \\"ms\\": 1000.0}"
            done
            """.write(to: fakePython, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fakePython.path)
        guard let result = try runRecurrent(["bench", "rnn", "--json", "--cases", "lstm:a", "--modes", "infer,train", "--iterations", "2",
                                             "--rounds", "3", "--python", fakePython.path], timeout: 120) else { return }
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("alternating with ours over 3 rounds"), "\(result.error)")
        let requests = try String(contentsOf: requestLog, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(requests.map { ($0?["modes"] as? [String])?.first } == ["infer", "infer", "infer", "train", "train", "train"])
        #expect(requests.allSatisfy { $0?["T"] as? Int == 64 && $0?["H"] as? Int == 16 && $0?["threads"] as? Int == 1 && $0?["iterations"] as? Int == 2 })
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let ms = try #require(object?["ms"] as? Double), ratio = try #require(object?["ratio"] as? Double)
            #expect(object?["torch_ms"] as? Double == 1000 && object?["rounds"] as? Int == 3)
            // Each round against the FMA peak measured just before it: a positive share, not past the machine.
            #expect((object?["peak_share"] as? Double).map { $0 > 0 && $0 < 1.5 } == true, "\(line)")
            // PyTorch's share of the same peaks: its 1000 ms against our ms, so about ours × ms / 1000 (each a median
            // over rounds whose peaks differ, hence the factor of 1.5 either way).
            let torchShare = try #require(object?["torch_peak_share"] as? Double), peakShare = try #require(object?["peak_share"] as? Double)
            let expected = peakShare * ms / 1000
            #expect(torchShare > expected / 1.5 && torchShare < expected * 1.5, "PyTorch's share \(torchShare) against ours \(peakShare) at \(ms) ms")
            // Ours take well under a second, so each round's ratio is ours / 1000 and their median follows ours'.
            #expect(abs(ratio - ms / 1000) < 1e-3 * max(1, ms), "ratio \(ratio) for \(ms) ms against 1000 ms")
            // The rounds' range brackets their median (all three printed to 3 decimals).
            let low = try #require(object?["ratio_min"] as? Double), high = try #require(object?["ratio_max"] as? Double)
            #expect(low <= ratio + 1e-3 && ratio <= high + 1e-3 && low <= high, "range \(low)–\(high) around \(ratio)")
        }
    }
}

@Suite struct SummaryCommandTests {
    @Test func lectureLSTMSummary() throws {
        guard let result = try runRecurrent(["summary", "--input-size", "32", "lstm:16"]) else { return }
        #expect(result.status == 0)
        #expect(result.output.contains("3136"))
        #expect(result.output.contains("4 × (32·16 + 16·16 + 16) = 3136"))
        #expect(result.output.contains("PyTorch counts 3200"))
    }

    @Test(arguments: [["summary", "--input-size", "32", "lsmt:16"], ["summary", "lstm:16"], ["summary"], ["summary", "--input-size", "0", "gru:4"], ["summary", "--input-size", "4", "gru:4:sideways"]])
    func badSpecsExitTwo(arguments: [String]) {
        #expect(RecurrentCommand.run(arguments: arguments) == 2)
    }
}

@Suite struct CrashSafetyTests {
    /// kill -9 in the middle of rewriting a checkpoint, twenty times: the file at the path always loads.
    @Test func killDuringSaveLeavesALoadableCheckpoint() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("last.safetensors").path
        guard let first = try runRecurrent(["_checkpoint-save-loop", "--path", path, "--count", "1"]) else { return }
        #expect(first.status == 0, "\(first.error)")
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let executable = [bundle.appendingPathComponent("recurrent"), bundle.deletingLastPathComponent().appendingPathComponent("recurrent")]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }!
        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            let process = Process()
            process.executableURL = executable
            process.arguments = ["_checkpoint-save-loop", "--path", path]
            try process.run()
            usleep(UInt32.random(in: 20_000...150_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the writer was not killed")
            let model = Sequential([Dense(inputSize: 256, outputSize: 256, seed: 1), Dense(inputSize: 256, outputSize: 256, seed: 2)])
            let optimizer = Adam()
            let trainer = Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(epochs: 1, batchSize: 1))
            #expect(throws: Never.self, "round \(round)") {
                try Checkpoint.load(from: path, model: model, optimizer: optimizer, trainer: trainer, configuration: "dense:256x256 (save-loop test)")
            }
        }
    }
}

@Suite struct ResumeAcrossProcessesTests {
    /// 4 epochs in one process, and 2 + checkpoint + a new process that loads it + 2 more: the same bytes.
    @Test func resumedRunIsBitIdentical() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/data/digits8x8/digits_train.csv").path
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        for arguments in [
            ["--epochs", "4", "--weights", path("straight.safetensors")],
            ["--epochs", "2", "--save", path("half.safetensors"), "--weights", path("first.safetensors")],
            ["--epochs", "4", "--resume", path("half.safetensors"), "--weights", path("resumed.safetensors")],
        ] {
            guard let result = try runRecurrent(["_train-digits", "--data", data] + arguments) else { return }
            #expect(result.status == 0, "\(arguments): \(result.error)")
        }
        // And mid-epoch: 50 steps straight (an epoch is 36) against 23 + save + new process + 27.
        for arguments in [
            ["--epochs", "5", "--steps", "50", "--weights", path("steps-straight.safetensors")],
            ["--epochs", "5", "--steps", "23", "--save", path("steps-half.safetensors"), "--weights", path("steps-first.safetensors")],
            ["--epochs", "5", "--steps", "50", "--resume", path("steps-half.safetensors"), "--weights", path("steps-resumed.safetensors")],
        ] {
            guard let result = try runRecurrent(["_train-digits", "--data", data] + arguments) else { return }
            #expect(result.status == 0, "\(arguments): \(result.error)")
        }
        let stepsStraight = try Data(contentsOf: URL(fileURLWithPath: path("steps-straight.safetensors")))
        #expect(stepsStraight == (try Data(contentsOf: URL(fileURLWithPath: path("steps-resumed.safetensors")))), "mid-epoch resume differs")
        #expect(stepsStraight != (try Data(contentsOf: URL(fileURLWithPath: path("steps-first.safetensors")))))
        let straight = try Data(contentsOf: URL(fileURLWithPath: path("straight.safetensors")))
        let resumed = try Data(contentsOf: URL(fileURLWithPath: path("resumed.safetensors")))
        let first = try Data(contentsOf: URL(fileURLWithPath: path("first.safetensors")))
        #expect(straight == resumed, "weights differ after resuming in a new process")
        #expect(straight != first, "the second half changed nothing: the test would prove nothing")
    }
}

@Suite struct TourTests {
    @Test func tourRunsEveryChapterAndWritesAWellFormedReport() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-tour-\(UUID().uuidString)").path
        guard let result = try runRecurrent(["tour", "--threads", "2", "--out", folder]) else { return }
        #expect(result.status == 0, "\(result.error)")
        for text in ["caught, 12 of 12", "4 × (32·16 + 16·16 + 16) = 3136", "gradient check through time with lengths: passed",
                     "digits: accuracy", "sentiment: accuracy", "action: accuracy", "caption: bleu4", "translate: bleu4", "charlm: nats_per_char",
                     "LSTM (forget bias 3), T = 64", "(0.8, 0.0, 0.2, 1.0) ⊙ (2, 1, 3, 5) = (1.6, 0, 0.6, 5)", "Report: \(folder)/report.html"] {
            #expect(result.output.contains(text), "missing '\(text)'")
        }
        let html = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)
        // Well-formed: the report is written as XHTML-compatible markup, so an XML parser must accept all of it.
        let parser = XMLParser(data: Data(html.utf8))
        #expect(parser.parse(), "report.html is not well-formed: \(parser.parserError.map { "\($0)" } ?? "") at line \(parser.lineNumber)")
        for section in ["machine", "one-to-one", "many-to-one-sentiment", "many-to-one-action", "one-to-many", "many-to-many", "char-level",
                        "parameters", "memory", "gates", "order-matters"] {
            #expect(html.contains("<section id=\"\(section)\">"), "section \(section) missing")
        }
        // Every plot inline, none fetched; the memory plots with their axes and legends.
        #expect(html.components(separatedBy: "<figure class=\"plot\">").count - 1 >= 15)
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") })
        for text in ["time step t", "gradient norm (log scale)", "LSTM (forget bias 3), init", "sequence length T", "recall accuracy (%)", "chance",
                     "forget gate f", "source words"] {
            #expect(html.contains(text), "report lacks '\(text)'")
        }
    }
}
