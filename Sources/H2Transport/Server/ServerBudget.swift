import Synchronization

/// What every connection of one server draws on together: open connections, request bytes held
/// for unfinished calls, and running handler tasks. Per-connection limits alone let many
/// connections add up to more than the process can hold; these bound the sum.
///
/// Lock-free counters: each check is one atomic add (and an undo when over the limit), so the
/// accept and call paths never wait on each other.
final class ServerBudget: Sendable {
    let maxConnections: Int
    let maxBufferedRequestBytes: Int
    let maxConcurrentCalls: Int
    let maxQueuedResponseBytes: Int

    private let connections = Atomic<Int>(0)
    private let bufferedBytes = Atomic<Int>(0)
    private let calls = Atomic<Int>(0)
    private let limitedCalls = Atomic<Int>(0)
    private let responseBytes = Atomic<Int>(0)

    init(maxConnections: Int, maxBufferedRequestBytes: Int, maxConcurrentCalls: Int, maxQueuedResponseBytes: Int) {
        self.maxConnections = maxConnections
        self.maxBufferedRequestBytes = maxBufferedRequestBytes
        self.maxConcurrentCalls = maxConcurrentCalls
        self.maxQueuedResponseBytes = maxQueuedResponseBytes
    }

    /// Reserves `count` bytes of a response waiting for slow readers; false past the limit.
    func reserveResponseBytes(_ count: Int) -> Bool { take(count, from: responseBytes, limit: maxQueuedResponseBytes) }
    /// Reserves past the limit: for the reply of a change already committed, which its caller
    /// must get (bounded all the same: one message per admitted call).
    func reserveResponseBytesRegardless(_ count: Int) { responseBytes.add(count, ordering: .relaxed) }
    func releaseResponseBytes(_ count: Int) {
        if count > 0 { responseBytes.subtract(count, ordering: .relaxed) }
    }

    /// Takes a connection slot; false (and nothing taken) when every slot is in use.
    func admitConnection() -> Bool { take(1, from: connections, limit: maxConnections) }
    func releaseConnection() { connections.subtract(1, ordering: .relaxed) }

    /// Reserves `count` request bytes; false (and nothing reserved) past the process-wide limit.
    func reserveRequestBytes(_ count: Int) -> Bool { take(count, from: bufferedBytes, limit: maxBufferedRequestBytes) }
    func releaseRequestBytes(_ count: Int) {
        if count > 0 { bufferedBytes.subtract(count, ordering: .relaxed) }
    }

    /// Admits one handler task; false when `maxConcurrentCalls` limited calls are running (the
    /// call is shed). Unlimited calls (health checks, long-lived streams with caps of their own)
    /// are only counted, so shutdown can wait for them.
    func admitCall(limited: Bool) -> Bool {
        if limited, !take(1, from: limitedCalls, limit: maxConcurrentCalls) { return false }
        calls.add(1, ordering: .relaxed)
        return true
    }

    func finishCall(limited: Bool) {
        if limited { limitedCalls.subtract(1, ordering: .relaxed) }
        calls.subtract(1, ordering: .releasing)
    }

    var openConnections: Int { connections.load(ordering: .relaxed) }
    var heldRequestBytes: Int { bufferedBytes.load(ordering: .relaxed) }
    var callsInFlight: Int { calls.load(ordering: .acquiring) }

    private func take(_ amount: Int, from counter: borrowing Atomic<Int>, limit: Int) -> Bool {
        let after = counter.add(amount, ordering: .relaxed).newValue
        if after <= limit { return true }
        counter.subtract(amount, ordering: .relaxed)
        return false
    }
}
