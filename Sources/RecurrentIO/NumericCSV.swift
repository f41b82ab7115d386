// Numeric CSV files (a header line, then rows of numbers), read strictly: a ragged row, a field that is not a
// number, a file that is empty or not UTF-8 is reported with the file and line, and nothing half-read escapes.

import Foundation

public struct NumericCSV: Sendable {
    public let header: [String]
    /// One array per data row, as many values as the header has names.
    public let rows: [[Double]]

    /// A field's finite number in decimal notation (spaces around it allowed), or nil. Double(_:) alone would
    /// also read hexadecimal ("0x9", "0x1p3"), "nan" and "inf", which no data file here means.
    public static func decimalNumber<Text: StringProtocol>(_ field: Text) -> Double? {
        let text = field.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E || $0 == 0x65 || $0 == 0x45 }),
              let value = Double(text), value.isFinite else { return nil }
        return value
    }

    public static func read(contentsOf path: String) throws(DataFileError) -> NumericCSV {
        let data = try readFileBytes(path)
        guard let text = String(data: data, encoding: .utf8) else { throw DataFileError(file: path, line: nil, problem: "not UTF-8 text") }
        // Split on the scalar, not the Character: in a Swift string "\r\n" is one Character, which "\n" never equals.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            Substring(line.last == "\r" ? line.dropLast() : line)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first, !first.isEmpty else { throw DataFileError(file: path, line: 1, problem: "the file is empty (expected a header line)") }
        let header = first.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
        guard lines.count > 1 else { throw DataFileError(file: path, line: 2, problem: "no data rows after the header") }
        var rows: [[Double]] = []
        rows.reserveCapacity(lines.count - 1)
        for (offset, line) in lines.dropFirst().enumerated() {
            let number = offset + 2
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw DataFileError(file: path, line: number, problem: "\(fields.count) fields, expected \(header.count) as in the header")
            }
            var values: [Double] = []
            values.reserveCapacity(fields.count)
            for (column, field) in fields.enumerated() {
                guard let value = decimalNumber(field) else {
                    throw DataFileError(file: path, line: number, problem: "field \(column + 1) ('\(header[column])') is '\(field)', not a finite decimal number")
                }
                values.append(value)
            }
            rows.append(values)
        }
        return NumericCSV(header: header, rows: rows)
    }
}

/// A problem in a data file, naming the file and (when known) the line.
public struct DataFileError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let problem: String
    public init(file: String, line: Int?, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }
    public var description: String { line.map { "\(file):\($0): \(problem)" } ?? "\(file): \(problem)" }
}

/// The bytes of the file at `path`; a missing file, a folder or an unreadable file is an error naming it.
public func readFileBytes(_ path: String) throws(DataFileError) -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataFileError(file: path, line: nil, problem: "no such file")
    }
    guard !isDirectory.boolValue else { throw DataFileError(file: path, line: nil, problem: "is a directory, expected a file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw DataFileError(file: path, line: nil, problem: "cannot read the file") }
    return data
}

/// The longest file or folder name (in bytes) the file systems here take; a longer one is reported as missing.
let maximumNameBytes = 255

/// Why nothing can be made at `path`, in words (Foundation's error here reads "NSCocoaErrorDomain error 512"):
/// the nearest existing ancestor is a file, or it is a folder we may not write in. `creatingParents`: the caller
/// tried to create the missing folders too (`mkdir -p`), so a missing one is not the reason.
public func folderProblem(_ path: String, creatingParents: Bool = false) -> String {
    var ancestor = (path as NSString).standardizingPath
    if let long = ancestor.split(separator: "/").first(where: { $0.utf8.count > maximumNameBytes }) {
        return "the name '\(long.prefix(24))…' is \(long.utf8.count) bytes long; names may be at most \(maximumNameBytes)"
    }
    var isDirectory: ObjCBool = false
    while !ancestor.isEmpty && ancestor != "/" && !FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) {
        ancestor = (ancestor as NSString).deletingLastPathComponent
    }
    if ancestor.isEmpty { ancestor = "." }
    // The loop stops at the root or an empty path without looking at it: look now.
    _ = FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory)
    if !isDirectory.boolValue { return "\(ancestor) is a file, not a folder" }
    guard FileManager.default.isWritableFile(atPath: ancestor) else { return "no permission to write in \(ancestor)" }
    if ancestor == (path as NSString).standardizingPath || creatingParents { return "the file system refused it in \(ancestor)" }
    return "\(path) does not exist (the nearest folder that does is \(ancestor))"
}

/// Writes `data` to `path` atomically: a temporary file beside the target, flushed to disk, then renamed over
/// it. A reader sees the old file or the new one, never half of one; a crash mid-write leaves the old one.
public func writeAtomically(_ data: Data, to requestedPath: String) throws(DataFileError) {
    // Through a symbolic link to the file it names (renaming over the link would replace the link itself); and
    // never over something that is not a plain file, such as a device (as root, /dev/null would become a file).
    guard !requestedPath.hasSuffix("/") else {
        throw DataFileError(file: requestedPath, line: nil, problem: "ends in '/', so it names a folder; give a file name")
    }
    let path = URL(fileURLWithPath: requestedPath).resolvingSymlinksInPath().path
    if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType, type != .typeRegular {
        throw DataFileError(file: requestedPath, line: nil, problem: type == .typeDirectory ? "is a folder, expected a file name" : "is not a regular file")
    }
    let temporary = path + ".partial-\(getpid())"
    let nameBytes = (temporary as NSString).lastPathComponent.utf8.count
    guard nameBytes <= maximumNameBytes else {
        let suffix = temporary.utf8.count - path.utf8.count
        throw DataFileError(file: requestedPath, line: nil, problem: "the file name is too long: \(nameBytes - suffix) bytes, and it is first written under its name "
                            + "plus '.partial-\(getpid())', which together may be at most \(maximumNameBytes) bytes")
    }
    guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
        let folder = (path as NSString).deletingLastPathComponent
        throw DataFileError(file: path, line: nil, problem: "cannot create \(temporary): \(folderProblem(folder.isEmpty ? "." : folder))")
    }
    do {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
    } catch {
        try? FileManager.default.removeItem(atPath: temporary)
        throw DataFileError(file: path, line: nil, problem: "cannot write: \(error.localizedDescription)")
    }
    if rename(temporary, path) != 0 {
        let code = errno
        try? FileManager.default.removeItem(atPath: temporary)
        throw DataFileError(file: path, line: nil, problem: "cannot replace it with \(temporary): \(String(cString: strerror(code)))")
    }
}
