import ProtoWire
import Testing

@Suite("Unknown fields and open enums")
struct UnknownFieldsTests {
    static var fullV2: RecordV2 {
        var v2 = RecordV2()
        v2.id = "record-1"
        v2.level = .high
        v2.levels = [.low, .high, .unrecognized(-5), .unspecified]
        v2.count = -9_000_000_000
        var extra = ExtraV2()
        extra.note = "kept ☃"
        v2.extra = extra
        v2.codes = [1, 0xFFFF_FFFF]
        v2.ratio = -0.125
        v2.delta = Int64.min
        v2.blob = [0, 1, 2, 0xFF]
        return v2
    }

    @Test("fields a v1 reader does not know survive v2 → v1 → v2 unchanged")
    func roundTripThroughOlderReader() throws {
        let original = Self.fullV2
        let v1 = try RecordV1(serializedBytes: original.serializedBytes())
        #expect(v1.id == "record-1")
        #expect(v1.level == .unrecognized(2))
        #expect(v1.levels == [.low, .unrecognized(2), .unrecognized(-5), .unspecified])
        #expect(!v1.unknownFields.isEmpty)

        let reencoded = v1.serializedBytes()
        #expect(v1.encodedSize() == reencoded.count)
        let back = try RecordV2(serializedBytes: reencoded)
        #expect(back == original)
        // v1 writes known fields first and unknown ones after, which here is field order anyway.
        #expect(reencoded == original.serializedBytes())
    }

    @Test("unknown fields are kept byte for byte, in arrival order")
    func bytesKeptExactly() throws {
        var onlyUnknown = Self.fullV2
        onlyUnknown.id = ""
        onlyUnknown.level = .unspecified
        onlyUnknown.levels = []
        let expected = onlyUnknown.serializedBytes()
        let v1 = try RecordV1(serializedBytes: Self.fullV2.serializedBytes())
        #expect(v1.unknownFields.bytes == expected)

        // Interleaved: unknown field 4 arrives before known field 1; both are kept.
        let interleaved = tag(4, .varint) + [0x05] + lengthDelimited(1, Array("x".utf8)) + tag(100, .varint) + [0x01]
        let decoded = try RecordV1(serializedBytes: interleaved)
        #expect(decoded.id == "x")
        #expect(decoded.unknownFields.bytes == tag(4, .varint) + [0x05] + tag(100, .varint) + [0x01])
        #expect(decoded.serializedBytes() == lengthDelimited(1, Array("x".utf8)) + decoded.unknownFields.bytes)
    }

    @Test("messages with different unknown fields are not equal")
    func unknownFieldsTakePartInEquality() throws {
        let a = try RecordV1(serializedBytes: tag(4, .varint) + [0x01])
        let b = try RecordV1(serializedBytes: tag(4, .varint) + [0x02])
        #expect(a != b)
        #expect(a.hashValue != b.hashValue || a != b)
    }

    @Test("an open enum keeps values it does not know", arguments: [Int32.min, -1, 2, 3, 1000, Int32.max])
    func openEnum(raw: Int32) throws {
        let level = LevelV1(rawValue: raw)
        #expect(level == .unrecognized(raw))
        #expect(level.rawValue == raw)
        #expect(level.protoName == String(raw))
        var v1 = RecordV1()
        v1.level = level
        v1.levels = [level, .low]
        let decoded = try RecordV1(serializedBytes: v1.serializedBytes())
        #expect(decoded == v1)
        #expect(decoded.level.rawValue == raw)
    }
}
