public import EntitlementAPI
public import RPCCore

/// What the service, the delivery worker and authorization need from a request store. Two stores
/// implement it: `RequestStore`, embedded (SQLite in the data dir, reads from memory), and the
/// PostgreSQL store that many replicas share. The domain tests run against both.
///
/// Every change is durable before the method returns, and watchers and readers see a change only
/// once it has committed. A store failure is a `StoreError` (the caller gets UNAVAILABLE).
public protocol RequestStoring: Actor {
    /// Signs and checks ListRequests page tokens; the key is the store's, so a token made by one
    /// replica is good on every other.
    nonisolated var pageTokens: PageTokenCodec { get }
    /// Role assignments and package catalogs for authorization, readable without awaiting the actor.
    nonisolated var accessDirectory: AccessDirectory { get }
    /// Committed request changes (from every replica), for WatchRequests.
    nonisolated var changes: RequestChangeFeed { get }
    /// Signals (coalesced) that there may be DELIVERING requests to claim.
    nonisolated var deliveryWakeups: WakeSignal { get }
    /// False while the store cannot commit (disk full, database unreachable): health says NOT_SERVING.
    nonisolated var isCommitting: Bool { get }
    /// While `isCommitting` is false, tries a small commit of its own: otherwise a store that
    /// failed a commit (disk full) reports NOT_SERVING until the next call writes, and a replica
    /// out of rotation for it gets no call that would write.
    func probeCommit() async

    /// Closes the store; it must not be used afterwards, and a `DeliveryWorker` on it stops.
    func close() async

    // MARK: Reads

    func accessPackage(id: String) async -> AccessPackageInfo?
    func catalog(id: String) async -> CatalogInfo?
    /// The catalog roles a principal holds: catalog id → roles.
    func catalogRoles(principalId: String) async -> [String: Set<CatalogRole>]
    func request(id: String) async throws(StoreError) -> AccessPackageRequest?
    /// How many requests the store holds.
    func countRequests() async throws(StoreError) -> Int
    /// One page of a package's requests in listing order (`created_at` desc, `id` asc).
    /// - Parameters:
    ///   - states: any of these states; all states when empty.
    ///   - cursor: the last key of the previous page; nil for the first page.
    ///   - limit: the page size, capped at `RequestStore.maxPageSize`.
    /// - Returns: nil if the access package is unknown.
    func listRequests(accessPackageId: String, states: [RequestState], after cursor: ListingKey?, limit: Int)
        async throws(StoreError) -> RequestPage?

    // MARK: Reprocess and audit

    /// Evaluates and applies one Reprocess call atomically: of concurrent calls naming one id
    /// (on any replica) exactly one is ACCEPTED. The accepted requests and the audit record
    /// commit together. Returns one verdict per id, in order; nil if the package is unknown.
    /// - Parameter onCommit: called as the call's transaction begins to commit, past the point
    ///   where the caller giving up (deadline, cancel) drops it instead.
    func reprocess(
        accessPackageId: String, requestIds: [String], callerObjectId: String?, policy: ReprocessPolicy,
        onCommit: @escaping @Sendable () -> Void
    ) async throws(StoreError) -> [ReprocessVerdict]?
    /// Appends an audit record in its own transaction and logs it.
    func appendAudit(_ record: AuditRecord) async throws(StoreError)
    /// Records a Reprocess call authorization refused (aggregated per peer, caller and second).
    func recordDeniedReprocess(caller: String?, packageId: String, requestIds: [String], reason: String, peer: String?) async
    /// Records a Reprocess call that was authorized but invalid.
    func recordRejectedReprocess(caller: String?, packageId: String, requestIds: [String], reason: String) async
    /// The newest `limit` audit records, oldest first.
    func auditRecords(limit: Int) async throws(StoreError) -> [AuditRecord]

    // MARK: Delivery

