public import Entitlement

/// A token that passed verification: who is calling, and until when the token may be used.
public struct VerifiedToken: Sendable, Hashable {
    public let caller: Caller
    /// `exp` in seconds since 1970.
    public let expiresAt: Double

    public init(caller: Caller, expiresAt: Double) {
        self.caller = caller
        self.expiresAt = expiresAt
    }
}

/// Verified tokens keyed by the raw `authorization` header, so a repeat call costs one hash lookup
/// and one comparison. Bounded; never returns an entry past its usable-until time.
struct TokenCache: Sendable {
    private struct Entry: Sendable {
        let token: VerifiedToken
        /// `exp` plus the clock skew that verification allows: the same bound, so a cached token
        /// is refused at exactly the moment a fresh verification would refuse it.
        let usableUntil: Double
    }

    let capacity: Int
    private var entries: [String: Entry] = [:]

    init(capacity: Int) {
        precondition(capacity > 0, "token cache capacity must be positive")
        self.capacity = capacity
    }

    var count: Int { entries.count }

    /// The verified token for `header`, or nil if absent or no longer usable at `now`.
    mutating func lookup(_ header: String, now: Double) -> VerifiedToken? {
        guard let entry = entries[header] else { return nil }
        guard now < entry.usableUntil else {
            entries[header] = nil
            return nil
        }
        return entry.token
    }

    mutating func insert(_ token: VerifiedToken, usableUntil: Double, for header: String, now: Double) {
        if entries.count >= capacity, entries[header] == nil {
            makeRoom(now: now)
        }
        entries[header] = Entry(token: token, usableUntil: usableUntil)
    }

    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
    }

    /// Drops expired entries; if that frees less than a tenth of the capacity, drops arbitrary
    /// entries down to 90 %, so a full cache of live tokens is not swept on every insert.
    private mutating func makeRoom(now: Double) {
        entries = entries.filter { now < $0.value.usableUntil }
        let target = capacity - max(1, capacity / 10)
        let excess = entries.count - target
        if excess > 0 {
            for key in Array(entries.keys.prefix(excess)) { entries[key] = nil }
        }
    }
}
