public import EntitlementAPI
import ProtoWire

extension RequestStore {
    /// Hands DELIVERING requests that no one is delivering yet to the delivery worker, oldest
    /// first, and marks them claimed until `finishDelivery` or `releaseDeliveryClaim`.
    public func claimDeliveringRequests(limit: Int = 8) -> [AccessPackageRequest] {
        var claimed: [AccessPackageRequest] = []
        var taken = 0
        for id in state.deliveryQueue {
            if claimed.count >= limit { break }
            taken += 1
            state.queued.remove(id)
            guard let request = state.requests[id], request.state == .delivering else { continue }
            state.claimed.insert(id)
            claimed.append(request)
        }
        state.deliveryQueue.removeFirst(taken)
        return claimed
    }

    /// Records one provisioning attempt of one resource: `attempts` + 1, state DELIVERED or FAILED
    /// (with `error`). Committed before returning.
    /// - Returns: the request as it stands now, or nil if it is not a DELIVERING request with that resource.
    @discardableResult
    public func recordDeliveryAttempt(
        requestId: String,
        resourceIndex: Int,
        delivered: Bool,
        error: String = ""
    ) async throws(StoreError) -> AccessPackageRequest? {
        guard var request = state.requests[requestId], request.state == .delivering,
            request.resources.indices.contains(resourceIndex)
        else { return nil }
        if request.resources[resourceIndex].attempts < .max { request.resources[resourceIndex].attempts += 1 }
        request.resources[resourceIndex].state = delivered ? .delivered : .failed
        request.resources[resourceIndex].error = delivered ? "" : error
        // Memory first: attempts on other resources of this request, recorded while this one
        // commits, must build on it. Writes are whole-request snapshots committed in order, and the
        // request was durably DELIVERING before the worker could claim it.
        state.put(request)
        try await write { [request] database in try Self.store(request, in: database) }
        return state.requests[requestId]
    }

    /// Settles a DELIVERING request from its resources: all delivered → DELIVERED, some →
    /// PARTIALLY_DELIVERED, none → DELIVERY_FAILED; releases the claim. `completed_at` keeps the
    /// original completion time; it is set (to now) only for a request that never completed.
    @discardableResult
    public func finishDelivery(requestId: String) async throws(StoreError) -> AccessPackageRequest? {
        defer { state.claimed.remove(requestId) }
        guard var request = state.requests[requestId], request.state == .delivering else { return nil }
        let delivered = request.resources.filter { $0.state == .delivered }.count
        request.state =
            delivered == request.resources.count ? .delivered : delivered > 0 ? .partiallyDelivered : .deliveryFailed
        if request.completedAt == nil { request.completedAt = clock.now() }
        state.put(request)
        try await write { [request] database in try Self.store(request, in: database) }
        return request
    }

    /// Gives up a claim without settling (the worker stopped); the request stays DELIVERING and is
    /// delivered by the next worker start.
    public func releaseDeliveryClaim(requestId: String) {
        state.claimed.remove(requestId)
    }

    /// Records a grant made by the built-in provisioner.
    public func recordGrant(requestId: String, resourceId: String, resourceType: String, principalId: String)
        async throws(StoreError)
    {
        let now = clock.now()
        try await write { database in
            let statement = try database.statement(StoreSchema.insertGrant)
            try statement.bind(requestId, resourceId, resourceType, principalId, now.seconds, Int64(now.nanos))
            try statement.run()
        }
    }

    /// How many grants have been recorded for a request (all of them when `requestId` is nil).
    public func grantCount(requestId: String? = nil) async throws(StoreError) -> Int {
        try await write { database in
            let statement = try database.statement("SELECT COUNT(*) FROM grants WHERE ?1 IS NULL OR request_id = ?1")
            try statement.bind(requestId)
            try statement.step()
            let count = Int(statement.int64(at: 0))
            statement.reset()
            return count
        }
    }
}
