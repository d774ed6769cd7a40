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

    @Test(
        "a request too big for a NOTIFY payload is watched one version per change, none repeated or skipped",
        .enabled(if: PostgresTestDatabase.serverURL != nil, "needs ENTITLEMENT_TEST_POSTGRES"),
        .timeLimit(.minutes(1)))
    func bigRequestVersions() async throws {
        var big = makeRequest("r-big", state: .delivering, completedAgo: nil, resources: 64)
        for i in big.resources.indices { big.resources[i].displayName = String(repeating: "d", count: 100) }
        #expect(big.serializedBytes().count > 7_000)
        try await withStore(.postgres, requests: [big]) { store, _ in
            _ = await store.claimDeliveringRequests(limit: 1)
            let start = try #require(try await store.watch(accessPackageId: "ap-1", ids: ["r-big"]))
            defer { start.subscription.stop() }
            // Side by side, as the worker grants a request's resources: the commits come back to
            // back, and reading the row back per notification gave later versions twice or more.
            let attempts = 16
            try await withThrowingTaskGroup(of: Void.self) { group in
                for resource in 0..<attempts {
                    group.addTask {
                        _ = try await store.recordDeliveryAttempt(
                            requestId: "r-big", resourceIndex: resource, delivered: true, error: "")
                    }
                }
                try await group.waitForAll()
            }
            var delivered: [Int] = []
            for await change in start.subscription.changes {
                delivered.append(change.resources.filter { $0.state == .delivered }.count)
                if delivered.count == attempts { break }
            }
            #expect(delivered == Array(1...attempts))
        }
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
