@testable import Entitlement
import EntitlementAPI
import RPCCore
import Testing

/// A Reprocess whose reply cannot be one message changes nothing: the caller could never learn
/// the outcome of acceptances committed before the reply failed.
@Suite("A Reprocess reply over the message limit")
struct ReprocessReplyLimitTests {
    @Test("is refused before anything is accepted, and audited as rejected")
    func refusedBeforeCommit() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            var fat = [makeRequest("fat-1", state: .denied), makeRequest("fat-2", state: .denied)]
            for i in fat.indices { fat[i].resources[0].error = String(repeating: "e", count: 2_200_000) }
            try await store.importFixture(baseFixture(requests: fat + [makeRequest("r1")]))
            let handler = AccessPackageRequestsHandler(store: store)

            let error = await #expect(throws: StoreError.self) {
                try await handler.reprocess(reprocessRequest(ids: ["r1", "fat-1", "fat-2"]), context: makeContext())
            }
            #expect(error?.rpcError.code == .resourceExhausted)
            #expect(error?.rpcError.message.contains("nothing was changed") == true, "\(String(describing: error))")
            let r1 = try #require(await store.request(id: "r1"))
            #expect(r1.state == .deliveryFailed && r1.reprocessCount == 0)
            let last = try #require(try await store.auditRecords(limit: 1).last)
            #expect(last.decision == .rejected && last.reason.contains("over the 4 MiB message limit"), "\(last)")

            // Each on its own fits.
            let reply = try await handler.reprocess(reprocessRequest(ids: ["r1", "fat-1"]), context: makeContext())
            #expect(reply.results.map(\.outcome) == [.accepted, .notEligible])
            await store.close()
        }
    }

    @Test("a NOT_FOUND detail does not repeat a long id in full")
    func clippedDetail() {
        let id = String(repeating: "x", count: 100_000)
        let verdict = ReprocessPolicy(windowDays: 7).evaluate(
            requestId: id, request: nil, accessPackageId: "ap-1", now: testNow)
        #expect(verdict.outcome == .notFound && verdict.detail.utf8.count < 1_000)
    }
}
