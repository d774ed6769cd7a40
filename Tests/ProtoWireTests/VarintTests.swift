import ProtoWire
import Testing

@Suite("Varint and ZigZag")
struct VarintTests {
    static let varintCases: [(UInt64, [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (300, [0xAC, 0x02]),
        (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]),
        (UInt64(UInt32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        (UInt64(1) << 63, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test("varint encoding, size and decoding agree on edge values", arguments: varintCases)
    func varintRoundTrip(value: UInt64, expected: [UInt8]) throws {
        #expect(varint(value) == expected)
        #expect(Varint.size(of: value) == expected.count)
        let decoded = try reading(expected) { (r: inout ProtoReader) throws(ProtoDecodingError) in try r.readVarint() }.get()
        #expect(decoded == value)
    }

    @Test("every varint length boundary has the right size")
    func sizeBoundaries() {
        for bits in 0..<64 {
            let value = UInt64(1) << UInt64(bits)
            #expect(Varint.size(of: value) == bits / 7 + 1)
            #expect(Varint.size(of: value - 1) == max(1, (bits + 6) / 7))
        }
    }

    @Test("negative int32 and int64 values take ten bytes (sign-extended)")
    func negativeSizes() {
        #expect(Varint.size(of: Int32(-1)) == 10)
        #expect(Varint.size(of: Int32.min) == 10)
        #expect(Varint.size(of: Int64.min) == 10)
        #expect(Varint.size(of: Int32.max) == 5)
        #expect(Varint.size(of: Int64.max) == 9)
        let bytes = written(capacity: 11) { $0.writeInt32(-1, field: 1) }
        #expect(bytes == [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    @Test(
        "zigzag maps small magnitudes to small numbers (32-bit)",
        arguments: [
            (0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4), (Int32.max, UInt32.max - 1), (Int32.min, UInt32.max),
        ] as [(Int32, UInt32)]
    )
    func zigZag32(value: Int32, encoded: UInt32) {
        #expect(ZigZag.encoded(value) == encoded)
        #expect(ZigZag.decoded(encoded) == value)
    }

    @Test(
        "zigzag maps small magnitudes to small numbers (64-bit)",
        arguments: [
            (0, 0), (-1, 1), (1, 2), (-2, 3), (Int64(Int32.min), UInt64(UInt32.max)), (Int64.max, UInt64.max - 1),
            (Int64.min, UInt64.max),
        ] as [(Int64, UInt64)]
    )
    func zigZag64(value: Int64, encoded: UInt64) {
        #expect(ZigZag.encoded(value) == encoded)
        #expect(ZigZag.decoded(encoded) == value)
    }

    @Test("a 10-byte varint with high bits beyond 64 decodes truncated, as protobuf does")
    func overlongTenthByte() throws {
        let bytes: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
        let decoded = try reading(bytes) { (r: inout ProtoReader) throws(ProtoDecodingError) in try r.readVarint() }.get()
        #expect(decoded == UInt64.max)
    }

    @Test("non-canonical (padded) varints decode to the same value")
    func paddedVarint() throws {
        let bytes: [UInt8] = [0x81, 0x80, 0x80, 0x00]
        let decoded = try reading(bytes) { (r: inout ProtoReader) throws(ProtoDecodingError) in try r.readVarint() }.get()
        #expect(decoded == 1)
    }
}
