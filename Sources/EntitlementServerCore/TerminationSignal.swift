import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT, caught from the moment this is created (so one that arrives during start-up
/// or import is not lost or fatal) and delivered to `wait()`.
public final class TerminationSignals: Sendable {
    private struct State: @unchecked Sendable {
        // DispatchSourceSignal is not Sendable; the sources are only retained here.
        var sources: [any DispatchSourceSignal] = []
        var received: Int32?
        var waiter: CheckedContinuation<Int32, Never>?
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "entitlement.signals")

    public init() {
        for signalNumber in [SIGTERM, SIGINT] {
            // The default action would kill the process; the source turns it into an event.
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { [weak self] in self?.deliver(signalNumber) }
            source.resume()
            state.withLock { $0.sources.append(source) }
        }
    }

    /// The first signal received, waiting for one if none has come yet.
    public func wait() async -> Int32 {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let received = state.withLock { state -> Int32? in
                if let received = state.received { return received }
                state.waiter = continuation
                return nil
            }
            if let received { continuation.resume(returning: received) }
        }
    }

    private func deliver(_ signal: Int32) {
        let waiter = state.withLock { state -> CheckedContinuation<Int32, Never>? in
            if state.received == nil { state.received = signal }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: signal)
    }
}
