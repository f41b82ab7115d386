// The tasks' data files, read strictly and whole before anything is written: an empty file, a ragged line,
// bytes that are not UTF-8, a label out of range — each is an error naming the file and line.

import Foundation
import RecurrentIO

/// The lines of a UTF-8 text file (LF or CRLF), a leading byte-order mark and trailing empty lines dropped.
/// Invalid UTF-8 is reported at the line where it occurs.
func readTextLines(_ path: String) throws(DataFileError) -> [String] {
    var data = try readFileBytes(path)
    // Some editors start UTF-8 files with U+FEFF; it is not text, and would glue itself to the first label or word.
    if data.starts(with: [0xEF, 0xBB, 0xBF]) { data = data.dropFirst(3) }
    var lines: [String] = []
    var lineNumber = 0
    for rawLine in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
        lineNumber += 1
        let bytes = rawLine.last == 0x0D ? rawLine.dropLast() : rawLine
        guard let line = String(validating: bytes, as: UTF8.self) else {
            throw DataFileError(file: path, line: lineNumber, problem: "not valid UTF-8 text")
        }
        lines.append(line)
    }
    while lines.last?.isEmpty == true { lines.removeLast() }
    guard !lines.isEmpty else { throw DataFileError(file: path, line: nil, problem: "the file is empty") }
    return lines
}


/// `text` in single quotes, or, when it holds characters a terminal does not show (a carriage return, a
/// byte-order mark), in Swift's escaped form ("1\r"), so a message names what is really there.
func quotedVisibly(_ text: String) -> String {
    let hidden = text.unicodeScalars.contains { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }
    return hidden ? String(reflecting: text) : "'\(text)'"
}

/// The longest sentence the word tasks take, in tokens. A recurrent layer steps through every token of the
/// longest sentence in a batch, and each step's activations stay in memory for backward: a line of 200,000
/// words would need tens of gigabytes.
public let maximumSentenceTokens = 1000

/// The tokens of a sentence typed to a use command (translate, predict, gates): at least one, at most
/// `maximumSentenceTokens`.
func typedSentenceTokens(_ sentence: String) throws -> [String] {
    let tokens = WordTokenizer.tokens(sentence)
    guard !tokens.isEmpty else { throw TaskError("the sentence has no words") }
    guard tokens.count <= maximumSentenceTokens else { throw TaskError("the sentence has \(tokens.count) tokens; at most \(maximumSentenceTokens) are taken") }
    return tokens
}

func sentenceTooLong(_ path: String, _ line: Int, _ count: Int) -> DataFileError {
    DataFileError(file: path, line: line, problem: "\(count) tokens; a sentence may have at most \(maximumSentenceTokens)")
}

/// `label<TAB>text` lines (sentiment): the label an integer in 0..<classCount, the text non-empty.
public struct LabeledSentence: Sendable, Equatable {
    public let label: Int
    public let text: String
}

public func readLabeledSentences(_ path: String, classCount: Int = 2) throws(DataFileError) -> [LabeledSentence] {
    var examples: [LabeledSentence] = []
    for (offset, line) in try readTextLines(path).enumerated() {
        let number = offset + 1
        guard let tab = line.firstIndex(of: "\t") else {
            throw DataFileError(file: path, line: number, problem: "no tab: expected 'label<TAB>sentence'")
        }
        let field = line[..<tab].trimmingCharacters(in: .whitespaces)
        guard let label = Int(field), (0..<classCount).contains(label) else {
            throw DataFileError(file: path, line: number, problem: "label \(quotedVisibly(field)) is not an integer in 0…\(classCount - 1)")
        }
        let text = String(line[line.index(after: tab)...])
        let tokenCount = WordTokenizer.tokens(text).count
        guard tokenCount > 0 else { throw DataFileError(file: path, line: number, problem: "the sentence is empty") }
        guard tokenCount <= maximumSentenceTokens else { throw sentenceTooLong(path, number, tokenCount) }
        examples.append(LabeledSentence(label: label, text: text))
    }
    return examples
}

/// `source<TAB>target` lines (translation), both sides non-empty.
public struct SentencePair: Sendable, Equatable {
    public let source: String
    public let target: String
}

public func readSentencePairs(_ path: String) throws(DataFileError) -> [SentencePair] {
    var pairs: [SentencePair] = []
    for (offset, line) in try readTextLines(path).enumerated() {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count >= 2 else {
            throw DataFileError(file: path, line: offset + 1, problem: "\(fields.count) field, expected 'source<TAB>target'")
        }
        // Further fields are ignored: manythings.org's newer files add a third, the sentences' attribution.
        let source = String(fields[0]), target = String(fields[1])
        let counts = (WordTokenizer.tokens(source).count, WordTokenizer.tokens(target).count)
        guard counts.0 > 0, counts.1 > 0 else {
            throw DataFileError(file: path, line: offset + 1, problem: "an empty sentence")
        }
        guard max(counts.0, counts.1) <= maximumSentenceTokens else { throw sentenceTooLong(path, offset + 1, max(counts.0, counts.1)) }
        pairs.append(SentencePair(source: source, target: target))
    }
    return pairs
}

/// Labelled images with values scaled to [0, 1], row-major, all of one size.
public struct ImageSet: Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [[Float]]
    public var labels: [Int]
    public var count: Int { labels.count }
}

