public import EntitlementAPI
public import RPCCore
import Synchronization

/// Committed request changes, fanned out to watchers (WatchRequests). The store publishes a
/// change only after its commit, so a watcher never sees one a crash could undo. A replicated
/// store publishes here what other replicas committed too (the feed does not care where a
/// change came from).
///
/// Bounded everywhere: at most `maxSubscribers` watchers, each with a buffer of
/// `bufferCapacity` changes; a watcher whose buffer is full is ended (it fell behind), and
/// nobody else waits for it.
public final class RequestChangeFeed: Sendable {
    public let maxSubscribers: Int
    public let bufferCapacity: Int

    private struct Subscriber {
        let packageId: String
        /// Only these requests (by their bytes, as the stores look ids up); nil: every request
        /// of the package.
        let ids: Set<ExactString>?
        let continuation: AsyncStream<AccessPackageRequest>.Continuation
        let subscription: RequestSubscription
    }

    private struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        var nextID: UInt64 = 0
        /// Set when the server is shutting down: every watcher ends with it, new ones too.
        var closedWith: RPCError?
    }

    private let state = Mutex(State())
    private let publishing = Mutex(())

    public init(maxSubscribers: Int = 10_000, bufferCapacity: Int = 256) {
        self.maxSubscribers = maxSubscribers
        self.bufferCapacity = bufferCapacity
    }

    /// Watchers now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Starts watching `packageId` (only `ids` when given, matched by their bytes: a `Set<String>`
    /// would merge two spellings a PostgreSQL store keeps apart). Call it where no change can be
    /// published between reading the snapshot and subscribing (on the store actor).
    public func subscribe(packageId: String, ids: [String]?) throws(RPCError) -> RequestSubscription {
        let capacity = bufferCapacity
        let (stream, continuation) = AsyncStream<AccessPackageRequest>.makeStream(
            bufferingPolicy: .bufferingOldest(capacity))
        let result = state.withLock { state -> Result<RequestSubscription, RPCError> in
            if let closed = state.closedWith { return .failure(closed) }
            guard state.subscribers.count < maxSubscribers else {
                return .failure(
                    RPCError(
                        code: .resourceExhausted,
                        message: "the server is at its limit of \(maxSubscribers) watch streams; retry later"))
            }
            let id = state.nextID
            state.nextID += 1
            let subscription = RequestSubscription(changes: stream, stop: { continuation.finish() })
            state.subscribers[id] = Subscriber(
                packageId: packageId, ids: ids.map { Set($0.map(ExactString.init)) }, continuation: continuation,
                subscription: subscription)
            continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
            return .success(subscription)
        }
        return try result.get()
    }

    /// Hands committed changes to the watchers they concern.
    ///
    /// Nothing is yielded under `state`'s lock: a yield to a suspended watcher takes that task's
    /// status lock, which a thread cancelling the watcher holds while the stream's termination
    /// handler (`unsubscribe`) waits for `state`; the two, in opposite orders, deadlocked the
    /// feed and every call that published or watched. `publishing` keeps one publish at a time,
    /// so watchers still see changes in commit order.
    public func publish(_ requests: some Sequence<AccessPackageRequest>) {
        publishing.withLock { _ in
            let deliveries = state.withLock { state -> [(Subscriber, AccessPackageRequest)] in
                guard !state.subscribers.isEmpty else { return [] }
                var deliveries: [(Subscriber, AccessPackageRequest)] = []
                for request in requests {
                    for subscriber in state.subscribers.values
                    where subscriber.packageId.hasSameBytes(as: request.accessPackageId) {
                        if let ids = subscriber.ids, !ids.contains(ExactString(request.id)) { continue }
                        deliveries.append((subscriber, request))
                    }
                }
                return deliveries
            }
            for (subscriber, request) in deliveries {
                guard case .dropped = subscriber.continuation.yield(request) else { continue }
                subscriber.subscription.end(
                    RPCError(
                        code: .resourceExhausted,
                        message: "the watcher fell more than \(bufferCapacity) changes behind; read faster or watch fewer requests"))
                // Its termination handler takes `state` (not held here).
                subscriber.continuation.finish()
            }
        }
    }

    /// Ends every watcher (and refuses new ones) with `error`: UNAVAILABLE at shutdown.
    public func close(with error: RPCError) {
        let continuations = state.withLock { state -> [AsyncStream<AccessPackageRequest>.Continuation] in
            state.closedWith = state.closedWith ?? error
            for subscriber in state.subscribers.values { subscriber.subscription.end(error) }
            return state.subscribers.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }

    /// Ends one watcher's changes (it could not start after all).
    public func cancel(_ subscription: RequestSubscription) {
        let continuation = state.withLock { state -> AsyncStream<AccessPackageRequest>.Continuation? in
            guard let (id, subscriber) = state.subscribers.first(where: { $0.value.subscription === subscription })
            else { return nil }
            state.subscribers[id] = nil
            return subscriber.continuation
        }
        continuation?.finish()
    }

    /// Ends every current watcher with `error` but keeps accepting new ones: changes may have been
    /// missed (another replica's notifications were interrupted), so watchers must start over.
    public func interrupt(with error: RPCError) {
        let continuations = state.withLock { state -> [AsyncStream<AccessPackageRequest>.Continuation] in
            for subscriber in state.subscribers.values { subscriber.subscription.end(error) }
            defer { state.subscribers.removeAll() }
            return state.subscribers.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }

    private func unsubscribe(_ id: UInt64) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }
}

/// One watcher's committed changes, in commit order. When the sequence ends, `endReason` says
/// why (nil: the watcher stopped it).
public final class RequestSubscription: Sendable {
    public let changes: AsyncStream<AccessPackageRequest>
    private let reason = Mutex<RPCError?>(nil)
    private let finish: @Sendable () -> Void

    init(changes: AsyncStream<AccessPackageRequest>, stop: @escaping @Sendable () -> Void) {
        self.changes = changes
        self.finish = stop
    }

    /// Ends the watcher and gives its place under the feed's limit back. A watch that returns
    /// (settled, or its write failed) must call it: the feed holds the watcher until its changes
    /// end, and a stream nobody iterates any more never ends by itself.
    public func stop() {
        finish()
    }

    /// Why the changes ended, if the feed ended them (fell behind, shutdown).
    public var endReason: RPCError? { reason.withLock { $0 } }

    func end(_ error: RPCError) {
        reason.withLock { if $0 == nil { $0 = error } }
    }
}
