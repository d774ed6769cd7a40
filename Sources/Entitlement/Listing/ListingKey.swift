public import EntitlementAPI
import ProtoWire

/// A request's position in a listing: `created_at` descending, then `id` ascending.
/// `a < b` means `a` is listed before `b`. Neither part ever changes, so a cursor stays valid.
public struct ListingKey: Sendable, Hashable, Comparable {
    public var createdSeconds: Int64
    public var createdNanos: Int32
    public var id: String

    public init(createdSeconds: Int64, createdNanos: Int32, id: String) {
        self.createdSeconds = createdSeconds
        self.createdNanos = createdNanos
        self.id = id
    }

    /// The key of a request; a request without `created_at` sorts as the epoch.
    public init(_ request: AccessPackageRequest) {
        let created = request.createdAt ?? Timestamp()
        self.init(createdSeconds: created.seconds, createdNanos: created.nanos, id: request.id)
    }

    public static func < (lhs: ListingKey, rhs: ListingKey) -> Bool {
        if lhs.createdSeconds != rhs.createdSeconds { return lhs.createdSeconds > rhs.createdSeconds }
        if lhs.createdNanos != rhs.createdNanos { return lhs.createdNanos > rhs.createdNanos }
        return lhs.id < rhs.id
    }
}
