import EntitlementAPI
import RPCCore
import Synchronization

/// The serving status every health service reports, and the Health/Watch streams waiting for it
/// to change. One poll serves every watcher (the store's health is read, not announced): a
/// sleeping task per watcher cost four wake-ups a second each, and nothing bounded how many
/// watches unauthenticated callers could open.
///
/// Watchers report the status the poll last published, not the live one: a watcher that read a
/// change the poll had not seen yet would never be woken when it was undone.
final class HealthStatusFeed: Sendable {
    typealias Status = HealthCheckResponse.ServingStatus

    /// How often the store's health is read while anyone watches.
    let pollInterval: Duration
    let maxWatchers: Int

    private let draining = Atomic<Bool>(false)
    private let storeIsCommitting: @Sendable () -> Bool
    private let watchers = Mutex(Watchers())

    private struct Watchers {
        var continuations: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextID = 0
        var poller: Task<Void, Never>?
        /// What watchers report; set when the poll starts and whenever it sees a change.
        var published: Status = .serving
    }

    init(
        storeIsCommitting: @escaping @Sendable () -> Bool, pollInterval: Duration = .milliseconds(250),
        maxWatchers: Int = 10_000
    ) {
        self.storeIsCommitting = storeIsCommitting
        self.pollInterval = pollInterval
        self.maxWatchers = maxWatchers
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// The status now (what Check answers).
    var current: Status { isDraining || !storeIsCommitting() ? .notServing : .serving }

    /// The status watchers report.
    var published: Status { watchers.withLock { $0.published } }

    /// Shutdown has begun: NOT_SERVING from now on, and every watcher hears it at once.
    func markDraining() {
        draining.store(true, ordering: .relaxed)
        publish(.notServing)
    }

    /// A stream of wake-ups, one each time the published status changes (coalesced for a
    /// watcher still writing the last one). Ending the iteration leaves the feed.
    func watch() throws(RPCError) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = try watchers.withLock { watchers throws(RPCError) -> Int in
            guard watchers.continuations.count < maxWatchers else {
                throw RPCError(
                    code: .resourceExhausted,
                    message: "the server is at its limit of \(maxWatchers) health watches; use Check, or retry later")
            }
            let id = watchers.nextID
            watchers.nextID += 1
            watchers.continuations[id] = continuation
            if watchers.poller == nil {
                watchers.published = current
                watchers.poller = startPolling()
            }
            return id
        }
        continuation.onTermination = { [weak self] _ in self?.leave(id) }
        return stream
    }

    var watcherCount: Int { watchers.withLock { $0.continuations.count } }

    /// Whether the poll runs (it does exactly while anyone watches).
    var isPolling: Bool { watchers.withLock { $0.poller != nil } }

    private func leave(_ id: Int) {
        let poller = watchers.withLock { watchers -> Task<Void, Never>? in
            watchers.continuations[id] = nil
            guard watchers.continuations.isEmpty else { return nil }
            defer { watchers.poller = nil }
            return watchers.poller
        }
        poller?.cancel()
    }

    /// Publishes `status` and wakes every watcher if it is a change.
    private func publish(_ status: Status) {
        let woken = watchers.withLock { watchers -> [AsyncStream<Void>.Continuation] in
            guard watchers.published != status else { return [] }
            watchers.published = status
            return Array(watchers.continuations.values)
        }
        for continuation in woken { continuation.yield() }
    }

    /// Runs while anyone watches; holds the feed weakly, so a feed nobody uses goes. Detached: it
    /// serves every watcher, not the call of the first one (its priority, its task-locals).
    private func startPolling() -> Task<Void, Never> {
        let interval = pollInterval
        return Task.detached { [weak self] in
            while true {
                do { try await Task.sleep(for: interval) } catch { return }
                guard let self else { return }
                self.publish(self.current)
            }
        }
    }
}
