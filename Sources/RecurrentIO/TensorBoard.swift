// TensorBoard scalar event files, written by hand (no protobuf library needed):
//
//   file     events.out.tfevents.<seconds>.<host>.recurrent, a sequence of TFRecords
//   record   u64 length (LE) | u32 masked CRC-32C of the length bytes | payload | u32 masked CRC-32C of payload
//            masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8
//   payload  an Event protobuf: wall_time (1, double), step (2, varint), file_version (3, string) for the
//            first record, then summary (5) { value (1) { tag (1, string), simple_value (2, float) } }

import Foundation
import RecurrentTraining

public final class TensorBoardWriter: TrainingObserver {
    public let path: String
    private let handle: FileHandle

    /// Creates the event file in `directory` (which must exist) and writes the file-version record.
    public init(directory: String) throws {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        path = directory + "/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(hostName.isEmpty ? "localhost" : hostName).recurrent"
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw DataFileError(file: path, line: nil, problem: "cannot create the TensorBoard event file")
        }
        do { handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path)) } catch {
            throw DataFileError(file: path, line: nil, problem: "cannot open the TensorBoard event file: \(error.localizedDescription)")
        }
        var event = Self.eventHeader(step: 0)
        Self.appendBytesField(3, Array("brain.Event:2".utf8), to: &event)
        try writeRecord(event)
    }

    deinit { try? handle.close() }

    /// Writes one scalar at `step`.
    public func addScalar(_ tag: String, _ value: Double, step: Int) throws {
        var valueMessage: [UInt8] = []
        Self.appendBytesField(1, Array(tag.utf8), to: &valueMessage)
        valueMessage.append(0x15)   // field 2, 32-bit: simple_value
        withUnsafeBytes(of: Float(value).bitPattern.littleEndian) { valueMessage.append(contentsOf: $0) }
        var summary: [UInt8] = []
        Self.appendBytesField(1, valueMessage, to: &summary)
        var event = Self.eventHeader(step: step)
        Self.appendBytesField(5, summary, to: &event)
        try writeRecord(event)
    }

    public func handle(_ event: TrainingEvent) throws -> TrainingDecision {
        switch event {
        case .batchEnded(_, let step, _, let loss, let learningRate):
            try addScalar("batch/loss", loss, step: step)
            try addScalar("batch/learning_rate", learningRate, step: step)
        case .epochEnded(_, let step, let training, let validation):
            try addScalar("epoch/loss", training.loss, step: step)
            if let accuracy = training.accuracy { try addScalar("epoch/accuracy", accuracy, step: step) }
            if let validation {
                try addScalar("epoch/validation_loss", validation.loss, step: step)
                if let accuracy = validation.accuracy { try addScalar("epoch/validation_accuracy", accuracy, step: step) }
            }
        case .started, .finished:
            break
        }
        return .proceed
    }

    private func writeRecord(_ payload: [UInt8]) throws {
        var record: [UInt8] = []
        var length: [UInt8] = []
        withUnsafeBytes(of: UInt64(payload.count).littleEndian) { length.append(contentsOf: $0) }
        record += length
        withUnsafeBytes(of: Self.maskedCRC32C(length).littleEndian) { record.append(contentsOf: $0) }
        record += payload
        withUnsafeBytes(of: Self.maskedCRC32C(payload).littleEndian) { record.append(contentsOf: $0) }
        do { try handle.write(contentsOf: record) } catch {
            throw DataFileError(file: path, line: nil, problem: "cannot write the TensorBoard event file: \(error.localizedDescription)")
        }
    }

    static func eventHeader(step: Int) -> [UInt8] {
        var event: [UInt8] = [0x09]   // field 1, 64-bit: wall_time
        withUnsafeBytes(of: Date().timeIntervalSince1970.bitPattern.littleEndian) { event.append(contentsOf: $0) }
        event.append(0x10)            // field 2, varint: step
        appendVarint(UInt64(max(0, step)), to: &event)
        return event
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// A length-delimited field (strings, bytes, sub-messages).
    static func appendBytesField(_ field: Int, _ contents: [UInt8], to bytes: inout [UInt8]) {
        appendVarint(UInt64(field << 3 | 2), to: &bytes)
        appendVarint(UInt64(contents.count), to: &bytes)
        bytes += contents
    }

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), masked as TFRecord does.
    static func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0x82F6_3B78 : 0) }
        }
        crc = ~crc
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
