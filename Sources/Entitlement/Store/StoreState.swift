import EntitlementAPI

/// Everything the store holds in memory: the source of every read. Changed only after the
/// matching SQLite write has committed.
struct StoreState: Sendable {
    var catalogs: [String: CatalogInfo] = [:]
    var packages: [String: AccessPackageInfo] = [:]
    /// principal id → catalog id → roles.
    var roles: [String: [String: Set<CatalogRole>]] = [:]
    var requests: [String: AccessPackageRequest] = [:]
    /// access package id → its requests in listing order.
    var indexes: [String: RequestIndex] = [:]
    /// DELIVERING requests waiting for the delivery worker, oldest first.
    var deliveryQueue: [String] = []
    var queued: Set<String> = []
    /// Requests the delivery worker is working on.
    var claimed: Set<String> = []

    mutating func add(_ assignment: RoleAssignment) {
        roles[assignment.principalId, default: [:]][assignment.catalogId, default: []].insert(assignment.role)
    }

    /// Adds a new request or replaces a stored one (whose id, package and `created_at` never change).
    mutating func put(_ request: AccessPackageRequest) {
        let key = ListingKey(request)
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
