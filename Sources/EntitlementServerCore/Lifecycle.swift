import Logging
public import ServiceLifecycle
import Synchronization

extension EntitlementServer {
    /// The server's parts as swift-service-lifecycle services, in start-up order: the store,
    /// delivery, the metrics endpoint, the gRPC server. A `ServiceGroup` shuts them down in
    /// reverse order, each after the one before has finished: calls drain first, the store
    /// closes last. A second signal (or the group's deadline) cancels the group: calls are cut
    /// off at once and `wasHardStopped` turns true.
    public func services() -> [any Service] {
        [
            ShutdownStep(name: "store") { _ in await self.closeStore() },
            ShutdownStep(name: "delivery") { _ in await self.stopDelivery() },
            ShutdownStep(name: "metrics") { _ in await self.stopMetrics() },
            ShutdownStep(name: "grpc") { cancelled in
                await self.drainCalls(grace: cancelled ? .zero : .seconds(self.configuration.shutdownGraceSeconds))
                // Cancelled before or while draining: the calls still open were cut off.
                if cancelled || Task.isCancelled { self.hardStop.store(true, ordering: .relaxed) }
            },
        ]
    }

    /// Whether the last shutdown cut in-flight calls off (a second signal) instead of draining.
    public var wasHardStopped: Bool { hardStop.load(ordering: .relaxed) }
}

/// A part of the server that runs from start-up (the caller started it) and stops when the
/// group shuts down; `stop` learns whether that is a cancellation (hard stop).
private struct ShutdownStep: Service, CustomStringConvertible {
    let name: String
    let stop: @Sendable (_ cancelled: Bool) async -> Void

    var description: String { name }

    func run() async throws {
        var cancelled = false
        do {
            try await gracefulShutdown()
        } catch {
            cancelled = true
        }
        // Cancellation arriving while a graceful stop runs cuts it short (the drain watches for it).
        await stop(cancelled)
    }
}
