import Entitlement
import EntitlementAPI
import Logging
import PostgresNIO
import RPCCore

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
                        for try await notification in notifications {
                            await handle(notification.payload)
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

    private func handle(_ payload: String) async {
        guard let kind = payload.first else { return }
        let rest = String(payload.dropFirst())
        switch kind {
        case "b":
            guard let bytes = Base64.decode(rest), let request = try? AccessPackageRequest(serializedBytes: bytes) else {
                missed("an undecodable change notification", metadata: ["bytes": .stringConvertible(payload.utf8.count)])
                return
            }
            publish(request)
        case "c":
            guard let seq = Int64(rest) else {
                missed("a change notification with no version number", metadata: ["payload": .string(String(rest.prefix(40)))])
                return
            }
            guard let store else { return }
            do {
                guard let request = try await store.announcedChange(seq) else {
                    missed("a change notification whose request version has expired", metadata: ["seq": "\(seq)"])
                    return
                }
                publish(request)
            } catch {
                if Task.isCancelled { return }  // shutting down
                missed("a request change that cannot be read", metadata: ["seq": "\(seq)", "error": "\(error)"])
            }
        case "i":
            guard let store else { return }
            do {
                if let request = try await store.request(id: rest) { publish(request) }
            } catch {
                if Task.isCancelled { return }
                missed("a changed request that cannot be read", metadata: ["error": "\(error)"])
            }
        case "d":
            try? await store?.reloadDirectory()
        default:
            logger.error("unknown change notification", metadata: ["kind": .string(String(kind))])
        }
    }

    /// A change this replica cannot pass on: its watchers would silently miss a version, so
    /// their watches end with UNAVAILABLE and the clients watch again from a fresh snapshot.
    private func missed(_ what: String, metadata: Logger.Metadata) {
        logger.error("watches ended: \(what)", metadata: metadata)
        feed.interrupt(
            with: RPCError(
                code: .unavailable,
                message: "this replica missed a request change (\(what)); watch again"))
    }

    private func publish(_ request: AccessPackageRequest) {
        feed.publish(CollectionOfOne(request))
        if request.state == .delivering { store?.deliveryWakeups.signal() }
    }
}
