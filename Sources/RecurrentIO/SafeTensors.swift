// safetensors: the format PyTorch state_dicts and our checkpoints share.
//
//   8 bytes   little-endian u64 N, the header's length
//   N bytes   JSON: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …,
//                    "__metadata__": {"key": "value", …}}   (optionally padded with spaces)
//   the rest  every tensor's bytes, little-endian, row-major, at data_offsets relative to the end of the header
//
// Reading validates like the reference loader, so a truncated, hostile or simply wrong file gets an error that
// names the problem, never a crash or a huge allocation: a cap on the header size, known dtypes only, sizes
// multiplied with overflow checks, offsets that tile the data exactly (from 0, no gaps, no overlaps) and end
// exactly at the end of the file.

import Foundation
import RecurrentTensor

/// An error reading or writing a safetensors file, naming the file and what is wrong.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public var description: String { "\(file): \(problem)" }
}

/// The element types a safetensors file may hold (those we read into tensors, and integers for lengths/labels).
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case float32 = "F32", float64 = "F64", float16 = "F16", bfloat16 = "BF16"
    case int64 = "I64", int32 = "I32", int16 = "I16", int8 = "I8", uint8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }
}

/// One tensor of a safetensors file: its type, shape and raw little-endian bytes.
public struct SafeTensorsEntry: Sendable {
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    public let bytes: Data

    public init(dtype: SafeTensorsDType, shape: [Int], bytes: Data) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float tensor from a Float32 or Float64 tensor; nil for other types.
    public var tensor: Tensor? {
        switch dtype {
        case .float32:
            let values = bytes.withUnsafeBytes { raw in (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) } }
            return Tensor(shape: Shape(shape), scalars: values)
        case .float64:
            let values = bytes.withUnsafeBytes { raw in (0..<(raw.count / 8)).map { Double(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self).littleEndian) } }
            return Tensor(shape: Shape(shape), doubles: values)
        default:
            return nil
        }
    }

    /// Integer values from an I64, I32, I16, I8 or U8 tensor; nil for other types.
    public var integers: [Int]? {
        bytes.withUnsafeBytes { raw -> [Int]? in
            let count = raw.count / dtype.byteSize
            switch dtype {
            case .int64: return (0..<count).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            case .int32: return (0..<count).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            case .int16: return (0..<count).map { Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self))) }
            case .int8: return (0..<count).map { Int(raw.load(fromByteOffset: $0, as: Int8.self)) }
            case .uint8: return (0..<count).map { Int(raw[$0]) }
            default: return nil
            }
        }
    }

    /// A tensor stored as Float32 (or Float64 when its dtype is Float64).
    public init(_ tensor: Tensor) {
        shape = tensor.shape.dimensions
        switch tensor.dtype {
        case .float32:
            dtype = .float32
            // Little-endian, as the format says; one copy of the whole buffer rather than an append per value
            // (checkpoints are written every epoch).
            bytes = tensor.withUnsafeBuffer(as: Float.self) { values in
                Data(values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) })
            }
        case .float64:
            dtype = .float64
            bytes = tensor.withUnsafeBuffer(as: Double.self) { values in
                Data(values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) })
            }
        }
    }

    /// 64-bit integers (lengths, labels).
    public init(integers: [Int], shape: [Int]? = nil) {
        dtype = .int64
        self.shape = shape ?? [integers.count]
        var data = Data(capacity: integers.count * 8)
        for value in integers { withUnsafeBytes(of: Int64(value).littleEndian) { data.append(contentsOf: $0) } }
        bytes = data
    }
}

/// The contents of a safetensors file.
public struct SafeTensorsFile: Sendable {
    public var entries: [String: SafeTensorsEntry]
    public var metadata: [String: String]

    /// Headers larger than this are refused (the reference loader's limit).
    public static let maximumHeaderBytes = 100_000_000

    public init(entries: [String: SafeTensorsEntry] = [:], metadata: [String: String] = [:]) {
        self.entries = entries
        self.metadata = metadata
    }

    /// The named float tensor, or an error naming the file and the tensor.
    public func tensor(_ name: String, file: String = "safetensors") throws(SafeTensorsError) -> Tensor {
        guard let entry = entries[name] else { throw SafeTensorsError(file: file, problem: "missing tensor '\(name)'") }
        guard let tensor = entry.tensor else {
            throw SafeTensorsError(file: file, problem: "tensor '\(name)' has dtype \(entry.dtype.rawValue), expected F32 or F64")
        }
        return tensor
    }

    // MARK: - Reading

