import EntitlementAPI
import RPCCore
import Synchronization
import Testing

@testable import EntitlementServerCore

@Suite("Health/Watch", .timeLimit(.minutes(1)))
struct HealthWatchTests {
    /// Keeps the statuses a watch writes, and lets a test wait for a count of them.
    final class Recorder: ResponseStreamSink {
        let statuses = Mutex<[HealthCheckResponse.ServingStatus]>([])

        func write(_ message: OutgoingMessage) async throws {
            let response = try HealthCheckResponse(serializedBytes: Array(message.framed.dropFirst(GRPCFraming.headerSize)))
            statuses.withLock { $0.append(response.status) }
        }

        var written: [HealthCheckResponse.ServingStatus] { statuses.withLock { $0 } }

        func wait(for count: Int) async {
            while written.count < count { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }

    static func request(_ service: String = "") -> HealthCheckRequest {
        var request = HealthCheckRequest()
        request.service = service
        return request
    }

    static func context() -> ServerContext {
        ServerContext(method: HealthMethods.watch, metadata: Metadata(), authorization: nil, peer: "127.0.0.1:1", deadline: nil)
    }

    @Test("every watcher sees each change of the store's health, through one poll that stops when the last one leaves")
    func sharedPoll() async throws {
        let committing = Atomic<Bool>(true)
        let feed = HealthStatusFeed(storeIsCommitting: { committing.load(ordering: .relaxed) }, pollInterval: .milliseconds(10))
        let health = HealthProvider(feed: feed)
        let recorders = (0..<20).map { _ in Recorder() }
        let watches = recorders.map { recorder in
            Task { try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: recorder), context: Self.context()) }
        }
        for recorder in recorders { await recorder.wait(for: 1) }
        #expect(feed.watcherCount == 20)
        #expect(feed.isPolling)
        committing.store(false, ordering: .relaxed)
        for recorder in recorders { await recorder.wait(for: 2) }
        committing.store(true, ordering: .relaxed)
        for recorder in recorders { await recorder.wait(for: 3) }
        for recorder in recorders { #expect(recorder.written == [.serving, .notServing, .serving]) }

        for watch in watches { watch.cancel() }
        for watch in watches { _ = await watch.result }
        #expect(feed.watcherCount == 0)
        #expect(!feed.isPolling, "no watcher, no poll")
    }

    @Test("a watcher that joins between polls reports what the poll published: a change undone before the poll saw it reaches no one")
    func joinBetweenPolls() async throws {
        let committing = Atomic<Bool>(true)
        // The poll never comes round within the test: what a watcher reports is what was published.
        let feed = HealthStatusFeed(storeIsCommitting: { committing.load(ordering: .relaxed) }, pollInterval: .seconds(3600))
        let health = HealthProvider(feed: feed)
        let first = Recorder()
        let one = Task { try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: first), context: Self.context()) }
        await first.wait(for: 1)
        // The store fails, a second watcher joins, and the store recovers, all between polls.
        committing.store(false, ordering: .relaxed)
        let second = Recorder()
        let two = Task { try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: second), context: Self.context()) }
        await second.wait(for: 1)
        committing.store(true, ordering: .relaxed)
        // Had it reported the live NOT_SERVING, no poll would ever see a change to wake it with.
        #expect(second.written == [.serving])
        #expect(first.written == [.serving])
        one.cancel()
        two.cancel()
        _ = await (one.result, two.result)
    }

    @Test("past the cap a watch is RESOURCE_EXHAUSTED, and a place that frees up can be taken again")
    func cap() async throws {
        let feed = HealthStatusFeed(storeIsCommitting: { true }, maxWatchers: 2)
        let health = HealthProvider(feed: feed)
        let first = Recorder()
        let second = Recorder()
        let one = Task { try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: first), context: Self.context()) }
        let two = Task { try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: second), context: Self.context()) }
        await first.wait(for: 1)
        await second.wait(for: 1)
        await #expect(throws: RPCError.self) {
            try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: Recorder()), context: Self.context())
        }
        do {
            try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: Recorder()), context: Self.context())
            Issue.record("a third watch was admitted")
        } catch let error as RPCError {
            #expect(error.code == .resourceExhausted)
            #expect(error.message == "the server is at its limit of 2 health watches; use Check, or retry later")
        }
        one.cancel()
        _ = await one.result
        let third = Recorder()
        let three = Task { try await health.watch(Self.request(), responses: ResponseStreamWriter(sink: third), context: Self.context()) }
        await third.wait(for: 1)
        #expect(third.written == [.serving])
        two.cancel()
        three.cancel()
        _ = await (two.result, three.result)
    }

    @Test("shutdown reaches every watcher at once, not at the next poll: NOT_SERVING, then UNAVAILABLE")
    func drainingEndsWatches() async throws {
        let feed = HealthStatusFeed(storeIsCommitting: { true }, pollInterval: .seconds(3600))
        let health = HealthProvider(feed: feed)
        let known = Recorder()
        let unknown = Recorder()
        let watches = [(known, ""), (unknown, "no.such.Service")].map { recorder, service in
            Task { try await health.watch(Self.request(service), responses: ResponseStreamWriter(sink: recorder), context: Self.context()) }
        }
        await known.wait(for: 1)
        await unknown.wait(for: 1)
        health.markDraining()
        for watch in watches {
            do {
                try await watch.value
                Issue.record("the watch ended OK")
            } catch let error as RPCError {
                #expect(error.code == .unavailable)
            }
        }
        #expect(known.written == [.serving, .notServing])
        #expect(unknown.written == [.serviceUnknown])
        #expect(feed.watcherCount == 0)
    }
}
