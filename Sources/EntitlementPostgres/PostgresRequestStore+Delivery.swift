public import Entitlement
public import EntitlementAPI
import NIOCore
import PostgresNIO
import ProtoWire

extension PostgresRequestStore {
    static var leaseMilliseconds: Int64 {
        leaseDuration.components.seconds * 1_000 + leaseDuration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Leases DELIVERING requests whose lease is free or expired (a dead replica's), oldest
    /// change first. `SKIP LOCKED`: replicas claiming at once take different requests.
    public func claimDeliveringRequests(limit: Int) async -> [AccessPackageRequest] {
        let owner = replicaId
        let lease = Self.leaseMilliseconds
        let working = delivering.map(\.string)
        do {
            let claimed: [AccessPackageRequest] = try await database { client in
                try await client.query(
                    """
                    UPDATE requests SET lease_owner = \(owner),
                        lease_until = now() + \(lease) * interval '1 millisecond'
                    WHERE id IN (
                        SELECT id FROM requests
                        WHERE state = \(Self.deliveringState)
                          AND (lease_until IS NULL OR lease_until < now()
                               OR (lease_owner = \(owner) AND id <> ALL(\(working))))
                        ORDER BY changed_at LIMIT \(Int64(max(0, limit)))
                        FOR UPDATE SKIP LOCKED)
                    RETURNING body
                    """
                ).decode(ByteBuffer.self).reduce(into: []) { $0.append(try RequestRow.decode($1)) }
            }
            delivering.formUnion(claimed.map { ExactString($0.id) })
            return claimed
        } catch {
            logger.error("cannot claim requests for delivery", metadata: ["error": .string(error.description)])
            return []
        }
    }

    public func recordDeliveryAttempt(
        requestId: String, resourceIndex: Int, delivered: Bool, error: String
    ) async throws(StoreError) -> AccessPackageRequest? {
        let updated = try await changeLeased(requestId, lease: .renew(milliseconds: Self.leaseMilliseconds)) { request in
            guard request.resources.indices.contains(resourceIndex) else { return nil }
            return request.recordingAttempt(onResource: resourceIndex, delivered: delivered, error: error)
        }
        if updated != nil { (delivered ? metrics.attemptsDelivered : metrics.attemptsFailed).increment() }
        return updated
    }

    public func finishDelivery(requestId: String) async throws(StoreError) -> AccessPackageRequest? {
        let now = clock.now()
        let settled = try await changeLeased(requestId, lease: .release) { $0.settled(now: now) }
        deliveryRetries[ExactString(requestId)] = nil
        delivering.remove(ExactString(requestId))
        return settled
    }

    /// Changes a DELIVERING request this replica holds the lease of, in one transaction that
    /// locks its row: the resources of one request are attempted side by side, and each change
    /// must build on the one before. Returns nil (changing nothing) if the lease is not ours.
    private func changeLeased(
        _ requestId: String, lease: RequestRow.LeaseChange,
        _ change: @escaping @Sendable (AccessPackageRequest) -> AccessPackageRequest?
    ) async throws(StoreError) -> AccessPackageRequest? {
        let owner = replicaId
        let logger = logger
        return try await database { client in
            try await client.withTransaction(logger: logger) { connection -> AccessPackageRequest? in
                let rows = try await connection.query(
                    """
                    SELECT body FROM requests
                    WHERE id = \(requestId) AND state = \(Self.deliveringState) AND lease_owner = \(owner)
                    FOR UPDATE
                    """, logger: logger)
                var current: AccessPackageRequest?
                for try await body in rows.decode(ByteBuffer.self) { current = try RequestRow.decode(body) }
                guard let current, let changed = change(current) else { return nil }
                try await RequestRow.update(changed, on: connection, logger: logger, leaseUntil: lease)
                return changed
            }
        }
    }

    public func releaseDeliveryClaim(requestId: String) async {
        await releaseLease(requestId)
    }

    public func requeueDelivery(requestId: String) async -> Int {
        let retries = (deliveryRetries[ExactString(requestId)] ?? 0) + 1
        deliveryRetries[ExactString(requestId)] = retries
        await releaseLease(requestId)
        deliveryWakeups.signal()
        return retries
    }

    /// Frees a lease now rather than at its expiry; if that fails, it simply expires.
    private func releaseLease(_ requestId: String) async {
        delivering.remove(ExactString(requestId))
        let owner = replicaId
        do {
            // In a task of its own: on shutdown the worker's task is cancelled, and the release
            // (so another replica resumes at once, not when the lease expires) must still run.
            try await Task {
                try await database { client in
                    _ = try await client.query(
                        "UPDATE requests SET lease_owner = NULL, lease_until = NULL WHERE id = \(requestId) AND lease_owner = \(owner)")
                }
            }.value
        } catch {
            logger.warning(
                "cannot release a delivery lease; it expires by itself",
                metadata: ["request_id": .string(requestId), "error": .string("\(error)")])
        }
    }

    public func deliveryRetryCount(requestId: String) -> Int { deliveryRetries[ExactString(requestId)] ?? 0 }

    /// The DELIVERING requests of every replica, for the metrics gauge. A scrape must not wait out
    /// an outage (Prometheus times out), nor read 0 then (a dashboard would show the backlog
    /// cleared just as deliveries stall): a short deadline, and the last count when it passes.
    public func deliveryBacklog() async -> Int {
        // Not through `database`: a slow count must not mark the database unreachable (health).
        guard isCommitting else { return lastDeliveryBacklog }
        let client = client
        let delivering = Self.deliveringState
        let counted = try? await Self.withDeadline(.seconds(1)) {
            try await client.query("SELECT count(*) FROM requests WHERE state = \(delivering)")
                .decode(Int.self).first { _ in true } ?? 0
        }
        if let counted { lastDeliveryBacklog = counted }
        return lastDeliveryBacklog
    }

    public func recordGrant(requestId: String, resourceId: String, resourceType: String, principalId: String)
        async throws(StoreError)
    {
        let now = clock.now()
        try await database { client in
            try await client.query(
                """
                INSERT INTO grants (request_id, resource_id, resource_type, principal_id, time_seconds, time_nanos)
                VALUES (\(requestId), \(resourceId), \(resourceType), \(principalId), \(now.seconds), \(now.nanos))
                """)
        }
    }

    public func grantCount(requestId: String?) async throws(StoreError) -> Int {
        try await database { client in
            try await client.query("SELECT count(*) FROM grants WHERE \(requestId)::text IS NULL OR request_id = \(requestId)")
                .decode(Int.self).first { _ in true } ?? 0
        }
    }

    /// While this replica lives, its leases are renewed every third of their duration, and the
    /// delivery worker is woken to look for leases other replicas let expire. The round trip is
    /// also the health probe: with no traffic, an outage still turns health NOT_SERVING.
    func renewLeases() async {
        let owner = replicaId
        let lease = Self.leaseMilliseconds
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: Self.leaseDuration / 3)
            } catch {
                return
            }
            let working = delivering.map(\.string)
            do {
                try await database { client in
                    if working.isEmpty {
                        try await client.query("SELECT 1")
                    } else {
                        try await client.query(
                            """
                            UPDATE requests SET lease_until = now() + \(lease) * interval '1 millisecond'
                            WHERE id = ANY(\(working)) AND lease_owner = \(owner) AND state = \(Self.deliveringState)
                            """)
                    }
                }
            } catch {
                logger.warning("cannot renew delivery leases", metadata: ["error": .string(error.description)])
            }
            deliveryWakeups.signal()
        }
    }
}
