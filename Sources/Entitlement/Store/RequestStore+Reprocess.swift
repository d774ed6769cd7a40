public import EntitlementAPI

extension RequestStore {
    /// Evaluates and applies one Reprocess call atomically.
    ///
    /// Each id gets the outcome `policy` gives against the current state; accepted requests move
    /// to DELIVERING with every resource PENDING, `reprocess_count` + 1 and `last_reprocessed_at`
    /// = now. All accepted ids and the audit record commit in one transaction before this returns,
    /// then the delivery worker is woken. The actor serializes calls, so of concurrent calls naming
    /// one id exactly one is ACCEPTED.
    /// - Parameters:
    ///   - requestIds: 1 to `maxReprocessBatch` distinct ids (the caller validates).
    ///   - callerObjectId: who asked, for the audit record.
    /// - Returns: one result per id in order; nil if the access package is unknown.
    public func reprocess(
        accessPackageId: String,
        requestIds: [String],
        callerObjectId: String?,
        policy: ReprocessPolicy
    ) async throws(StoreError) -> [ReprocessResult]? {
        precondition(
            requestIds.count <= Self.maxReprocessBatch, "reprocess takes at most \(Self.maxReprocessBatch) ids")
        guard state.packages[accessPackageId] != nil else { return nil }
        let now = clock.now()
        var results: [ReprocessResult] = []
        results.reserveCapacity(requestIds.count)
        var accepted: [AccessPackageRequest] = []
        var previous: [AccessPackageRequest] = []
        for id in requestIds {
            let current = state.requests[id]
            let verdict = policy.evaluate(requestId: id, request: current, accessPackageId: accessPackageId, now: now)
            var result = ReprocessResult()
            result.requestId = id
            result.outcome = verdict.outcome
            result.detail = verdict.detail
            if verdict.outcome == .accepted, var request = current {
                request.state = .delivering
                for i in request.resources.indices {
                    request.resources[i].state = .pending
                    request.resources[i].error = ""
                }
                if request.reprocessCount < .max { request.reprocessCount += 1 }
                request.lastReprocessedAt = now
                accepted.append(request)
                previous.append(current!)
                result.request = request
            } else if verdict.outcome != .notFound {
                result.request = current
            }
            results.append(result)
        }
        let record = AuditRecord(
            callerObjectId: callerObjectId, time: now, accessPackageId: accessPackageId,
            requestIds: requestIds, outcomes: results.map(\.outcome), decision: .allowed)
        // Visible at once, so a concurrent call naming the same id finds it DELIVERING while this
        // one waits for its commit; undone below if the commit fails.
        for request in accepted { state.put(request) }
        do {
            try await write { [accepted] database in
                for request in accepted { try Self.store(request, in: database) }
                try Self.insertAudit(record, in: database)
            }
        } catch {
            for (request, before) in zip(accepted, previous) where state.requests[request.id] == request {
                state.put(before)
            }
            throw error
        }
        if !accepted.isEmpty { wakeDeliveryWorker() }
        log(record)
        return results
    }
}
