import EntitlementAPI

/// Everything the store holds in memory: the source of every read. Changed only after the
/// matching SQLite write has committed.
struct StoreState: Sendable {
    var catalogs: [String: CatalogInfo] = [:]
    var packages: [String: AccessPackageInfo] = [:]
    /// principal id → catalog id → roles.
    var roles: [String: [String: Set<CatalogRole>]] = [:]
    var requests: [String: StoredRequest] = [:]
    /// access package id → its requests in listing order.
    var indexes: [String: RequestIndex] = [:]
    /// DELIVERING requests waiting for the delivery worker, oldest first.
    var deliveryQueue: [String] = []
    var queued: Set<String> = []
    /// Requests the delivery worker is working on.
    var claimed: Set<String> = []
    /// Delivery changes written but not yet committed, by request: what the next attempt on the
    /// same request builds on. Readers never see these (`requests` changes only after a commit).
    var deliveryDrafts: [String: DeliveryDraft] = [:]
    /// Consecutive deliveries of a request that stopped on a store failure (for the backoff).
    var deliveryRetries: [String: Int] = [:]

    mutating func add(_ assignment: RoleAssignment) {
        roles[assignment.principalId, default: [:]][assignment.catalogId, default: []].insert(assignment.role)
    }

    /// Adds a new request or replaces a stored one (whose id, package and `created_at` never change).
    mutating func put(_ request: StoredRequest) {
        let key = request.key
        if let old = requests[request.id] {
            indexes[request.accessPackageId, default: RequestIndex()].move(key, from: old.state, to: request.state)
        } else {
            indexes[request.accessPackageId, default: RequestIndex()].insert(key, state: request.state)
        }
        requests[request.id] = request
        if request.state == .delivering, !claimed.contains(request.id), queued.insert(request.id).inserted {
            deliveryQueue.append(request.id)
        }
    }
}

/// The newest uncommitted snapshot of a request under delivery, and how many of its writes are
/// still in flight. Versions order the snapshots, so a commit never replaces a newer one.
struct DeliveryDraft: Sendable {
    var request: AccessPackageRequest
    var version: Int
    var writesInFlight: Int
    /// The newest version whose commit has been applied to `StoreState.requests`.
    var appliedVersion: Int
}
