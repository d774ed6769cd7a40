import ProtoWire
import Testing

@Suite("ProtoWriter and ProtoSize")
struct ProtoWriterTests {
    @Test("fixed-width values are little-endian")
    func fixedWidth() {
        #expect(written(capacity: 4) { $0.writeFixed32(0x0102_0304) } == [0x04, 0x03, 0x02, 0x01])
        #expect(
            written(capacity: 8) { $0.writeFixed64(0x0102_0304_0506_0708) }
                == [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
        )
        #expect(written(capacity: 5) { $0.writeFloat(-0.0, field: 1) } == [0x0D, 0, 0, 0, 0x80])
        #expect(written(capacity: 9) { $0.writeDouble(1, field: 1) } == [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        #expect(written(capacity: 5) { $0.writeSFixed32(-1, field: 1) } == [0x0D, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    @Test("tags combine field number and wire type; the largest field number takes five bytes")
    func tags() {
        #expect(tag(1, .varint) == [0x08])
        #expect(tag(15, .lengthDelimited) == [0x7A])
        #expect(tag(16, .varint) == [0x80, 0x01])
        #expect(tag(FieldTag.maxFieldNumber, .fixed32) == [0xFD, 0xFF, 0xFF, 0xFF, 0x0F])
        #expect(ProtoSize.tag(FieldTag.maxFieldNumber) == 5)
        #expect(ProtoSize.tag(15) == 1)
        #expect(ProtoSize.tag(16) == 2)
    }

    @Test(
        "whole-field sizes match the bytes written",
        arguments: [Int32.min, -1, 0, 1, 127, 128, Int32.max]
    )
    func sizesMatch(value: Int32) {
        for field in [1, 16, 2047, 2048, FieldTag.maxFieldNumber] {
            #expect(written(capacity: 32) { $0.writeInt32(value, field: field) }.count == ProtoSize.int32(value, field: field))
            #expect(written(capacity: 32) { $0.writeSInt32(value, field: field) }.count == ProtoSize.sint32(value, field: field))
            #expect(
                written(capacity: 32) { $0.writeInt64(Int64(value) << 16, field: field) }.count
                    == ProtoSize.int64(Int64(value) << 16, field: field)
            )
            #expect(
                written(capacity: 32) { $0.writeSInt64(Int64(value) << 16, field: field) }.count
                    == ProtoSize.sint64(Int64(value) << 16, field: field)
            )
            #expect(
                written(capacity: 32) { $0.writeUInt32(UInt32(bitPattern: value), field: field) }.count
                    == ProtoSize.uint32(UInt32(bitPattern: value), field: field)
            )
        }
    }

    @Test("length-delimited fields carry a varint length prefix", arguments: [0, 1, 127, 128, 16_384])
    func lengthDelimitedPrefix(length: Int) {
        let payload = [UInt8](repeating: 0x61, count: length)
        let size = ProtoSize.bytes(payload, field: 2)
        let bytes = written(capacity: size) { $0.writeBytes(payload, field: 2) }
        #expect(bytes.count == size)
        #expect(bytes == lengthDelimited(2, payload))
        let string = String(repeating: "é", count: length)
        let stringSize = ProtoSize.string(string, field: 3)
        #expect(stringSize == 1 + Varint.size(of: UInt64(length * 2)) + length * 2)
        #expect(written(capacity: stringSize) { $0.writeString(string, field: 3) }.count == stringSize)
    }

    @Test("writeLengthDelimited writes the tag, the length and the body")
    func packedRun() {
        let bytes = written(capacity: 8) { writer in
            writer.writeLengthDelimited(field: 4, payloadSize: 6) { w in
                w.writeVarint(3)
                w.writeVarint(270)
                w.writeVarint(86_942)
            }
        }
        #expect(bytes == [0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05])
    }
}
