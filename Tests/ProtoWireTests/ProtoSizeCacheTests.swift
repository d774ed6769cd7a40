import EntitlementAPI
import ProtoWire
import Testing

/// A hand-written message with sub-messages that does not implement `encodedSize(cache:)`.
private struct HandWritten: ProtoMessage {
    var first: Timestamp?
    var rest: [Subject] = []
    var unknownFields = UnknownFields()

    func encodedSize() -> Int {
        var size = 0
        if let first { size += ProtoSize.message(first, field: 1) }
        for s in rest { size += ProtoSize.message(s, field: 2) }
        return size
    }

    func encode(to writer: inout ProtoWriter) {
        if let first { writer.writeMessage(first, field: 1) }
        for s in rest { writer.writeMessage(s, field: 2) }
    }

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: first = try reader.readMessage(tag, as: Timestamp.self)
        case 2: rest.append(try reader.readMessage(tag))
        default: try reader.skipField(tag, into: &unknownFields)
        }
    }
}

/// A broken conformance: `encode(to:)` writes more than `encodedSize()` promises.
private struct Overrunning: ProtoMessage {
    var unknownFields = UnknownFields()
    func encodedSize() -> Int { 2 }
    func encode(to writer: inout ProtoWriter) { writer.writeString(String(repeating: "x", count: 4096), field: 1) }
    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        try reader.skipField(tag, into: &unknownFields)
    }
}

/// A broken conformance whose size pass records a wrong sub-message size.
private struct LyingSizes: ProtoMessage {
    var unknownFields = UnknownFields()
    func encodedSize() -> Int { 2 + Timestamp(seconds: 1).encodedSize() }
    func encodedSize(cache: inout ProtoSizeCache) -> Int {
        // Records room for a sub-message of 0 bytes; the write pass then writes 2.
        _ = ProtoSize.message(Timestamp(), field: 1, cache: &cache)
        return encodedSize()
    }
    func encode(to writer: inout ProtoWriter) { writer.writeMessage(Timestamp(seconds: 1), field: 1) }
    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        try reader.skipField(tag, into: &unknownFields)
    }
}

@Suite("ProtoWriter bounds")
struct ProtoWriterBoundsTests {
    @Test("an encode that writes past encodedSize() traps before it writes past the buffer")
    func overrunTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = Overrunning().serializedBytes()
        }
    }

    @Test("a size cache out of step with the write pass traps instead of writing a wrong length")
    func lyingCacheTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = LyingSizes().serializedBytes()
        }
    }
}

@Suite("ProtoSizeCache")
struct ProtoSizeCacheTests {
    /// Encodes without the cache, through `encode(into:)`.
    static func uncached(_ message: some ProtoMessage) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: message.encodedSize()) { buffer, count in
            count = message.encode(into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    @Test("serializedBytes() (sizes cached) writes the same bytes as an uncached encode")
    func cachedEqualsUncached() throws {
        var rng = SplitMix64(seed: 5)
        for _ in 0..<200 {
            var response = ListRequestsResponse()
            response.requests = rng.array(maxCount: 5) { $0.accessPackageRequest() }
            #expect(response.serializedBytes() == Self.uncached(response))
            let scalars = rng.scalars()
            let bytes = scalars.serializedBytes()
            #expect(bytes.count == scalars.encodedSize())
            #expect(try Scalars(serializedBytes: bytes).withoutNaN == scalars.withoutNaN)
        }
        #expect(Samples.listResponse(count: 50).serializedBytes() == Self.uncached(Samples.listResponse(count: 50)))
    }

    @Test("a message without encodedSize(cache:) turns the cache off and still encodes correctly")
    func handWrittenMessage() throws {
        var m = HandWritten()
        m.first = Timestamp(seconds: 5, nanos: 6)
        m.rest = [Samples.subject(1), Subject(), Samples.subject(2)]
        var cache = ProtoSizeCache.recording()
        #expect(m.encodedSize(cache: &cache) == m.encodedSize())
        let bytes = m.serializedBytes()
        #expect(bytes == Self.uncached(m))
        let decoded = try HandWritten(serializedBytes: bytes)
        #expect(decoded == m)
    }
}
