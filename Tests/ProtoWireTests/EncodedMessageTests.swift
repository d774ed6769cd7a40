import EntitlementAPI
import ProtoWire
import Testing

@Suite("EncodedMessage")
struct EncodedMessageTests {
    static var request: AccessPackageRequest {
        var request = AccessPackageRequest()
        request.id = "req-1"
        request.accessPackageId = "ap-1"
        request.state = .partiallyDelivered
        request.createdAt = Timestamp(seconds: 1_767_225_600, nanos: 5)
        var resource = ResourceDelivery()
        resource.resourceId = "grp-1"
        resource.attempts = 3
        request.resources = [resource, resource]
        return request
    }

    @Test("a kept encoding writes the bytes writeMessage writes, and ProtoSize agrees")
    func sameBytesAsTheMessage() {
        let message = Self.request
        let encoded = EncodedMessage(message)
        for field in [1, 4, 16, 2048] {
            let direct = written(capacity: 512) { $0.writeMessage(message, field: field) }
            let kept = written(capacity: 512) { $0.writeEncoded(encoded, field: field) }
            #expect(kept == direct)
            #expect(ProtoSize.encoded(encoded, field: field) == direct.count)
        }
        #expect(encoded.message == message)
    }

    @Test("bytes read off the wire are checked: a truncated message is refused")
    func validation() throws {
        let bytes = Self.request.serializedBytes()
        #expect(try EncodedMessage<AccessPackageRequest>(validating: bytes).message == Self.request)
        #expect(throws: ProtoDecodingError.self) {
            try EncodedMessage<AccessPackageRequest>(validating: Array(bytes.dropLast()))
        }
    }

    @Test("a field read as an encoding round-trips to the same message")
    func readEncoded() throws {
        let field = written(capacity: 512) { $0.writeMessage(Self.request, field: 4) }
        let encoded = try reading(field) { reader throws(ProtoDecodingError) in
            guard let tag = try reader.nextTag() else { throw .truncated }
            return try reader.readEncoded(tag, as: AccessPackageRequest.self)
        }.get()
        #expect(encoded.message == Self.request)
    }
}
