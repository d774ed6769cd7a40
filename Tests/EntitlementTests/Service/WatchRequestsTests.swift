import EntitlementAPI
import Foundation
import RPCCore
import Synchronization
import Testing

@testable import Entitlement

@Suite("WatchRequests and the watch limit")
struct WatchRequestsTests {
    /// Collects what a watch writes; fails every write after `failAfter` of them.
    final class Sink: ResponseStreamSink {
        let written = Atomic<Int>(0)
        let failAfter: Int

        init(failAfter: Int = .max) {
            self.failAfter = failAfter
        }

        func write(_ message: OutgoingMessage) async throws {
            guard written.add(1, ordering: .relaxed).newValue <= failAfter else {
                throw RPCError(code: .cancelled, message: "the caller went away")
            }
        }
    }

    static func watch(_ ids: [String]) -> WatchRequestsRequest {
        var request = WatchRequestsRequest()
        request.accessPackageId = "ap-1"
        request.requestIds = ids
        request.untilSettled = true
        return request
    }

    @Test("a watch that ends settled, or whose write fails, gives its place under the limit back")
    func endedWatchesFreeTheirPlace() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("settled", state: .delivered)]))
            let handler = AccessPackageRequestsHandler(store: store)
            let context = makeContext(method: AccessPackageRequestsMethods.watchRequests)
            // More watches than the feed's limit, one after another: each must free its place.
            for _ in 0..<(store.changes.maxSubscribers + 10) {
                let sink = Sink()
                try await handler.watchRequests(
                    Self.watch(["settled"]), responses: ResponseStreamWriter(sink: sink), context: context)
                #expect(sink.written.load(ordering: .relaxed) == 1)
            }
            #expect(store.changes.subscriberCount == 0)
            let failing = Sink(failAfter: 0)
            await #expect(throws: RPCError.self) {
                try await handler.watchRequests(
                    Self.watch(["settled"]), responses: ResponseStreamWriter(sink: failing), context: context)
            }
            #expect(store.changes.subscriberCount == 0)
            await store.close()
        }
    }
}