    public static func read(contentsOf path: String) throws(SafeTensorsError) -> SafeTensorsFile {
        let data: Data
        // Foundation words these cases as "NSCocoaErrorDomain error 256": say what they are.
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw SafeTensorsError(file: path, problem: "no such file") }
        guard !isDirectory.boolValue else { throw SafeTensorsError(file: path, problem: "is a folder, expected a safetensors file") }
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw SafeTensorsError(file: path, problem: FileManager.default.isReadableFile(atPath: path) ? "cannot read: \(error.localizedDescription)" : "no permission to read it")
        }
        return try decode(data, file: path)
    }

    public static func decode(_ data: Data, file: String = "safetensors") throws(SafeTensorsError) -> SafeTensorsFile {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: file, problem: problem) }
        guard data.count >= 8 else { throw fail("file of \(data.count) bytes is too short for the 8-byte header length") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(maximumHeaderBytes) else { throw fail("header length \(headerLength) exceeds the limit of \(maximumHeaderBytes) bytes") }
        guard headerLength <= UInt64(data.count - 8) else { throw fail("header length \(headerLength) runs past the end of the file (\(data.count) bytes)") }
        let headerEnd = 8 + Int(headerLength)
        let headerBytes = data.subdata(in: data.startIndex + 8 ..< data.startIndex + headerEnd)
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes), let header = json as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [String: SafeTensorsEntry] = [:]
        var ranges: [(name: String, range: Range<Int>)] = []
        let dataLength = data.count - headerEnd
        for (name, value) in header {
            if name == "__metadata__" {
                guard let object = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (key, item) in object {
                    guard let text = item as? String else { throw fail("__metadata__ value for '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail("tensor '\(name)' has no dtype") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else { throw fail("tensor '\(name)' has unknown dtype '\(dtypeName)'") }
            guard let shapeValues = info["shape"] as? [Any], let shape = integerList(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has an invalid shape")
            }
            guard let offsetValues = info["data_offsets"] as? [Any], let offsets = integerList(offsetValues), offsets.count == 2 else {
                throw fail("tensor '\(name)' has invalid data_offsets")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw fail("tensor '\(name)' has data_offsets [\(begin), \(end)] outside the \(dataLength) data bytes")
            }
            var byteCount = dtype.byteSize
            for dimension in shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("tensor '\(name)' has a shape \(shape) whose size overflows") }
                byteCount = product
            }
            guard byteCount == end - begin else {
                throw fail("tensor '\(name)' of shape \(shape) and dtype \(dtypeName) needs \(byteCount) bytes but data_offsets span \(end - begin)")
            }
            ranges.append((name, begin..<end))
            entries[name] = SafeTensorsEntry(dtype: dtype, shape: shape, bytes: data.subdata(in: data.startIndex + headerEnd + begin ..< data.startIndex + headerEnd + end))
        }
        // The tensors must tile the data exactly: from 0, no gaps, no overlaps, nothing after.
        ranges.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var position = 0
        for (name, range) in ranges {
            if range.lowerBound < position { throw fail("tensor '\(name)' overlaps the tensor before it (offset \(range.lowerBound) < \(position))") }
            if range.lowerBound > position { throw fail("gap in the data before tensor '\(name)' (bytes \(position)..<\(range.lowerBound) belong to no tensor)") }
            position = range.upperBound
        }
        if position != dataLength { throw fail("\(dataLength - position) trailing bytes after the last tensor") }
        return SafeTensorsFile(entries: entries, metadata: metadata)
    }

    private static func integerList(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            // Whole numbers within ±2⁵³ only: anything else cannot be a size or offset (and must not trap Int()).
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double.isFinite, double == double.rounded(), Swift.abs(double) <= 9_007_199_254_740_992 else { return nil }
            result.append(Int(double))
        }
        return result
    }

    // MARK: - Writing

    /// The file's bytes: tensors in name order, the header padded with spaces to a multiple of 8.
    public func encoded() -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = entries.keys.sorted()
        for name in names {
            let entry = entries[name]!
            header[name] = ["dtype": entry.dtype.rawValue, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count]] as [String: Any]
            offset += entry.bytes.count
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for name in names { data.append(entries[name]!.bytes) }
        return data
    }

    /// Writes atomically: a temporary file beside the target, flushed to disk, then renamed over it. A crash
    /// mid-write leaves the previous file intact.
    public func write(to path: String) throws(SafeTensorsError) {
        do { try writeAtomically(encoded(), to: path) } catch { throw SafeTensorsError(file: path, problem: error.problem) }
    }
}
