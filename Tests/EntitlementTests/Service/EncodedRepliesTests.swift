import Entitlement
import EntitlementAPI
import ProtoWire
import Testing

/// The server answers with `ListRequestsReply` and `ReprocessReply`; a client decodes the
/// generated messages, so the bytes must be the ones those would have.
@Suite("Replies written from stored encodings")
struct EncodedRepliesTests {
    static let requests = [
        makeRequest("r1"), makeRequest("r2", state: .delivering, resources: 0), makeRequest("r3", completedAgo: nil),
    ]

    @Test("a page is byte for byte the ListRequestsResponse of the same requests", arguments: ["", "next-token"])
    func page(token: String) throws {
        var reply = ListRequestsReply()
        reply.requests = Self.requests.map(EncodedMessage.init)
        reply.nextPageToken = token
        var expected = ListRequestsResponse()
        expected.requests = Self.requests
        expected.nextPageToken = token

        let bytes = reply.serializedBytes()
        #expect(bytes == expected.serializedBytes())
        #expect(reply.encodedSize() == bytes.count)
        #expect(try ListRequestsResponse(serializedBytes: bytes) == expected)
        #expect(try ListRequestsReply(serializedBytes: bytes).decoded == expected)
    }

    @Test("Reprocess verdicts are byte for byte the ReprocessResponse of the same results")
    func reprocess() throws {
        let verdicts = [
            ReprocessVerdict(
                requestId: "r1", outcome: .accepted, detail: "accepted",
                encodedRequest: EncodedMessage(Self.requests[0])),
            ReprocessVerdict(requestId: "nope", outcome: .notFound, detail: "no request", encodedRequest: nil),
            ReprocessVerdict(requestId: "", outcome: .unspecified, detail: "", encodedRequest: nil),
            ReprocessVerdict(
                requestId: "r3", outcome: .notEligible, detail: "", encodedRequest: EncodedMessage(Self.requests[2])),
        ]
        let reply = ReprocessReply(results: verdicts)
        var expected = ReprocessResponse()
        expected.results = verdicts.map(\.result)
        #expect(expected.results[0].request == Self.requests[0])
        #expect(expected.results[1].request == nil)

        let bytes = reply.serializedBytes()
        #expect(bytes == expected.serializedBytes())
        #expect(reply.encodedSize() == bytes.count)
        #expect(try ReprocessResponse(serializedBytes: bytes) == expected)
        #expect(try ReprocessReply(serializedBytes: bytes).decoded == expected)
    }
}
