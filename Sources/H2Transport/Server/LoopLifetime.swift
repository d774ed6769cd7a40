import Synchronization

/// Whether the server's event loops still take work. Once they are stopping, handler tasks that
/// are somehow still running resume on the global executor instead, and their completions (for
/// connections that are gone) are dropped: scheduling on a shut-down loop is an error in NIO.
final class LoopLifetime: Sendable {
    private let stopped = Atomic<Bool>(false)

    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    func stop() { stopped.store(true, ordering: .releasing) }
}
