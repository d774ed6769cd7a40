public import EntitlementAPI
public import ProtoWire

/// The result of one id of a Reprocess call, as a store returns it: the `ReprocessResult` of the
/// API with its request kept encoded (sent as stored, not re-encoded per call). On the wire it is
/// a `ReprocessResult` (its `ProtoMessage` conformance is in EncodedReplies.swift).
public struct ReprocessVerdict: Sendable, Hashable {
    public var requestId: String
    public var outcome: ReprocessOutcome
    public var detail: String
    /// The request as it stands after the call; nil for NOT_FOUND.
    public var encodedRequest: EncodedMessage<AccessPackageRequest>?
    public var unknownFields = UnknownFields()

    public init(
        requestId: String, outcome: ReprocessOutcome, detail: String, encodedRequest: EncodedMessage<AccessPackageRequest>?
    ) {
        self.requestId = requestId
        self.outcome = outcome
        self.detail = detail
        self.encodedRequest = encodedRequest
    }

    /// The request as it stands after the call, decoded; nil for NOT_FOUND.
    public var request: AccessPackageRequest? { encodedRequest?.message }

    /// The API message.
    public var result: ReprocessResult {
        var result = ReprocessResult()
        result.requestId = requestId
        result.outcome = outcome
        result.detail = detail
        result.request = request
        return result
    }
}

/// What one Reprocess call does, worked out from the requests as they stand: one verdict per id
/// and the accepted requests as they will be stored. Pure, so both stores apply the same rules.
public struct ReprocessPlan: Sendable {
    public var results: [ReprocessVerdict] = []
    /// The accepted requests, changed: DELIVERING, every resource PENDING, `reprocess_count` + 1,
    /// `last_reprocessed_at` = now.
    public var accepted: [StoredRequest] = []

    /// - Parameters:
    ///   - current: the stored request of an id, nil if there is none.
    ///   - inProgress: ids another call of this process is accepting right now (not yet committed).
    public init(
        accessPackageId: String,
        requestIds: [String],
        policy: ReprocessPolicy,
        now: Timestamp,
        current: (String) -> StoredRequest?,
        inProgress: (String) -> Bool = { _ in false }
    ) {
        results.reserveCapacity(requestIds.count)
        var scratch: [UInt8] = []
        for id in requestIds {
            let stored = current(id)
            var verdict = policy.evaluate(
                requestId: id, stored: stored, accessPackageId: accessPackageId, now: now, scratch: &scratch)
            if verdict.outcome == .accepted, inProgress(id) {
                verdict = (.alreadyInProgress, "another call is reprocessing the request right now")
            }
            var encoded: EncodedMessage<AccessPackageRequest>?
            if verdict.outcome == .accepted, var request = stored?.message {
                request.state = .delivering
                for i in request.resources.indices {
                    request.resources[i].state = .pending
                    request.resources[i].error = ""
                }
                if request.reprocessCount < .max { request.reprocessCount += 1 }
                request.lastReprocessedAt = now
                let changed = StoredRequest(request)
                accepted.append(changed)
                encoded = changed.encoded
            } else if verdict.outcome != .notFound {
                encoded = stored?.encoded
            }
            results.append(
                ReprocessVerdict(requestId: id, outcome: verdict.outcome, detail: verdict.detail, encodedRequest: encoded))
        }
    }

    /// The size of the call's reply. Checked before anything is written: a reply over the message
    /// limit cannot be sent, and the caller of acceptances already committed would never learn
    /// their outcome.
    public var replySize: Int { ReprocessReply(results: results).encodedSize() }

    /// The call's audit record.
    public func auditRecord(
        callerObjectId: String?, accessPackageId: String, requestIds: [String], now: Timestamp
    ) -> AuditRecord {
        AuditRecord(
            callerObjectId: callerObjectId, time: now, accessPackageId: accessPackageId,
            requestIds: requestIds, outcomes: results.map(\.outcome), decision: .allowed)
    }
}

extension AccessPackageRequest {
    /// This request after one provisioning attempt of resource `index`: `attempts` + 1, state
    /// DELIVERED or FAILED (with `error`).
    public func recordingAttempt(onResource index: Int, delivered: Bool, error: String) -> AccessPackageRequest {
        var request = self
        if request.resources[index].attempts < .max { request.resources[index].attempts += 1 }
        request.resources[index].state = delivered ? .delivered : .failed
        request.resources[index].error = delivered ? "" : error
        return request
    }

    /// This request settled from its resources: all delivered → DELIVERED, some →
    /// PARTIALLY_DELIVERED, none → DELIVERY_FAILED. `completed_at` keeps the original completion
    /// time; it is set (to `now`) only for a request that never completed.
    public func settled(now: Timestamp) -> AccessPackageRequest {
        var request = self
        let delivered = request.resources.filter { $0.state == .delivered }.count
        request.state =
            delivered == request.resources.count ? .delivered : delivered > 0 ? .partiallyDelivered : .deliveryFailed
        if request.completedAt == nil { request.completedAt = now }
        return request
    }
}
