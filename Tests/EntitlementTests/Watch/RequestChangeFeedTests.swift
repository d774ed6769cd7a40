import EntitlementAPI
import Foundation
import Synchronization
import Testing

@testable import Entitlement

@Suite("RequestChangeFeed", .timeLimit(.minutes(1)))
struct RequestChangeFeedTests {
    static func change(_ id: String, count: Int32) -> AccessPackageRequest {
        var request = AccessPackageRequest()
        request.id = id
        request.accessPackageId = "ap-1"
        request.reprocessCount = count
        return request
    }

    @Test("watchers cancelled while changes are published never deadlock the feed (a yield under the feed's lock waited for the cancelling thread, which waited for the lock)")
    func cancelWhilePublishing() async throws {
        let feed = RequestChangeFeed(maxSubscribers: 10_000, bufferCapacity: 4)
        let stop = Atomic<Bool>(false)
        let published = Atomic<Int>(0)
        let publisher = Thread {
            var count: Int32 = 0
            while !stop.load(ordering: .relaxed) {
                count &+= 1
                feed.publish([Self.change("r-1", count: count), Self.change("r-2", count: count)])
                published.add(1, ordering: .relaxed)
            }
        }
        publisher.start()
        defer { stop.store(true, ordering: .relaxed) }
        for _ in 0..<400 {
            let watchers = (0..<8).map { _ in
                Task.detached {
                    guard let subscription = try? feed.subscribe(packageId: "ap-1", ids: nil) else { return }
                    defer { subscription.stop() }
                    for await _ in subscription.changes {}
                }
            }
            try await Task.sleep(for: .microseconds(200))
            for watcher in watchers { watcher.cancel() }
            for watcher in watchers { await watcher.value }
        }
        // Liveness, not timing: on a loaded machine the publisher's thread may wait its turn, but a
        // deadlocked one never moves again.
        let before = published.load(ordering: .relaxed)
        for _ in 0..<1_000 where published.load(ordering: .relaxed) == before {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(published.load(ordering: .relaxed) > before, "the publisher is stuck")
        #expect(feed.subscriberCount == 0)
    }
}
