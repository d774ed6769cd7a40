import EntitlementAPI
import ProtoWire
import Testing

@Suite("ProtoReader on hostile input")
struct ProtoReaderTests {
    @Test("every truncation of a valid message throws .truncated, never crashes")
    func truncations() throws {
        let bytes = Samples.request(1).serializedBytes()
        for length in 0..<bytes.count {
            let error = decodingError(AccessPackageRequest.self, Array(bytes[0..<length]))
            // A cut that lands exactly between two top-level fields is a valid shorter message.
            if let error { #expect(error == .truncated, "length \(length)") }
        }
        #expect(decodingError(AccessPackageRequest.self, [0x0A, 0x05, 0x61]) == .truncated)
        #expect(decodingError(AccessPackageRequest.self, [0x48]) == .truncated)
        #expect(decodingError(AccessPackageRequest.self, [0x48, 0x80]) == .truncated)
        #expect(decodingError(Scalars.self, [0x4D, 0x01, 0x02]) == .truncated)
        #expect(decodingError(Scalars.self, [0x51, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]) == .truncated)
    }

    @Test("a varint longer than ten bytes is malformed")
    func elevenByteVarint() {
        let value = [0x48] + [UInt8](repeating: 0xFF, count: 10) + [0x01]
        #expect(decodingError(AccessPackageRequest.self, value) == .malformedVarint)
        let tagBytes = [UInt8](repeating: 0x80, count: 10) + [0x01]
        #expect(decodingError(AccessPackageRequest.self, tagBytes) == .malformedVarint)
        let length = [0x0A] + [UInt8](repeating: 0x80, count: 10) + [0x00]
        #expect(decodingError(AccessPackageRequest.self, length) == .malformedVarint)
    }

    @Test("tags and length prefixes take up to 5 varint bytes, padded or not; 6 or more are refused, as protoc refuses them")
    func overlongPrefixes() throws {
        // Field 3, catalog_id: "c".
        let padded5Tag: [UInt8] = [0x9A, 0x80, 0x80, 0x80, 0x00, 0x01, 0x63]
        #expect(try AccessPackageRequest(serializedBytes: padded5Tag).catalogId == "c")
        let padded5Length: [UInt8] = [0x1A, 0x81, 0x80, 0x80, 0x80, 0x00, 0x63]
        #expect(try AccessPackageRequest(serializedBytes: padded5Length).catalogId == "c")
        #expect(decodingError(AccessPackageRequest.self, [0x9A, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x63]) == .overlongPrefix)
        #expect(decodingError(AccessPackageRequest.self, [0x1A, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x63]) == .overlongPrefix)
        // Inside an unknown field too.
        #expect(decodingError(AccessPackageRequest.self, [0x7A, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x63]) == .overlongPrefix)
    }

    @Test("a length past the end of the input is truncated; one over 2 GiB is malformed")
    func lengthPastEnd() {
        #expect(decodingError(AccessPackageRequest.self, [0x0A, 0x10, 0x61, 0x62]) == .truncated)
        #expect(decodingError(AccessPackageRequest.self, [0x22, 0x03, 0x0A, 0x05, 0x61]) == .truncated)
        #expect(decodingError(AccessPackageRequest.self, [0x0A] + varint(UInt64(Int32.max) + 1)) == .malformedLength)
        #expect(decodingError(AccessPackageRequest.self, [0x0A] + varint(UInt64.max)) == .overlongPrefix)
        // An unknown length-delimited field is bounds-checked as well.
        #expect(decodingError(AccessPackageRequest.self, [0x7A, 0x7F, 0x00]) == .truncated)
    }

    @Test(
        "a known field sent with another wire type is an unknown field, kept and written back as protoc's parsers do",
        arguments: [
            [0x0D, 0, 0, 0, 0],  // string id as fixed32
            [0x2A, 0x00],  // enum state as bytes
            [0x29, 0, 0, 0, 0, 0, 0, 0, 0],  // enum state as fixed64
            [0x20, 0x01],  // message requestor as varint
            [0x43, 0x44],  // repeated message as a group
            [0x4A, 0x00],  // int32 reprocess_count as bytes
        ] as [[UInt8]]
    )
    func wrongWireTypeIsUnknown(bytes: [UInt8]) throws {
        let decoded = try AccessPackageRequest(serializedBytes: bytes)
        var bare = decoded
        bare.unknownFields = UnknownFields()
        #expect(bare == AccessPackageRequest(), "no known field is set")
        #expect(decoded.serializedBytes() == bytes)
    }

    @Test("repeated scalars take their own wire type and the packed one; any other is an unknown field")
    func repeatedWrongWireType() throws {
        // states (field 2 of ListRequestsRequest) as fixed32.
        let states = try ListRequestsRequest(serializedBytes: [0x15, 1, 0, 0, 0])
        #expect(states.states.isEmpty)
        #expect(states.serializedBytes() == [0x15, 1, 0, 0, 0])
        // repeated_fixed32 (field 29) as a varint.
        #expect(try Scalars(serializedBytes: tag(29, .varint) + [0x01]).repeatedFixed32.isEmpty)
        // A packed fixed32 run whose length is not a multiple of four.
        #expect(decodingError(Scalars.self, lengthDelimited(29, [1, 2, 3, 4, 5])) == .truncated)
        #expect(decodingError(Scalars.self, lengthDelimited(30, [1, 2, 3, 4])) == .truncated)
        // A packed varint run that ends inside a varint.
        #expect(decodingError(Scalars.self, lengthDelimited(21, [0x01, 0x80])) == .truncated)
    }

    @Test("a string field with invalid UTF-8 is rejected; bytes fields accept anything")
    func invalidUTF8() {
        for bad: [UInt8] in [[0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98], [0xC0, 0xAF]] {
            #expect(decodingError(AccessPackageRequest.self, lengthDelimited(1, bad)) == .invalidUTF8(field: 1))
            #expect(decodingError(ReprocessRequest.self, lengthDelimited(2, bad)) == .invalidUTF8(field: 2))
            #expect(decodingError(Scalars.self, lengthDelimited(16, bad)) == nil)
        }
        // Inside a nested message and inside a map key.
        #expect(decodingError(AccessPackageRequest.self, lengthDelimited(4, lengthDelimited(2, [0xFF]))) == .invalidUTF8(field: 2))
        #expect(decodingError(Scalars.self, lengthDelimited(42, lengthDelimited(1, [0xFE]))) == .invalidUTF8(field: 1))
    }

    @Test("nesting deeper than 100 messages is rejected; 100 is accepted")
    func recursionLimit() throws {
        func nested(_ depth: Int) -> [UInt8] {
            var bytes: [UInt8] = [0x10, 0x01]  // depth = 1
            for _ in 0..<depth { bytes = lengthDelimited(1, bytes) }
            return bytes
        }
        let ok = try Recursive(serializedBytes: nested(100))
        var levels = 0
        var cursor: Recursive? = ok
        while let next = cursor?.child {
            levels += 1
            cursor = next
        }
        #expect(levels == 100)
        #expect(ok.serializedBytes() == nested(100))
        #expect(decodingError(Recursive.self, nested(101)) == .recursionLimitExceeded)
        #expect(decodingError(Recursive.self, nested(5_000)) == .recursionLimitExceeded)
        // Unknown groups count against the same budget.
        let groups = [UInt8](repeating: 0x7B, count: 101) + [UInt8](repeating: 0x7C, count: 101)
        #expect(decodingError(Recursive.self, groups) == .recursionLimitExceeded)
    }

    @Test("field number 0 and numbers above 2^29 - 1 are invalid")
    func invalidFieldNumbers() {
        #expect(decodingError(AccessPackageRequest.self, [0x00, 0x01]) == .invalidFieldNumber(0))
        #expect(decodingError(AccessPackageRequest.self, [0x02, 0x00]) == .invalidFieldNumber(0))
        let tooLarge = varint(UInt64(FieldTag.maxFieldNumber + 1) << 3)
        #expect(decodingError(AccessPackageRequest.self, tooLarge + [0x00]) == .invalidFieldNumber(UInt64(FieldTag.maxFieldNumber + 1)))
        // The largest legal number is fine (an unknown field here).
        #expect(decodingError(AccessPackageRequest.self, tag(FieldTag.maxFieldNumber, .varint) + [0x01]) == nil)
    }

    @Test("wire types 6 and 7, and an unmatched end-group, are invalid")
    func invalidWireTypes() {
        #expect(decodingError(AccessPackageRequest.self, [0x0E]) == .invalidWireType(6))
        #expect(decodingError(AccessPackageRequest.self, [0x0F]) == .invalidWireType(7))
        #expect(decodingError(AccessPackageRequest.self, [0x7E, 0x00]) == .invalidWireType(6))
        #expect(decodingError(AccessPackageRequest.self, [0x7C]) == .invalidWireType(4))
        // A group closed with another field's end tag.
        #expect(decodingError(AccessPackageRequest.self, [0x7B, 0x84, 0x01]) == .invalidWireType(4))
        // A group that never ends.
        #expect(decodingError(AccessPackageRequest.self, [0x7B, 0x08, 0x01]) == .truncated)
    }

    @Test("an unknown group is skipped and kept byte for byte")
    func unknownGroupKept() throws {
        let group: [UInt8] = [0x7B, 0x08, 0x01, 0x12, 0x01, 0x61, 0x7C]
        let message = try AccessPackageRequest(serializedBytes: [0x0A, 0x01, 0x78] + group)
        #expect(message.id == "x")
        #expect(message.unknownFields.bytes == group)
        #expect(message.serializedBytes() == [0x0A, 0x01, 0x78] + group)
    }

    @Test("empty input decodes to the default message")
    func emptyInput() throws {
        #expect(try AccessPackageRequest(serializedBytes: []) == AccessPackageRequest())
        #expect(try Scalars(serializedBytes: []) == Scalars())
        let fromNil = try Scalars(decoding: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(fromNil == Scalars())
    }

    @Test("a repeated occurrence of a singular field: scalars take the last value, messages merge")
    func lastValueWinsAndMessagesMerge() throws {
        let bytes =
            lengthDelimited(1, Array("a".utf8)) + lengthDelimited(1, Array("b".utf8))
            + lengthDelimited(4, lengthDelimited(1, Array("id".utf8)))
            + lengthDelimited(4, lengthDelimited(2, Array("name".utf8)))
        let message = try AccessPackageRequest(serializedBytes: bytes)
        #expect(message.id == "b")
        #expect(message.requestor?.id == "id")
        #expect(message.requestor?.displayName == "name")
    }

    @Test("occurrences(of:) counts the rest of the message's fields with that tag, stopping at bad input or groups")
    func occurrences() throws {
        let resource = lengthDelimited(8, lengthDelimited(1, Array("r".utf8)))
        let tag = FieldTag(fieldNumber: 8, wireType: .lengthDelimited)
        func count(_ bytes: [UInt8]) throws -> Int {
            try bytes.withUnsafeBytes { raw in
                var reader = ProtoReader(raw)
                let first = try #require(try reader.nextTag())
                #expect(first == tag)
                return reader.occurrences(of: tag)
            }
        }
        let name = lengthDelimited(1, Array("id".utf8))
        #expect(try count(resource) == 1)
        #expect(try count(resource + name + resource + [0x48, 0x01] + resource) == 3)
        // Field 8 with another wire type is not counted.
        #expect(try count(resource + [0x40, 0x01] + resource) == 2)
        // Malformed or truncated input: what came before it.
        #expect(try count(resource + resource + [0x42, 0x7F]) == 2)
        #expect(try count(resource + [0x00] + resource) == 1)
        // A group ends the scan.
        #expect(try count(resource + [0x7B, 0x7C] + resource) == 1)
    }

    @Test("a repeated message field decodes into exactly as much capacity as it has elements")
    func repeatedMessageCapacity() throws {
        let response = Samples.listResponse(count: 37)
        let decoded = try ListRequestsResponse(serializedBytes: response.serializedBytes())
        #expect(decoded == response)
        #expect(decoded.requests.count == 37)
        #expect(decoded.requests.capacity < 64)
        // Elements that are interleaved with other fields and empty are still all decoded.
        let empty = lengthDelimited(1, [])
        let bytes = empty + lengthDelimited(2, Array("t".utf8)) + empty + empty
        let interleaved = try ListRequestsResponse(serializedBytes: bytes)
        #expect(interleaved.requests == [AccessPackageRequest(), AccessPackageRequest(), AccessPackageRequest()])
        #expect(interleaved.nextPageToken == "t")
    }
}
