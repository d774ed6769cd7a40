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
            claimed.append(request.message)
        }
        state.deliveryQueue.removeFirst(taken)
        return claimed
    }

    /// Records one provisioning attempt of one resource: `attempts` + 1, state DELIVERED or FAILED
    /// (with `error`). Visible to readers only once committed; a failed commit throws and leaves
    /// the request as it was durably.
    /// - Returns: the request as it stands now (committed), or nil if it is not a DELIVERING
    ///   request with that resource.
    @discardableResult
    public func recordDeliveryAttempt(
        requestId: String,
        resourceIndex: Int,
        delivered: Bool,
        error: String = ""
    ) async throws(StoreError) -> AccessPackageRequest? {
        guard let base = deliveryBase(requestId), base.resources.indices.contains(resourceIndex) else { return nil }
        try await commitDeliveryChange(base.recordingAttempt(onResource: resourceIndex, delivered: delivered, error: error))
        (delivered ? metrics.attemptsDelivered : metrics.attemptsFailed).increment()
        return state.requests[requestId]?.message
    }

    /// Settles a DELIVERING request from its resources: all delivered → DELIVERED, some →
    /// PARTIALLY_DELIVERED, none → DELIVERY_FAILED; releases the claim. `completed_at` keeps the
    /// original completion time; it is set (to now) only for a request that never completed.
    /// Visible only once committed; on a failed commit the request stays DELIVERING (durably and
    /// in memory) and the claim is kept for the worker to retry.
    @discardableResult
    public func finishDelivery(requestId: String) async throws(StoreError) -> AccessPackageRequest? {
        guard let base = deliveryBase(requestId) else {
            state.claimed.remove(requestId)
            return nil
        }
        try await commitDeliveryChange(base.settled(now: clock.now()))
        state.claimed.remove(requestId)
        state.deliveryRetries[requestId] = nil
        return state.requests[requestId]?.message
    }

    /// Gives up a claim without settling (the worker stopped); the request stays DELIVERING and is
    /// delivered by the next worker start.
    public func releaseDeliveryClaim(requestId: String) {
        state.claimed.remove(requestId)
    }

    /// Gives up a claim after a delivery stopped on a store failure and puts the request back in
    /// the delivery queue, so it is retried now rather than at the next start.
    /// - Returns: how many times in a row this request's delivery has stopped so (for the backoff).
    @discardableResult
    public func requeueDelivery(requestId: String) -> Int {
        state.claimed.remove(requestId)
        let retries = (state.deliveryRetries[requestId] ?? 0) + 1
        state.deliveryRetries[requestId] = retries
        if let request = state.requests[requestId], request.state == .delivering,
            state.queued.insert(requestId).inserted
        {
            state.deliveryQueue.append(requestId)
            wakeDeliveryWorker()
        }
        return retries
    }

    /// How many times in a row a request's delivery stopped on a store failure.
    public func deliveryRetryCount(requestId: String) -> Int { state.deliveryRetries[requestId] ?? 0 }

    /// What the next delivery change of a request builds on: its newest snapshot, committed or
    /// not (the resources of one request are attempted side by side, and each write is a
    /// whole-request snapshot, so each must include the ones before it).
    private func deliveryBase(_ requestId: String) -> AccessPackageRequest? {
        if let draft = state.deliveryDrafts[requestId] {
            return draft.request.state == .delivering ? draft.request : nil
        }
        guard let stored = state.requests[requestId], stored.state == .delivering else { return nil }
        return stored.message
    }

    /// Writes a delivery snapshot and makes it visible once it has committed: memory never shows
    /// a change a crash could undo.
    private func commitDeliveryChange(_ request: AccessPackageRequest) async throws(StoreError) {
        let id = request.id
        let stored = StoredRequest(request)
        var draft = state.deliveryDrafts[id] ?? DeliveryDraft(request: request, version: 0, writesInFlight: 0, appliedVersion: 0)
        draft.request = request
        draft.version += 1
        draft.writesInFlight += 1
        let version = draft.version
        state.deliveryDrafts[id] = draft
        let result: Result<Void, StoreError>
        do throws(StoreError) {
            try await write { [stored] database in try Self.store(stored, in: database) }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        guard var current = state.deliveryDrafts[id] else { return try result.get() }
        current.writesInFlight -= 1
        if case .success = result, version > current.appliedVersion {
            // Commits finish in submission order, but their continuations may run out of order.
            current.appliedVersion = version
            state.put(stored)
            changes.publish(CollectionOfOne(request))
        }
        if current.writesInFlight == 0 {
            // Nothing in flight: memory is the newest committed snapshot again. A failed write's
            // change is dropped with the draft, as the database dropped it.
            state.deliveryDrafts[id] = nil
        } else {
            state.deliveryDrafts[id] = current
        }
        try result.get()
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
            return Int(try statement.firstInt64())
        }
    }
}
