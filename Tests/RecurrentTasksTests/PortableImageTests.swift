import Testing
import Foundation
import RecurrentTasks

/// PGM/PPM reading: what `predict` and `caption` take from users.
@Suite struct PortableImageTests {
    func read(_ bytes: [UInt8]) throws -> PortableImage {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-image-\(UUID().uuidString).pgm").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #require(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return try PortableImage.read(contentsOf: path)
    }

    @Test func binaryImageRoundTrips() throws {
        let image = PortableImage(width: 3, height: 2, channels: 3, values: (0..<18).map { Float($0 * 15) / 255 })
        let back = try read([UInt8](image.fileData))
        #expect(back.width == 3 && back.height == 2 && back.channels == 3)
        #expect(back.values == image.values)
    }

    /// Comments in the header, in the places writers put them; a raster that begins with byte 35 ('#') is still pixels.
    static let commentedHeaders: [(header: String, raster: [UInt8], expected: [Float])] = [
        ("P5\n# written by hand\n2 1\n255\n", [0, 255], [0, 1]),
        ("P5 2 1 255# just before the raster's whitespace\n", [0, 255], [0, 1]),
        ("P5 2 1 255\n# on its own line after the maximum\n", [0, 255], [0, 1]),
        ("P5 2 1 255\r\n# with a CRLF\r\n", [0, 255], [0, 1]),
        ("P5 2 1 255\n", [35, 10], [35.0 / 255, 10.0 / 255]),
        ("P5 2 1 255\r\n", [35, 10], [35.0 / 255, 10.0 / 255]),
        ("P5 2 1 255\r\n", [10, 35], [10.0 / 255, 35.0 / 255]),
        ("P2 2 1 # ASCII samples\n 255 0 # and a comment between them\n 255\n", [], [0, 1]),
    ]

    @Test(arguments: commentedHeaders)
    func headerCommentsAreSkipped(header: String, raster: [UInt8], expected: [Float]) throws {
        let image = try read(Array(header.utf8) + raster)
        #expect(image.width == 2 && image.height == 1)
        #expect(image.values == expected)
    }

    @Test(arguments: [
        ("P5 2 1 255\n", [UInt8]([7]), "1 bytes of pixels, expected 2"),
        ("P4 2 1\n", [0], "not a PGM or PPM image"),
        ("P5 0 1 255\n", [], "out of range"),
        ("P5 2 1 100\n", [7, 200], "above the maximum 100"),
        ("P2 2 1 255 7\n", [], "expected 2 sample values"),
    ])
    func badImageIsReportedWithItsFile(header: String, raster: [UInt8], problem: String) {
        do {
            _ = try read(Array(header.utf8) + raster)
            Issue.record("read a bad image: \(header)")
        } catch {
            #expect("\(error)".contains(problem) && "\(error)".contains(".pgm"), "\(error)")
        }
    }
}
