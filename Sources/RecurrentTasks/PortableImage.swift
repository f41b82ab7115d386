// Netpbm images (PGM grey, PPM colour; ASCII P2/P3 and binary P5/P6): what `predict` and `caption` read and
// what generated scenes are written as. Simple enough to read strictly and write with no library.

import Foundation
import RecurrentIO

/// An image with values in [0, 1], channel-last: pixel (row r, column c, channel k) at (r·width + c)·channels + k.
public struct PortableImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 (grey) or 3 (RGB).
    public var channels: Int
    public var values: [Float]

    public init(width: Int, height: Int, channels: Int, values: [Float]) {
        precondition(values.count == width * height * channels, "PortableImage: \(values.count) values for \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.values = values
    }

    public static func read(contentsOf path: String) throws(DataFileError) -> PortableImage {
        let data = try readFileBytes(path)
        let bytes = [UInt8](data)
        var position = 0
        func fail(_ problem: String) -> DataFileError { DataFileError(file: path, line: nil, problem: problem) }
        // Header fields are separated by whitespace; '#' starts a comment to the end of the line.
        func nextField() -> String? {
            while position < bytes.count {
                if bytes[position] == UInt8(ascii: "#") {
                    while position < bytes.count && bytes[position] != 0x0A { position += 1 }
                } else if [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) {
                    position += 1
                } else { break }
            }
            let start = position
            // A '#' ends a field too: "255# made by hand" is the maximum 255 and a comment.
            while position < bytes.count, ![0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "#")].contains(bytes[position]) { position += 1 }
            return start < position ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
        }
        guard let magic = nextField(), ["P2", "P3", "P5", "P6"].contains(magic) else {
            throw fail("not a PGM or PPM image (expected P2, P3, P5 or P6 at the start)")
        }
        guard let width = nextField().flatMap({ Int($0) }), let height = nextField().flatMap({ Int($0) }),
              let maximum = nextField().flatMap({ Int($0) }), (1...4096).contains(width), (1...4096).contains(height), (1...65535).contains(maximum) else {
            throw fail("the header's width, height or maximum value is missing or out of range")
        }
        let channels = magic == "P3" || magic == "P6" ? 3 : 1
        let count = width * height * channels
        var values: [Float] = []
        values.reserveCapacity(count)
        if magic == "P2" || magic == "P3" {
            for _ in 0..<count {
                guard let field = nextField(), let value = Int(field), (0...maximum).contains(value) else {
                    throw fail("expected \(count) sample values 0…\(maximum); found fewer or a bad one after \(values.count)")
                }
                values.append(Float(value) / Float(maximum))
            }
        } else {
            let sampleBytes = maximum > 255 ? 2 : 1
            // One whitespace byte ends the header, and a comment may stand just before it ("255# note\n").
            // Some writers put the comment on its own line after it ("255\n# note\n"), where the format would take
            // it as pixels: it is skipped when the file holds exactly that line more than the pixels need (a
            // raster that merely starts with byte 35, '#', leaves no such surplus).
            func skipComment() {
                while position < bytes.count && bytes[position] != 0x0A && bytes[position] != 0x0D { position += 1 }
                position += position + 1 < bytes.count && bytes[position] == 0x0D && bytes[position + 1] == 0x0A ? 2 : 1
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "#") { skipComment() } else { position += 1 }
            // Where the raster may start, in order: after a "\r\n" pair's "\n", then after a comment line; the first
            // that leaves exactly the pixels' bytes wins, else the byte after the single whitespace.
            var candidates = [position]
            if position < bytes.count, bytes[position] == 0x0A, bytes[position - 1] == 0x0D { position += 1; candidates.append(position) }
            if position < bytes.count, bytes[position] == UInt8(ascii: "#") { skipComment(); candidates.append(position) }
            position = candidates.dropFirst().first { bytes.count - $0 == count * sampleBytes } ?? candidates[0]
            guard bytes.count - position >= count * sampleBytes else {
                throw fail("\(max(0, bytes.count - position)) bytes of pixels, expected \(count * sampleBytes)")
            }
            for index in 0..<count {
                let value = sampleBytes == 1 ? Int(bytes[position + index]) : Int(bytes[position + 2 * index]) << 8 | Int(bytes[position + 2 * index + 1])
                guard value <= maximum else { throw fail("sample \(index) is \(value), above the maximum \(maximum)") }
                values.append(Float(value) / Float(maximum))
            }
        }
        return PortableImage(width: width, height: height, channels: channels, values: values)
    }

    /// Binary PGM (P5) or PPM (P6) with 8-bit samples.
    public var fileData: Data {
        var data = Data("\(channels == 3 ? "P6" : "P5")\n\(width) \(height)\n255\n".utf8)
        data.append(contentsOf: values.map { UInt8((Swift.min(1, Swift.max(0, $0)) * 255).rounded()) })
        return data
    }

    /// This image in grey, resampled to `width`×`height` by averaging the source pixels each target pixel
    /// covers (nearest when enlarging).
    public func greyscale(width targetWidth: Int, height targetHeight: Int) -> [Float] {
        var grey = [Float](repeating: 0, count: width * height)
        for pixel in 0..<(width * height) {
            var sum: Float = 0
            for channel in 0..<channels { sum += values[pixel * channels + channel] }
            grey[pixel] = sum / Float(channels)
        }
        var result = [Float](repeating: 0, count: targetWidth * targetHeight)
        for row in 0..<targetHeight {
            let top = row * height / targetHeight, bottom = Swift.max(top + 1, (row + 1) * height / targetHeight)
            for column in 0..<targetWidth {
                let left = column * width / targetWidth, right = Swift.max(left + 1, (column + 1) * width / targetWidth)
                var sum: Float = 0
                for y in top..<bottom { for x in left..<right { sum += grey[y * width + x] } }
                result[row * targetWidth + column] = sum / Float((bottom - top) * (right - left))
            }
        }
        return result
    }
}
