import RPCCore
import Testing

@Suite("gRPC length-prefixed framing")
struct GRPCDeframerTests {
    static func frame(_ payload: [UInt8], compressed: Bool = false) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 5)
        header.withUnsafeMutableBytes { GRPCFraming.writeHeader(compressed: compressed, length: payload.count, to: $0.baseAddress!) }
        return header + payload
    }

    @Test("a message split across many chunks is reassembled")
    func reassembles() throws {
        var deframer = GRPCDeframer()
        let bytes = Self.frame(Array(0..<200), compressed: true)
        for chunk in stride(from: 0, to: bytes.count, by: 7) {
            try bytes[chunk..<min(chunk + 7, bytes.count)].withUnsafeBytes { try deframer.append($0) }
        }
        let messages = try deframer.finish()
        #expect(messages == [FramedMessage(compressed: true, bytes: Array(0..<200))])
    }

    @Test("a declared length over the limit is refused before its bytes arrive")
    func refusesLargeDeclaredLength() {
        var deframer = GRPCDeframer(limit: 100)
        let header: [UInt8] = [0, 0, 0, 0, 101]
        #expect(throws: DeframingError.messageTooLarge(length: 101, limit: 100)) {
            try header.withUnsafeBytes { try deframer.append($0) }
        }
    }

    @Test("a body that ends inside a message is truncated")
    func truncated() throws {
        var deframer = GRPCDeframer()
        try Array(Self.frame([1, 2, 3]).dropLast()).withUnsafeBytes { try deframer.append($0) }
        #expect(throws: DeframingError.truncated) { try deframer.finish() }
    }

    @Test("a flag byte other than 0 or 1 is refused")
    func invalidFlag() {
        var deframer = GRPCDeframer()
        #expect(throws: DeframingError.invalidFlag(2)) {
            try [UInt8]([2, 0, 0, 0, 0]).withUnsafeBytes { try deframer.append($0) }
        }
    }

    @Test("a unary body with no message finishes empty")
    func empty() throws {
        let deframer = GRPCDeframer()
        #expect(try deframer.finish().isEmpty)
    }

    @Test("a byte past the one message a unary call may carry is refused at once, not buffered")
    func secondMessage() throws {
        var deframer = GRPCDeframer(maxMessages: 1)
        try Self.frame([1]).withUnsafeBytes { try deframer.append($0) }
        #expect(throws: DeframingError.tooManyMessages(limit: 1)) {
            try [UInt8]([0]).withUnsafeBytes { try deframer.append($0) }
        }
        var together = GRPCDeframer(maxMessages: 1)
        #expect(throws: DeframingError.tooManyMessages(limit: 1)) {
            try (Self.frame([1]) + Self.frame([2])).withUnsafeBytes { try together.append($0) }
        }
    }

    @Test("bytes still buffered are reported for the connection's budget")
    func bufferedCount() throws {
        var deframer = GRPCDeframer()
        try Array(Self.frame(Array(repeating: 7, count: 100)).prefix(50)).withUnsafeBytes { try deframer.append($0) }
        #expect(deframer.bufferedByteCount == 50)
    }
}
