import Synchronization

/// A coalescing wake-up: any number of `signal()`s while no one waits wake the next `wait()` once.
/// One waiter at a time (the delivery worker).
public final class WakeSignal: Sendable {
    public init() {}

    private struct State {
        var pending = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Wakes the waiter for good: every later `wait()` returns false at once.
    public func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits for a signal; false when closed or cancelled.
    public func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (resumeNow, displaced) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                    // Checked under the lock, so a cancellation either is seen here or finds the waiter stored.
                    if state.pending || state.closed || Task.isCancelled {
                        state.pending = false
                        return (true, nil)
                    }
                    // A second waiter (misuse: two workers on one store) must not strand the first.
                    defer { state.waiter = continuation }
                    return (false, state.waiter)
                }
                displaced?.resume()
                if resumeNow { continuation.resume() }
            }
            return !Task.isCancelled && !state.withLock { $0.closed }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
