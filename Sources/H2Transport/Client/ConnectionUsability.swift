import Synchronization

/// Whether a client connection can still start calls (false after GOAWAY, an error or close).
/// Set on the connection's event loop, read by `GRPCClient` from any thread.
final class ConnectionUsability: Sendable {
    private let usable = Atomic<Bool>(true)

    var isUsable: Bool { usable.load(ordering: .acquiring) }

    func markUnusable() {
        usable.store(false, ordering: .releasing)
    }
}
