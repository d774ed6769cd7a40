import EntitlementAPI
import Foundation
import PostgresNIO
import ProtoWire
import RPCCore
import Synchronization
import Testing

@testable import Entitlement
@testable import EntitlementPostgres

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

    /// Keeps what a watch writes.
    final class Recorder: ResponseStreamSink {
        let messages = Mutex<[AccessPackageRequest]>([])

        func write(_ message: OutgoingMessage) async throws {
            let response = try WatchRequestsResponse(serializedBytes: Array(message.framed.dropFirst(GRPCFraming.headerSize)))
            messages.withLock { $0.append(response.request ?? AccessPackageRequest()) }
        }

        var written: [AccessPackageRequest] { messages.withLock { $0 } }
    }

    @Test("every change moves a request's progress forward; a repeat or an older version does not")
    func progressOrder() {
        let failed = makeRequest("r", state: .deliveryFailed, resources: 2)
        let accepted = ReprocessPlan(
            accessPackageId: "ap-1", requestIds: ["r"], policy: ReprocessPolicy(windowDays: 7), now: testNow,
            current: { _ in StoredRequest(failed) }
        ).accepted[0].message
        let attempted = accepted.recordingAttempt(onResource: 0, delivered: true, error: "")
        let twice = attempted.recordingAttempt(onResource: 1, delivered: false, error: "timeout")
        let settled = twice.settled(now: testNow)
        let versions = [failed, accepted, attempted, twice, settled]
        #expect(versions.map(RequestProgress.init) == versions.map(RequestProgress.init).sorted())
        #expect(Set(versions.map { "\(RequestProgress($0))" }).count == versions.count, "each change is a step")
        var progress = WatchedProgress()
        let steps = [
            progress.advance(to: attempted), progress.advance(to: attempted), progress.advance(to: accepted),
            progress.advance(to: settled),
        ]
        #expect(steps == [true, false, false, true])
    }

    @Test(
        "on PostgreSQL a version from before the watch's snapshot, arriving after it, is not sent: no going back, no false settlement",
        .enabled(if: PostgresTestDatabase.serverURL != nil, "needs ENTITLEMENT_TEST_POSTGRES"),
        .timeLimit(.minutes(1)))
    func olderVersionsAfterTheSnapshot() async throws {
        // The request was settled, then reprocessed: the watch's snapshot is that DELIVERING.
        let previous = makeRequest("r-1", state: .delivered, completedAgo: day)
        var current = previous
        current.state = .delivering
        current.reprocessCount = previous.reprocessCount + 1
        for i in current.resources.indices { current.resources[i].state = .pending }
        try await withPostgresStore(requests: [current]) { store, url in
            let handler = AccessPackageRequestsHandler(store: store)
            let recorder = Recorder()
            let watch = Task {
                try await handler.watchRequests(
                    Self.watch(["r-1"]), responses: ResponseStreamWriter(sink: recorder),
                    context: makeContext(method: AccessPackageRequestsMethods.watchRequests))
            }
            while recorder.written.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            // The notification of the settled version, late, as a listener can hand it over
            // after the snapshot was read; then a real change.
            try await PostgresTestDatabase.withConnection(url) { connection in
                let payload = "b" + Base64.encode(previous.serializedBytes())
                try await connection.query(
                    "SELECT pg_notify(\(RequestRow.changesChannel), \(payload))", logger: PostgresTestDatabase.logger)
            }
            _ = await store.claimDeliveringRequests(limit: 1)
            for resource in current.resources.indices {
                _ = try await store.recordDeliveryAttempt(requestId: "r-1", resourceIndex: resource, delivered: true, error: "")
            }
            _ = try await store.finishDelivery(requestId: "r-1")
            try await watch.value  // ends when settled: by the real settlement only
            let written = recorder.written
            #expect(written.map(\.reprocessCount) == Array(repeating: current.reprocessCount, count: 4), "\(written)")
            #expect(written.map { $0.resources.filter { $0.state == .delivered }.count } == [0, 1, 2, 2])
            #expect(written.last?.state == .delivered)
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
