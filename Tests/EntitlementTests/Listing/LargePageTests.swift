@testable import Entitlement
import EntitlementAPI
import RPCCore
import Testing

/// Pages and imports stay within one 4 MiB gRPC message.
@Suite("Large requests")
struct LargePageTests {
    private static func large(_ id: String, createdAt: Int64, bytes: Int) -> AccessPackageRequest {
        var request = makeRequest(id, createdAt: createdAt)
        request.resources[0].error = String(repeating: "e", count: bytes)
        return request
    }

    @Test("a page that would pass the message limit is cut short and its token goes on from there")
    func pageCutShort() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            let requests = (0..<3).map { Self.large("big-\($0)", createdAt: testNow.seconds - Int64($0) * 60, bytes: 1_500_000) }
            try await store.importFixture(baseFixture(requests: requests))
            let handler = AccessPackageRequestsHandler(store: store)
            var request = ListRequestsRequest()
            request.accessPackageId = "ap-1"
            var seen: [String] = []
            var pages: [Int] = []
            repeat {
                let reply = try await handler.listRequests(request, context: makeContext())
                #expect(reply.encodedSize() <= GRPCFraming.maxMessageSize)
                pages.append(reply.requests.count)
                seen += reply.decoded.requests.map(\.id)
                request.pageToken = reply.nextPageToken
            } while !request.pageToken.isEmpty
            #expect(seen == ["big-0", "big-1", "big-2"])
            #expect(pages == [2, 1])
            await store.close()
        }
    }

    @Test("an import refuses a request too large for a reply of its own, naming it")
    func importRefusesHugeRequest() throws {
        let error = String(repeating: "e", count: Fixture.maxRequestBytes)
        let json = """
            {"requests": [{"id": "huge", "accessPackageId": "ap-1", "state": "REQUEST_STATE_DELIVERY_FAILED",
              "resources": [{"resourceId": "r", "state": "RESOURCE_DELIVERY_STATE_FAILED", "error": "\(error)"}]}]}
            """
        let refusal = #expect(throws: ImportError.self) { try Fixture(json: Array(json.utf8)) }
        #expect(refusal?.path == "requests[0]")
        #expect(refusal?.message.contains("fit in a reply") == true)
    }
}
