import EntitlementAPI
import RPCCore

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
        policy: ReprocessPolicy,
        onCommit: @escaping @Sendable () -> Void
    ) async throws(StoreError) -> [ReprocessVerdict]? {
        precondition(
            requestIds.count <= Self.maxReprocessBatch, "reprocess takes at most \(Self.maxReprocessBatch) ids")
        guard state.packages[exactly: accessPackageId] != nil else { return nil }
        let now = clock.now()
        let plan = ReprocessPlan(
            accessPackageId: accessPackageId, requestIds: requestIds, policy: policy, now: now,
            current: { state.requests[exactly: $0] }, inProgress: { pendingAcceptances.contains($0) })
        let replySize = plan.replySize
        guard replySize <= GRPCFraming.maxMessageSize else {
            let error = StoreError.replyTooLarge(bytes: replySize)
            await recordRejectedReprocess(
                caller: callerObjectId, packageId: accessPackageId, requestIds: requestIds, reason: error.description)
            throw error
        }
        let accepted = plan.accepted
        let results = plan.results
        let record = plan.auditRecord(
            callerObjectId: callerObjectId, accessPackageId: accessPackageId, requestIds: requestIds, now: now)

        // Readers and the delivery worker see an acceptance only once it is durable; meanwhile a
        // concurrent call naming the same id gets ALREADY_IN_PROGRESS from the pending set.
        let ids = accepted.map(\.id)
        pendingAcceptances.formUnion(ids)
        defer { pendingAcceptances.subtract(ids) }
        // A caller that gives up (deadline, cancel) while the call waits for its transaction has
        // it dropped, not carried out unseen; once its statements are in, it commits.
        let gate = CommitGate<Void>(onCommit: onCommit)
        let written: Result<InsertedAudit, StoreError> = await withTaskCancellationHandler {
            do throws(StoreError) {
                return .success(
                    try await write(
                        singleStatement: accepted.isEmpty,
                        { [accepted] database in
                            try gate.enterCommit()
                            for request in accepted { try Self.store(request, in: database) }
                            return try Self.insertAudit(record, in: database)
                        }, journalLine: Self.auditLine(record)))
            } catch {
                return .failure(error)
            }
        } onCancel: {
            _ = gate.abandon()
        }
        switch written {
        case .success:
            break
        case .failure(.callerGone):
            await recordRejectedReprocess(
                caller: callerObjectId, packageId: accessPackageId, requestIds: requestIds,
                reason: StoreError.callerGone.description)
            throw .callerGone
        case .failure(let error):
            // The audit row went down with the transaction; record the failed call on its own.
            await recordRejectedReprocess(
                caller: callerObjectId, packageId: accessPackageId, requestIds: requestIds,
                reason: "the store could not commit the call: \(error)")
            throw error
        }
        for request in accepted { state.put(request) }
        if !accepted.isEmpty {
            changes.publish(accepted.map(\.message))
            wakeDeliveryWorker()
        }
        auditTrail.logToServer(record)
        metrics.recordOutcomes(results)
        return results
    }
}
