public import Entitlement

/// A token that passed verification: who is calling, and until when the token may be used.
public struct VerifiedToken: Sendable, Hashable {
    public let caller: Caller
    /// `exp` in seconds since 1970.
    public let expiresAt: Double

    /// What the caller's directory roles allow everywhere: decided once per token, so a cached
    /// token's calls skip the role table.
    public let tenantWideActions: [Action]

    public init(caller: Caller, expiresAt: Double) {
        self.caller = caller
        self.expiresAt = expiresAt
        self.tenantWideActions = Action.allCases.filter {
            PermissionPolicy.directoryRole(granting: $0, among: caller.directoryRoleIds) != nil
        }
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

    /// The raw header, hashed by its last bytes only (the signature, which differs between
    /// tokens) so a lookup does not hash ~1 KiB; equality still compares the whole header.
    private struct Key: Hashable {
        let header: String

        static func == (lhs: Key, rhs: Key) -> Bool { lhs.header == rhs.header }

        func hash(into hasher: inout Hasher) {
            // In one piece when the header is contiguous UTF-8 (always, for a header from the
            // wire): a combine per byte was the most of a lookup.
            let hashed: Void? = header.utf8.withContiguousStorageIfAvailable { utf8 in
                hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8.suffix(32))))
            }
            if hashed == nil {
                Array(header.utf8.suffix(32)).withUnsafeBytes { hasher.combine(bytes: $0) }
            }
            hasher.combine(header.utf8.count)
        }
    }

    let capacity: Int
    private var entries: [Key: Entry] = [:]

    init(capacity: Int) {
        precondition(capacity > 0, "token cache capacity must be positive")
        self.capacity = capacity
    }

    var count: Int { entries.count }

    /// The verified token for `header`, or nil if absent or no longer usable at `now`.
    mutating func lookup(_ header: String, now: Double) -> VerifiedToken? {
        let key = Key(header: header)
        guard let entry = entries[key] else { return nil }
        guard now < entry.usableUntil else {
            entries[key] = nil
            return nil
        }
        return entry.token
    }

    mutating func insert(_ token: VerifiedToken, usableUntil: Double, for header: String, now: Double) {
        let key = Key(header: header)
        if entries.count >= capacity, entries[key] == nil {
            makeRoom(now: now)
        }
        entries[key] = Entry(token: token, usableUntil: usableUntil)
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