/// The digits CSV: a header, then `label,p0,…,p63` with the label in 0…9 and pixels 0…16.
public func readDigitsCSV(_ path: String) throws(DataFileError) -> ImageSet {
    let table = try NumericCSV.read(contentsOf: path)
    guard Double(table.header[0].trimmingCharacters(in: .whitespaces)) == nil else {
        throw DataFileError(file: path, line: 1, problem: "expected a header line (label,p0,…,p63), found numbers")
    }
    guard table.header.count == 65 else {
        throw DataFileError(file: path, line: 1, problem: "\(table.header.count) columns, expected 65 (label and 64 pixels of an 8×8 image)")
    }
    var images = ImageSet(width: 8, height: 8, pixels: [], labels: [])
    for (offset, row) in table.rows.enumerated() {
        guard let label = Int(exactly: row[0]), (0...9).contains(label) else {
            throw DataFileError(file: path, line: offset + 2, problem: "label \(row[0]) is not a digit 0…9")
        }
        if let column = row.dropFirst().firstIndex(where: { !(0...16).contains($0) }) {
            throw DataFileError(file: path, line: offset + 2, problem: "pixel \(table.header[column]) = \(row[column]) outside 0…16")
        }
        images.labels.append(label)
        images.pixels.append(row.dropFirst().map { Float($0 / 16) })
    }
    return images
}

/// MNIST's IDX pair: `images.idx3-ubyte` (magic 2051, count, rows, columns, bytes) and `labels.idx1-ubyte`
/// (magic 2049, count, bytes 0…9), big-endian headers. `path` is the folder holding both, or either file.
public func readIDXImages(_ path: String) throws(DataFileError) -> ImageSet {
    let (imagesPath, labelsPath) = try idxFiles(path)
    let imageBytes = try readFileBytes(imagesPath), labelBytes = try readFileBytes(labelsPath)
    func word(_ data: Data, _ at: Int) -> Int {
        data[data.startIndex + at..<data.startIndex + at + 4].reduce(0) { $0 << 8 | Int($1) }
    }
    guard imageBytes.count >= 16, word(imageBytes, 0) == 2051 else {
        throw DataFileError(file: imagesPath, line: nil, problem: "not an IDX image file (magic number 2051 missing)")
    }
    guard labelBytes.count >= 8, word(labelBytes, 0) == 2049 else {
        throw DataFileError(file: labelsPath, line: nil, problem: "not an IDX label file (magic number 2049 missing)")
    }
    let count = word(imageBytes, 4), rows = word(imageBytes, 8), columns = word(imageBytes, 12)
    guard count > 0 else { throw DataFileError(file: imagesPath, line: nil, problem: "header says 0 images: nothing to learn from or score") }
    guard (1...4096).contains(rows), (1...4096).contains(columns) else {
        throw DataFileError(file: imagesPath, line: nil, problem: "header says images of \(rows)×\(columns); each side must be 1 to 4096 pixels")
    }
    guard imageBytes.count == 16 + count * rows * columns else {
        throw DataFileError(file: imagesPath, line: nil, problem: "header says \(count) images of \(rows)×\(columns), but the file has \(imageBytes.count) bytes")
    }
    guard word(labelBytes, 4) == count, labelBytes.count == 8 + count else {
        throw DataFileError(file: labelsPath, line: nil, problem: "\(word(labelBytes, 4)) labels in \(labelBytes.count) bytes, expected \(count) as the image file")
    }
    var images = ImageSet(width: columns, height: rows, pixels: [], labels: [])
    images.pixels.reserveCapacity(count)
    let size = rows * columns
    let labelValues = [UInt8](labelBytes), pixelValues = [UInt8](imageBytes)
    for item in 0..<count {
        let label = Int(labelValues[8 + item])
        guard label <= 9 else { throw DataFileError(file: labelsPath, line: nil, problem: "label \(label) of image \(item) is not a digit 0…9") }
        images.labels.append(label)
        let start = 16 + item * size
        images.pixels.append(pixelValues[start..<start + size].map { Float($0) / 255 })
    }
    return images
}

/// The image and label files an IDX `path` (their folder, or either file) names.
func idxFiles(_ path: String) throws(DataFileError) -> (images: String, labels: String) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataFileError(file: path, line: nil, problem: "no such file or folder")
    }
    guard isDirectory.boolValue || path.hasSuffix("-ubyte") else {
        throw DataFileError(file: path, line: nil, problem: "not digits data: expected a CSV file (.csv), or an IDX folder or one of its files (images.idx3-ubyte, labels.idx1-ubyte)")
    }
    let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
    return ((folder as NSString).appendingPathComponent("images.idx3-ubyte"), (folder as NSString).appendingPathComponent("labels.idx1-ubyte"))
}

/// Width and height of IDX images from the image file's 16-byte header, without reading the pixels.
public func readIDXImageSize(_ path: String) throws(DataFileError) -> (width: Int, height: Int) {
    let imagesPath = try idxFiles(path).images
    guard let handle = FileHandle(forReadingAtPath: imagesPath), let header = try? handle.read(upToCount: 16), header.count == 16 else {
        throw DataFileError(file: imagesPath, line: nil, problem: "cannot read an IDX image header")
    }
    try? handle.close()
    let words = stride(from: 0, to: 16, by: 4).map { header[header.startIndex + $0..<header.startIndex + $0 + 4].reduce(0) { $0 << 8 | Int($1) } }
    guard words[0] == 2051, (1...4096).contains(words[2]), (1...4096).contains(words[3]) else {
        throw DataFileError(file: imagesPath, line: nil, problem: "not an IDX image file (magic number 2051 missing, or sizes out of range)")
    }
    return (words[3], words[2])
}

/// Plain text (character-level language models): UTF-8, not empty.
public func readTextCorpus(_ path: String) throws(DataFileError) -> String {
    let text = try readTextLines(path).joined(separator: "\n") + "\n"
    guard text.count >= 2 else { throw DataFileError(file: path, line: 1, problem: "the text is too short to learn from") }
    return text
}
