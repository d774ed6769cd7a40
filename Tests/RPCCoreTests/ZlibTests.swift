import RPCCore
import Testing

@Suite("zlib compression")
struct ZlibTests {
    @Test("gzip and deflate round-trip", arguments: [CompressionAlgorithm.gzip, .deflate])
    func roundTrip(algorithm: CompressionAlgorithm) throws {
        let input = Array(String(repeating: "access package ", count: 500).utf8)
        let compressed = input.withUnsafeBytes { Zlib.deflate($0, format: algorithm) }
        #expect(compressed.count < input.count)
        #expect(try Zlib.inflate(compressed, format: algorithm, limit: 1 << 20) == input)
    }

    @Test("inflating stops at the limit, not after", arguments: [CompressionAlgorithm.gzip, .deflate])
    func bomb(algorithm: CompressionAlgorithm) {
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let bomb = zeros.withUnsafeBytes { Zlib.deflate($0, format: algorithm) }
        #expect(bomb.count < 64 * 1024)
        #expect(throws: CompressionError.limitExceeded(limit: 1 << 20)) {
            try Zlib.inflate(bomb, format: algorithm, limit: 1 << 20)
        }
    }

    @Test("corrupt and truncated input is refused")
    func corrupt() {
        let valid = [UInt8](repeating: 7, count: 1000).withUnsafeBytes { Zlib.deflate($0, format: .gzip) }
        #expect(throws: CompressionError.self) { try Zlib.inflate([1, 2, 3, 4, 5], format: .gzip, limit: 1000) }
        #expect(throws: CompressionError.self) { try Zlib.inflate(Array(valid.dropLast(6)), format: .gzip, limit: 10_000) }
    }

    @Test("response encoding is one the caller listed, gzip first", arguments: [
        ("gzip", CompressionAlgorithm.gzip), ("identity,deflate", .deflate), ("deflate, gzip", .gzip),
        ("snappy", .identity), ("", .identity),
    ])
    func negotiation(header: String, expected: CompressionAlgorithm) {
        #expect(CompressionAlgorithm.preferred(fromAcceptEncoding: header) == expected)
        #expect(CompressionAlgorithm.preferred(fromAcceptEncoding: nil) == .identity)
    }
}