    /// DELIVERING requests no one is delivering, oldest first, claimed for this worker until
    /// `finishDelivery`, `releaseDeliveryClaim` or `requeueDelivery`. Empty when the store fails.
    func claimDeliveringRequests(limit: Int) async -> [AccessPackageRequest]
    /// Records one provisioning attempt of one resource. Returns the request as it stands now, or
    /// nil if it is not a DELIVERING request with that resource claimed by this worker.
    @discardableResult
    func recordDeliveryAttempt(requestId: String, resourceIndex: Int, delivered: Bool, error: String)
        async throws(StoreError) -> AccessPackageRequest?
    /// Settles a claimed DELIVERING request from its resources and releases the claim.
    @discardableResult
    func finishDelivery(requestId: String) async throws(StoreError) -> AccessPackageRequest?
    /// Gives up a claim without settling; the request stays DELIVERING for a later claim.
    func releaseDeliveryClaim(requestId: String) async
    /// Gives up a claim after a store failure and makes the request claimable again now.
    /// - Returns: how many times in a row this request's delivery has stopped so.
    @discardableResult
    func requeueDelivery(requestId: String) async -> Int
    /// How many times in a row a request's delivery stopped on a store failure.
    func deliveryRetryCount(requestId: String) async -> Int
    /// DELIVERING requests waiting for delivery or being delivered now.
    func deliveryBacklog() async -> Int
    /// Records a grant made by the built-in provisioner.
    func recordGrant(requestId: String, resourceId: String, resourceType: String, principalId: String)
        async throws(StoreError)
    /// How many grants have been recorded for a request (all of them when `requestId` is nil).
    func grantCount(requestId: String?) async throws(StoreError) -> Int

    // MARK: Watch and import

    /// Starts watching `ids` of a package (every request of it when `ids` is empty).
    /// - Returns: nil if the package is unknown.
    /// - Throws: NOT_FOUND naming an id that is not a request of the package; RESOURCE_EXHAUSTED
    ///   past the feed's watcher limit; UNAVAILABLE at shutdown or when the store fails.
    func watch(accessPackageId: String, ids: [String]) async throws(RPCError) -> WatchStart?
    /// Imports a fixture insert-only, all or nothing (see `FixturePlan`).
    @discardableResult
    func importFixture(_ fixture: Fixture) async throws -> ImportSummary
}

extension RequestStoring {
    /// Nothing to try by default (the PostgreSQL store finds its way back by itself).
    public func probeCommit() async {}

    /// Reads, checks and imports a JSON fixture file (`--import`); nothing is imported on error.
    @discardableResult
    public func importFixture(fileAt path: String) async throws -> ImportSummary {
        try await importFixture(Fixture(contentsOfFile: path))
    }

    public func auditRecords() async throws(StoreError) -> [AuditRecord] { try await auditRecords(limit: 100) }

    public func grantCount() async throws(StoreError) -> Int { try await grantCount(requestId: nil) }

    public func recordDeniedReprocess(caller: String?, packageId: String, requestIds: [String], reason: String) async {
        await recordDeniedReprocess(caller: caller, packageId: packageId, requestIds: requestIds, reason: reason, peer: nil)
    }
}

/// What a watcher starts from: the watched requests as they stand, and their committed changes
/// from then on (none missed).
public struct WatchStart: Sendable {
    public var snapshot: [AccessPackageRequest]
    public var subscription: RequestSubscription

    public init(snapshot: [AccessPackageRequest], subscription: RequestSubscription) {
        self.snapshot = snapshot
        self.subscription = subscription
    }
}

extension RequestStoring {
    /// `reprocess` with no one to tell when the commit begins.
    public func reprocess(
        accessPackageId: String, requestIds: [String], callerObjectId: String?, policy: ReprocessPolicy
    ) async throws(StoreError) -> [ReprocessVerdict]? {
        try await reprocess(
            accessPackageId: accessPackageId, requestIds: requestIds, callerObjectId: callerObjectId, policy: policy,
            onCommit: {})
    }
}
