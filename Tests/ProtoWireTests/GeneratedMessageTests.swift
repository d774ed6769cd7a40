import EntitlementAPI
import ProtoWire
import Testing

@Suite("Generated messages")
struct GeneratedMessageTests {
    @Test("defaults: zero scalars, nil messages, empty collections, nothing encoded")
    func defaults() {
        let r = AccessPackageRequest()
        #expect(r.id.isEmpty && r.accessPackageId.isEmpty && r.reprocessCount == 0)
        #expect(r.requestor == nil && r.createdAt == nil && r.resources.isEmpty)
        #expect(r.encodedSize() == 0)
        #expect(r.serializedBytes().isEmpty)
        let s = Scalars()
        #expect(s.optionalInt32 == nil && s.choice == nil && s.stringToInt.isEmpty)
        #expect(s.encodedSize() == 0)
    }

    @Test("proto3 optional and oneof members are written even when zero")
    func explicitPresence() {
        var s = Scalars()
        s.optionalInt32 = 0
        #expect(s.serializedBytes() == tag(44, .varint) + [0x00])
        s.optionalInt32 = nil
        s.choice = .choiceName("")
        #expect(s.serializedBytes() == lengthDelimited(45, []))
        s.choice = .choiceNumber(0)
        #expect(s.serializedBytes() == tag(47, .varint) + [0x00])
    }

    @Test("a oneof takes the last member on the wire; a repeated message member merges")
    func oneofDecoding() throws {
        var nested = Nested()
        nested.value = 5
        let bytes =
            lengthDelimited(45, Array("a".utf8)) + lengthDelimited(46, tag(1, .varint) + [0x05])
            + lengthDelimited(46, lengthDelimited(2, Array("n".utf8)))
        let s = try Scalars(serializedBytes: bytes)
        nested.name = "n"
        #expect(s.choice == .choiceNested(nested))
        let last = try Scalars(serializedBytes: bytes + tag(47, .varint) + [0x07])
        #expect(last.choice == .choiceNumber(7))
    }

    @Test("fields are written in field-number order, unknown fields last")
    func fieldOrder() throws {
        var r = AccessPackageRequest()
        r.lastReprocessedAt = Timestamp(seconds: 1)
        r.id = "a"
        r.reprocessCount = 2
        let withUnknown = try AccessPackageRequest(serializedBytes: tag(99, .varint) + [0x01] + r.serializedBytes())
        let bytes = withUnknown.serializedBytes()
        #expect(bytes == lengthDelimited(1, [0x61]) + tag(9, .varint) + [0x02] + lengthDelimited(10, [0x08, 0x01]) + tag(99, .varint) + [0x01])
    }

    @Test("a recursive message nests through a box and compares by value")
    func recursive() throws {
        var inner = Recursive()
        inner.depth = 2
        var outer = Recursive()
        outer.depth = 1
        outer.child = inner
        var copy = outer
        #expect(copy == outer)
        copy.child?.depth = 3
        #expect(copy != outer)
        #expect(outer.child?.depth == 2)
        #expect(try Recursive(serializedBytes: outer.serializedBytes()) == outer)
    }

    @Test("each file embeds its FileDescriptorProto")
    func embeddedDescriptors() throws {
        // FileDescriptorProto.name (field 1) comes first, then package (field 2).
        let bytes = AccessRequestsDescriptor.fileDescriptorProto
        let expectedPrefix = lengthDelimited(1, Array("entitlement/v1/access_requests.proto".utf8))
            + lengthDelimited(2, Array("entitlement.v1".utf8))
        #expect(Array(bytes.prefix(expectedPrefix.count)) == expectedPrefix)
        #expect(HealthDescriptor.fileDescriptorProto.starts(with: lengthDelimited(1, Array("grpc/health/v1/health.proto".utf8))))
        // No source_code_info (field 9) is embedded.
        var fields: [Int] = []
        _ = reading(bytes) { (r: inout ProtoReader) throws(ProtoDecodingError) in
            var skipped = UnknownFields()
            while let t = try r.nextTag() {
                fields.append(t.fieldNumber)
                try r.skipField(t, into: &skipped)
            }
            #expect(skipped.bytes == bytes)
        }
        #expect(!fields.contains(9))
        #expect(fields.contains(6))  // the service
    }
}
