import Entitlement
import EntitlementAPI
import Logging
import PostgresNIO
import RPCCore
import ServerLogging

/// Feeds one replica's `RequestChangeFeed` from `LISTEN entitlement_changes`, on a connection of
/// its own, so a change committed through any replica reaches watchers on every replica.
///
/// Payloads: "b" + base64 of a changed request; "c" + the number of the `request_changes` row
/// holding a version too big to inline; "i" + the id of one too big to inline, read back (as
/// replicas before migration 3 announce them); "d" when an import changed the directory tables. If the connection drops,
/// notifications may have been missed, so open watches end with UNAVAILABLE (the client watches
/// again and gets a fresh snapshot) and the listener reconnects with backoff.
struct PostgresChangeListener: Sendable {
    let url: PostgresStoreURL
    weak var store: PostgresRequestStore?
    let feed: RequestChangeFeed
    let logger: Logger

    init(url: PostgresStoreURL, store: PostgresRequestStore, feed: RequestChangeFeed, logger: Logger) {
        self.url = url
        self.store = store
        self.feed = feed
        self.logger = logger
    }

    func run() async {
        var backoff = Duration.milliseconds(100)
        var reconnecting = false
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try url.connectionConfiguration(), id: 0, logger: logger)
                do {
                    try await connection.listen(on: RequestRow.changesChannel) { notifications in
                        backoff = .milliseconds(100)
                        if reconnecting {
                            // What was missed while disconnected: the directory may have changed,
                            // and requests may be waiting for delivery.
                            logger.notice("listening for database changes again")
                            try? await store?.reloadDirectory()
                            store?.deliveryWakeups.signal()
                        }
                        // At most one error line a second for misses, with how many there were
                        // since the last: a backlog of unreadable versions would write thousands.
                        let misses = LogThrottle(limit: 1, per: .seconds(1))
                        for try await notification in notifications {
                            if let missed = await handle(notification.payload) { report(missed, misses) }
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "lost the database's change notifications; reconnecting",
                    metadata: ["error": .string(PostgresRequestStore.describe(error))])
            }
            if Task.isCancelled { return }
            feed.interrupt(
                with: RPCError(
                    code: .unavailable,
                    message: "this replica lost the database's change notifications; watch again"))
            reconnecting = true
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(2))
        }
    }

    /// Publishes the change `payload` announces; what was missed when it cannot.
    private func handle(_ payload: String) async -> Missed? {
        guard let kind = payload.first else { return Missed("an empty change notification") }
        let rest = String(payload.dropFirst())
        switch kind {
        case "b":
            guard let bytes = Base64.decode(rest), let request = try? AccessPackageRequest(serializedBytes: bytes) else {
                return Missed("an undecodable change notification", ["bytes": .stringConvertible(payload.utf8.count)])
            }
            publish(request)
        case "c":
            guard let seq = Int64(rest) else {
                return Missed("a change notification with no version number", ["payload": .string(String(rest.prefix(40)))])
            }
            guard let store else { return nil }
            do {
                guard let request = try await store.announcedChange(seq) else {
                    return Missed("a change notification whose request version has expired", ["seq": "\(seq)"])
                }
                publish(request)
            } catch {
                if Task.isCancelled { return nil }  // shutting down
                return Missed("a request change that cannot be read", ["seq": "\(seq)", "error": "\(error)"])
            }
        case "i":
            guard let store else { return nil }
            do {
                if let request = try await store.request(id: rest) { publish(request) }
            } catch {
                if Task.isCancelled { return nil }
                return Missed("a changed request that cannot be read", ["error": "\(error)"])
            }
        case "d":
            try? await store?.reloadDirectory()
        default:
            // A newer replica's kind of change: this one cannot tell what it says.
            return Missed("a change notification of an unknown kind", ["kind": .string(String(kind))])
        }
        return nil
    }

    /// A change this replica could not pass on.
    struct Missed {
        let what: String
        let metadata: Logger.Metadata
        init(_ what: String, _ metadata: Logger.Metadata = [:]) {
            self.what = what
            self.metadata = metadata
        }
    }

    /// Its watchers would silently miss a version, so their watches end with UNAVAILABLE and the
    /// clients watch again from a fresh snapshot. Every miss ends the watches open then: one
    /// opened since the last miss may have been open before this version committed.
    private func report(_ missed: Missed, _ log: LogThrottle) {
        feed.interrupt(
            with: RPCError(code: .unavailable, message: "this replica missed a request change (\(missed.what)); watch again"))
        guard let unlogged = log.admit() else { return }
        var metadata = missed.metadata
        if unlogged > 0 { metadata["more_since_last_line"] = "\(unlogged)" }
        logger.error("watches ended: \(missed.what)", metadata: metadata)
    }

    private func publish(_ request: AccessPackageRequest) {
        feed.publish(CollectionOfOne(request))
        if request.state == .delivering { store?.deliveryWakeups.signal() }
    }
}
