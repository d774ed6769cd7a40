import RPCCore
import Testing

@Suite("zlib compression")
struct ZlibTests {
    @Test("gzip and deflate round-trip", arguments: [CompressionAlgorithm.gzip, .deflate])
    func roundTrip(algorithm: CompressionAlgorithm) throws {
        let input = Array(String(repeating: "access package ", count: 500).utf8)
        let compressed = input.withUnsafeBytes { try! Zlib.deflate($0, format: algorithm) }
        #expect(compressed.count < input.count)
        #expect(try Zlib.inflate(compressed, format: algorithm, limit: 1 << 20) == input)
    }

    @Test("inflating stops at the limit, not after", arguments: [CompressionAlgorithm.gzip, .deflate])
    func bomb(algorithm: CompressionAlgorithm) {
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let bomb = zeros.withUnsafeBytes { try! Zlib.deflate($0, format: algorithm) }
        #expect(bomb.count < 64 * 1024)
        #expect(throws: CompressionError.limitExceeded(limit: 1 << 20)) {
            try Zlib.inflate(bomb, format: algorithm, limit: 1 << 20)
        }
    }

    @Test("corrupt and truncated input is refused")
    func corrupt() {
        let valid = [UInt8](repeating: 7, count: 1000).withUnsafeBytes { try! Zlib.deflate($0, format: .gzip) }
        #expect(throws: CompressionError.self) { try Zlib.inflate([1, 2, 3, 4, 5], format: .gzip, limit: 1000) }
        #expect(throws: CompressionError.self) { try Zlib.inflate(Array(valid.dropLast(6)), format: .gzip, limit: 10_000) }
    }

    @Test("a gzip body of several members inflates to all of them; bytes after a member that are not one are refused")
    func multiMemberGzip() throws {
        let first = Array("first member, ".utf8)
        let second = [UInt8](repeating: 9, count: 3000)
        let members = first.withUnsafeBytes { try! Zlib.deflate($0, format: .gzip) }
            + second.withUnsafeBytes { try! Zlib.deflate($0, format: .gzip) }
        #expect(try Zlib.inflate(members, format: .gzip, limit: 10_000) == first + second)
        #expect(throws: CompressionError.self) { try Zlib.inflate(members, format: .gzip, limit: 3_000) }
        #expect(throws: CompressionError.self) { try Zlib.inflate(members + [1, 2, 3], format: .gzip, limit: 10_000) }
    }

    @Test("one inflater serves many messages, also after a corrupt one or a bomb", arguments: [CompressionAlgorithm.gzip, .deflate])
    func reusedInflater(algorithm: CompressionAlgorithm) throws {
        let inflater = try Inflater(format: algorithm)
        let deflater = try Deflater(format: algorithm)
        let bomb = [UInt8](repeating: 0, count: 2 << 20).withUnsafeBytes { deflater.compress($0) }
        for round in 0..<50 {
            let input = Array("message \(round) ".utf8) + [UInt8](repeating: UInt8(round), count: round * 97)
            let compressed = input.withUnsafeBytes { deflater.compress($0) }
            #expect(try inflater.inflate(compressed, limit: 1 << 20) == input)
            // A failure in the middle of a message must not leave state behind for the next one.
            #expect(throws: CompressionError.self) { try inflater.inflate(Array(compressed.dropLast(3)), limit: 1 << 20) }
            #expect(throws: CompressionError.limitExceeded(limit: 1 << 20)) { try inflater.inflate(bomb, limit: 1 << 20) }
        }
    }

    @Test("a stream zlib refuses to set up is an error, not a trap (and is freed once)")
    func initFailure() {
        #expect(throws: CompressionError.unavailable(status: -2)) { try Deflater(format: .gzip, level: 42) }
        #expect(throws: CompressionError.unavailable(status: -2)) {
            try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try Zlib.deflate($0, format: .deflate, level: -7) }
        }
    }

    @Test("compressors moved around between calls keep working (the z_stream does not move with them)")
    func streamsSurviveMoves() throws {
        // Before, each Deflater stored its z_stream inline; zlib's back-pointer then pointed at
        // wherever the value sat at init. Copies of the references across arrays and closures
        // exercise that the stream lives at one heap address.
        var deflaters = [try Deflater(format: .gzip), try Deflater(format: .deflate)]
        var inflaters = [try Inflater(format: .gzip), try Inflater(format: .deflate)]
        let input = Array(String(repeating: "reprocess ", count: 300).utf8)
        for _ in 0..<20 {
            deflaters.reverse()
            inflaters.reverse()
            for deflater in deflaters {
                let compressed = input.withUnsafeBytes { deflater.compress($0, headroom: 5) }
                let inflater = try #require(inflaters.first { $0.format == deflater.format })
                #expect(try inflater.inflate(Array(compressed.dropFirst(5)), limit: 1 << 20) == input)
            }
        }
    }

    @Test("response encoding is one the caller listed, gzip first", arguments: [
        ("gzip", CompressionAlgorithm.gzip), ("identity,deflate", .deflate), ("deflate, gzip", .gzip),
        ("snappy", .identity), ("", .identity),
    ])
    func negotiation(header: String, expected: CompressionAlgorithm) {
        #expect(CompressionAlgorithm.preferred(fromAcceptEncoding: header) == expected)
        #expect(CompressionAlgorithm.preferred(fromAcceptEncoding: nil) == .identity)
        // Two header fields are one list: gzip in either wins.
        #expect(CompressionAlgorithm.preferred(.gzip, .deflate) == .gzip)
        #expect(CompressionAlgorithm.preferred(.deflate, .gzip) == .gzip)
        #expect(CompressionAlgorithm.preferred(.identity, .deflate) == .deflate)
        #expect(CompressionAlgorithm.preferred(.identity, .identity) == .identity)
    }
}
