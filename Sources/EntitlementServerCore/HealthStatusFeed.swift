import EntitlementAPI
import RPCCore
import Synchronization

/// The serving status every health service reports, and the Health/Watch streams waiting for it
/// to change. One poll serves every watcher (the store's health is read, not announced): a
/// sleeping task per watcher cost four wake-ups a second each, and nothing bounded how many
/// watches unauthenticated callers could open.
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

    var current: Status { isDraining || !storeIsCommitting() ? .notServing : .serving }

    /// Shutdown has begun: NOT_SERVING from now on, and every watcher hears it at once.
    func markDraining() {
        draining.store(true, ordering: .relaxed)
        notifyWatchers()
    }

    /// A stream of wake-ups, one each time the status may have changed (coalesced for a watcher
    /// still writing the last one). Ending the iteration leaves the feed.
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
            if watchers.poller == nil { watchers.poller = startPolling() }
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

    private func notifyWatchers() {
        let continuations = watchers.withLock { Array($0.continuations.values) }
        for continuation in continuations { continuation.yield() }
    }

    /// Runs while anyone watches; holds the feed weakly, so a feed nobody uses goes.
    private func startPolling() -> Task<Void, Never> {
        let interval = pollInterval
        return Task { [weak self] in
            var last = self?.current
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                let now = self.current
                if now != last {
                    last = now
                    self.notifyWatchers()
                }
            }
        }
    }
}
