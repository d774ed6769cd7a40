public import Entitlement
public import EntitlementAPI
public import Logging
import NIOCore
import PostgresNIO
import ProtoWire
public import RPCCore
import Synchronization

/// The request store many replicas share, on PostgreSQL (`--store postgres://…`).
///
/// The database is the source of truth: every read is a query (keyset pagination on the listing
/// index), and cross-replica safety comes from it: a Reprocess call is one transaction that locks
/// its rows (`FOR UPDATE`), so of concurrent calls naming one id on any replica exactly one is
/// ACCEPTED; a DELIVERING request is delivered under a lease (`FOR UPDATE SKIP LOCKED`, renewed
/// while this replica lives), so a dead replica's deliveries are taken over once its leases
/// expire. Changes reach every replica's watchers through `LISTEN/NOTIFY`, which PostgreSQL
/// delivers only after the commit.
///
/// Catalogs, packages and role assignments are held in memory (authorization reads them per call)
/// and reloaded when any replica imports. Every database call has a deadline, so while the
/// database is down calls fail with UNAVAILABLE instead of hanging; the pool reconnects by itself.
public actor PostgresRequestStore: RequestStoring, RefusalAuditing {
    /// How long a delivery lease lasts without renewal; renewed every third of it.
    public static let leaseDuration: Duration = .seconds(10)
    /// How long one database call may take before the caller gets UNAVAILABLE.
    public static let callDeadline: Duration = .seconds(5)
    /// How long `--import` may take: one transaction for the whole file (100,000 requests took
    /// ~15 s here), rolled back if it has not committed by then.
    public static let importDeadline: Duration = .seconds(300)
    /// The deadline while the database is known to be unreachable: calls fail fast during an
    /// outage (each still tries, so the first to get through marks it reachable again).
    public static let outageCallDeadline: Duration = .seconds(1)
    /// `RequestState.delivering` as stored.
    static let deliveringState = RequestState.delivering.rawValue

    public nonisolated let pageTokens: PageTokenCodec
    public nonisolated let accessDirectory = AccessDirectory()
    public nonisolated let changes: RequestChangeFeed
    public nonisolated let deliveryWakeups = WakeSignal()
    public nonisolated var isCommitting: Bool { reachable.value.load(ordering: .relaxed) }
    /// This process's name on the leases it holds (unique per start).
    public nonisolated let replicaId: String

    let client: PostgresClient
    let clock: any WallClock
    let logger: Logger
    let metrics: StoreMetrics
    let reachable = SharedFlag(true)
    /// This process's exclusive use of the local data dir, held until `close`.
    let directoryLock: DataDirectoryLock
    /// The data dir's name in the audit table's `written_by` (kept in the dir, so it outlives restarts).
    let auditWriter: String
    /// The last delivery backlog counted (see `deliveryBacklog`).
    var lastDeliveryBacklog = 0
    private var background: [Task<Void, Never>] = []
    private var closed = false
    var directory = DirectoryTables()
    /// When `knowsPackage` last reloaded the directory for an unknown package.
    private var lastDemandReload: ContinuousClock.Instant?
    /// Consecutive deliveries of a request that stopped on a store failure (for the backoff).
    /// Keyed by bytes, like `delivering`.
    var deliveryRetries: [ExactString: Int] = [:]
    /// Requests this replica's worker is delivering now: only their leases are renewed. A lease
    /// given up while the database was unreachable stays in the table but is not renewed, and
    /// this replica may claim it again at once. Keyed by bytes: rows may hold two spellings of one
    /// text (see `RequestRows`), and a `Set<String>` would keep one of them, so the other would be
    /// claimed again while it is delivered, and granted twice.
    var delivering: Set<ExactString> = []

    package let auditTrail: AuditTrail
    package var refusalThrottle = RefusalAuditThrottle()
    package var refusalFlushScheduled = false
    package var auditClock: any WallClock { clock }

    /// Connects, applies migrations, loads the directory tables and starts listening for changes.
    /// - Parameters:
    ///   - url: the database.
    ///   - directory: the local data dir, for `audit.log` (created if missing).
    public static func connect(
        url: PostgresStoreURL,
        directory: String,
        clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "entitlement.store"),
        changes: RequestChangeFeed = RequestChangeFeed(),
        metrics: StoreMetrics = .disabled,
        maxConnections: Int = 16
    ) async throws -> PostgresRequestStore {
        try FileSystem.makeDirectory(directory)
        // audit.log is this replica's own: two on one directory would interleave their lines.
        let directoryLock = try DataDirectoryLock(directory: directory)
        let auditWriter = try auditWriter(directory: directory)
        try await checkLogin(url, within: .seconds(15), logger: logger)
        let client = PostgresClient(
            configuration: url.clientConfiguration(maxConnections: maxConnections), backgroundLogger: logger)
        let run = Task { await client.run() }
        do {
            var key = [UInt8](repeating: 0, count: 32)
            var random = SystemRandomNumberGenerator()
            for i in key.indices { key[i] = random.next() }
            let newKey = key
            let stored = try await withDeadline(.seconds(15)) {
                try await PostgresSchema.migrate(client, newKey: newKey, logger: logger)
            }
            let store = try PostgresRequestStore(
                client: client, clock: clock, logger: logger, changes: changes, metrics: metrics, pageTokenKey: stored,
                auditDirectory: directory, directoryLock: directoryLock, auditWriter: auditWriter)
            try await store.start(url: url, clientTask: run)
            return store
        } catch {
            run.cancel()
            throw StoreError.unreachable("cannot open \(url): \(Self.describe(error))")
        }
    }

    /// The name `directory`'s audit.log goes by in the audit table, made once.
    private static func auditWriter(directory: String) throws(StoreError) -> String {
        let key = try RandomKeyFile.loadOrCreate(path: directory + "/audit-writer.key", name: "the audit writer key")
        return "dir-" + key.prefix(12).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Appends to audit.log the lines of this data dir's committed calls that a crash kept out
    /// (a line is written just after its commit, so kill -9 can fall between).
    ///
    /// Concurrent calls commit out of seq order, so a line just before the file's last lines may
    /// carry a higher seq than the first of them: taking every row above their lowest seq as
    /// missing appended such a line twice. Lines are out of place by at most the calls in flight
    /// (tens), so it goes by the lowest seq of the later half of those lines (over a thousand):
    /// every line before them has a lower one, and the lost lines (the last commits) a higher one.
    private func reconcileAuditFile() async throws(StoreError) {
        guard let recent = auditTrail.recentSeqs() else { return }  // lines from before seqs: nothing to go by
        let present = Set(recent)
        let writer = auditWriter
        var from = Self.firstSeqToReconcile(recentSeqs: recent)
        var appended = 0
        while true {
            let start = from
            let rows = try await database { client in
                try await AuditRows.written(by: writer, from: start, limit: 1_000, client: client)
            }
            for row in rows where !present.contains(row.seq) {
                auditTrail.appendToFile(row.record, seq: row.seq)
                appended += 1
            }
            guard rows.count == 1_000, let last = rows.last else { break }
            from = last.seq + 1
        }
        if appended > 0 {
            logger.notice(
                "audit.log was missing lines of committed calls (a crash); appended them",
                metadata: ["lines": .stringConvertible(appended)])
        }
    }

    /// The lowest seq `reconcileAuditFile` checks for: that of the later half of the file's last
    /// lines (their order is commit order, not seq order).
    static func firstSeqToReconcile(recentSeqs recent: [Int64]) -> Int64 {
        recent[(recent.count / 2)...].min() ?? 0
    }

    /// Connects once on its own: the pool retries a refused login quietly until the deadline, and
    /// the operator should read why ("password authentication failed…", SQLSTATE 28P01) at once.
    /// A database that cannot take the connection yet (starting up, too many connections) or
    /// cannot be reached is tried again until `limit`.
    private static func checkLogin(_ url: PostgresStoreURL, within limit: Duration, logger: Logger) async throws(StoreError) {
        let deadline = ContinuousClock.now + limit
        let configuration: PostgresConnection.Configuration
        do {
            configuration = try url.connectionConfiguration()
        } catch {
            throw StoreError.unreachable("cannot open \(url): \(describe(error))")
        }
        while true {
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                try? await connection.close()
                return
            } catch {
                let psqlError = error as? PSQLError
                let refused =
                    loginRefusal(sqlState: psqlError?.serverInfo?[.sqlState]) || psqlError.map { loginRefusal(code: $0.code) } == true
                if refused || ContinuousClock.now + .milliseconds(500) >= deadline {
                    throw StoreError.unreachable(
                        "cannot open \(url): \(describe(error))" + (refused ? "" : " (tried for \(limit))"))
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Whether a server's answer to a login is final: bad credentials or authorization (class
    /// 28), no such database (3D000), no permission to connect (42501). Anything else the server
    /// may stop saying soon: starting up or in recovery (57P03), too many connections (53300).
    static func loginRefusal(sqlState: String?) -> Bool {
        guard let sqlState else { return false }
        return sqlState.hasPrefix("28") || sqlState == "3D000" || sqlState == "42501"
    }

    /// Whether a login failed on how the URL asks to connect, which no retry changes: no
    /// password for a server that wants one, SSL required of a server without it, an
    /// authentication method this client lacks.
    static func loginRefusal(code: PSQLError.Code) -> Bool {
        code == .authMechanismRequiresPassword || code == .sslUnsupported || code == .unsupportedAuthMechanism
    }

    private init(
        client: PostgresClient, clock: any WallClock, logger: Logger, changes: RequestChangeFeed, metrics: StoreMetrics,
        pageTokenKey: [UInt8], auditDirectory: String, directoryLock: DataDirectoryLock, auditWriter: String
    ) throws(StoreError) {
        self.directoryLock = directoryLock
        self.auditWriter = auditWriter
        self.client = client
        self.clock = clock
        self.logger = logger
        self.changes = changes
        self.metrics = metrics
        self.pageTokens = PageTokenCodec(key: pageTokenKey)
        self.auditTrail = try AuditTrail(directory: auditDirectory, logger: logger)
        self.replicaId = "replica-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    private func start(url: PostgresStoreURL, clientTask: Task<Void, Never>) async throws {
        try await reloadDirectory()
        try await reconcileAuditFile()
        let listener = PostgresChangeListener(url: url, store: self, feed: changes, logger: logger)
        background = [
            clientTask,
            Task { await listener.run() },
            Task { [weak self] in await self?.renewLeases() },
            Task { [weak self] in await self?.pruneChanges() },
        ]
    }

    public func close() async {
        guard !closed else { return }
        closed = true
        await flushAllRefusalAudit()
        deliveryWakeups.close()
        // The client last: the listener and lease renewal stop first.
        for task in background.reversed() { task.cancel() }
        directoryLock.release()
    }

    // MARK: Reads

    public func accessPackage(id: String) -> AccessPackageInfo? { directory.packages[exactly: id] }
    public func catalog(id: String) -> CatalogInfo? { directory.catalogs[exactly: id] }
    public func catalogRoles(principalId: String) -> [String: Set<CatalogRole>] { directory.roles[exactly: principalId] ?? [:] }

    public func request(id: String) async throws(StoreError) -> AccessPackageRequest? {
        try await database { client in
            try await client.execute(RequestByID(id: id)).first { _ in true }
        }
    }

    /// Every `pruneInterval`, removes the `request_changes` rows past their retention: apart
    /// from any change's transaction, so a long one (an import) holds no lock another replica's
    /// changes wait on.
    private func pruneChanges() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: Self.pruneInterval)
                _ = try await pruneExpiredChanges()
            } catch {
                if Task.isCancelled { return }  // closing (the prune's own error is typed)
                logger.warning("cannot prune old request changes", metadata: ["error": .string("\(error)")])
            }
        }
    }

    static let pruneInterval = Duration.seconds(30)
    /// Rows removed per statement, so one prune after a busy spell is a few short statements.
    static let pruneBatch = 5_000

    /// Removes expired `request_changes` rows, skipping any another session holds (a replica
    /// pruning at the same moment); returns how many it removed.
    func pruneExpiredChanges() async throws(StoreError) -> Int {
        var removed = 0
        // Bounded: rows still expiring while it runs wait for the next round.
        for _ in 0..<20 {
            let count = try await database { client in
                let rows = try await client.query(
                    """
                    WITH gone AS (
                        DELETE FROM request_changes WHERE seq IN (
                            SELECT seq FROM request_changes
                            WHERE created_at < now() - \(RequestRow.changeRetention)::interval
                            LIMIT \(Self.pruneBatch) FOR UPDATE SKIP LOCKED)
                        RETURNING 1)
                    SELECT count(*) FROM gone
                    """)
                return try await rows.decode(Int64.self).first { _ in true } ?? 0
            }
            removed += Int(count)
            if count < Self.pruneBatch { break }
        }
        return removed
    }

    /// The request version a change notification announced by number (see `RequestRow`).
    func announcedChange(_ seq: Int64) async throws(StoreError) -> AccessPackageRequest? {
        try await database { client in
            let rows = try await client.query("SELECT body FROM request_changes WHERE seq = \(seq)")
            return try await rows.decode(ByteBuffer.self).first { _ in true }.map(RequestRow.decode)
        }
    }

    public func countRequests() async throws(StoreError) -> Int {
        try await database { client in
            try await client.query("SELECT count(*) FROM requests").decode(Int.self).first { _ in true } ?? 0
        }
    }

    public func listRequests(
        accessPackageId: String, states: [RequestState], after cursor: ListingKey?, limit: Int
    ) async throws(StoreError) -> RequestPage? {
        guard await knowsPackage(accessPackageId) else { return nil }
        let limit = max(1, min(limit, RequestStore.maxPageSize))
        let stateValues = Array(Set(states.map(\.rawValue))).sorted()
        // One more row than the page says whether more follow.
        let rows: [AccessPackageRequest] = try await database { client in
            if let cursor {
                try await client.execute(
                    PageAfter(packageId: accessPackageId, states: stateValues, cursor: cursor, limit: limit + 1)
                ).reduce(into: []) { $0.append($1) }
            } else {
                try await client.execute(FirstPage(packageId: accessPackageId, states: stateValues, limit: limit + 1))
                    .reduce(into: []) { $0.append($1) }
            }
        }
        return RequestPage(requests: Array(rows.prefix(limit)), hasMore: rows.count > limit)
    }

    /// Whether the package exists; one another replica imported a moment ago counts too.
    /// An import on any replica also announces itself (the listener reloads); this covers a
    /// notification not yet received. At most one such reload a second: a caller naming unknown
    /// packages must not turn each call into a read of the whole directory.
    func knowsPackage(_ id: String) async -> Bool {
        if directory.packages[exactly: id] != nil { return true }
        let now = ContinuousClock.now
        if let last = lastDemandReload, now - last < .seconds(1) { return false }
        lastDemandReload = now
        try? await reloadDirectory()
        return directory.packages[exactly: id] != nil
    }

    // MARK: Reprocess

    public func reprocess(
        accessPackageId: String, requestIds: [String], callerObjectId: String?, policy: ReprocessPolicy,
        onCommit: @escaping @Sendable () -> Void
    ) async throws(StoreError) -> [ReprocessVerdict]? {
        precondition(
            requestIds.count <= RequestStore.maxReprocessBatch,
            "reprocess takes at most \(RequestStore.maxReprocessBatch) ids")
        guard await knowsPackage(accessPackageId) else { return nil }
        let now = clock.now()
        let logger = logger
        // The caller may stop waiting (`callDeadline`) while the transaction goes on: the gate
        // rolls it back if it has not committed by then.
        let gate = CommitGate<ReprocessCommit>(onCommit: onCommit)
        let outcome: ReprocessCommit
        // The caller giving up (its deadline, a cancel) passes the gate at once, so the
        // transport's answer and the transaction's fate agree (see `CommitGate`).
        let attempt: Result<ReprocessCommit, StoreError> = await withTaskCancellationHandler {
            do throws(StoreError) {
                return .success(try await database { [self] client in
                    do {
                        let committed = try await client.withTransaction(logger: logger) { connection in
                            // Read first without locks: only ids the policy would accept can change, so
                            // only those are locked (in id order, so concurrent calls cannot deadlock) and
                            // evaluated again. A call naming the same id on another replica waits on the
                            // lock and then finds it DELIVERING (ALREADY_IN_PROGRESS); calls that accept
                            // nothing never wait on each other.
                            var current = try await RequestRow.fetch(requestIds, lock: false, on: connection, logger: logger)
                            var plan = ReprocessPlan(
                                accessPackageId: accessPackageId, requestIds: requestIds, policy: policy, now: now,
                                current: { current[ExactString($0)] })
                            if !plan.accepted.isEmpty {
                                let locked = try await RequestRow.fetch(
                                    plan.accepted.map(\.id), lock: true, on: connection, logger: logger)
                                current.merge(locked) { _, new in new }
                                plan = ReprocessPlan(
                                    accessPackageId: accessPackageId, requestIds: requestIds, policy: policy, now: now,
                                    current: { current[ExactString($0)] })
                            }
                            let replySize = plan.replySize
                            guard replySize <= GRPCFraming.maxMessageSize else {
                                throw StoreError.replyTooLarge(bytes: replySize)
                            }
                            try await RequestRow.update(plan.accepted, on: connection, logger: logger)
                            let record = plan.auditRecord(
                                callerObjectId: callerObjectId, accessPackageId: accessPackageId, requestIds: requestIds,
                                now: now)
                            let seq = try await AuditRows.insert(record, writer: auditWriter, on: connection, logger: logger)
                            try gate.enterCommit()
                            return ReprocessCommit(plan: plan, record: record, seq: seq)
                        }
                        if !gate.committed(committed) { await self.finishReprocess(committed, late: true) }
                        return committed
                    } catch {
                        if Self.lostDuringCommit(error) {
                            // It may have committed: a "rejected" row could be false. If it did, the
                            // audit table has its row, which start-up appends to audit.log.
                            _ = gate.failed()
                            logger.warning(
                                "a Reprocess call's COMMIT got no answer (the connection was lost); it may have been applied",
                                metadata: [
                                    "audit.access_package_id": "\(accessPackageId)",
                                    "audit.request_ids": "\(requestIds.joined(separator: ","))",
                                    "error": "\(Self.describe(error))",
                                ])
                            throw error
                        }
                        if !gate.failed() {
                            // This work task is cancelled when its caller gave up.
                            await self.auditFailedCall(
                                caller: callerObjectId, packageId: accessPackageId, requestIds: requestIds,
                                reason: "the store could not commit the call (after its caller stopped waiting): "
                                    + Self.describe(error))
                        }
                        throw error
                    }
                })
            } catch {
                return .failure(error)
            }
        } onCancel: {
            _ = gate.abandon()
        }
        do throws(StoreError) {
            outcome = try attempt.get()
        } catch {
            if case .unconfirmed = error { throw error }
            switch gate.abandon() {
            case .committed(let committed):
                // It committed just as the deadline passed: the call succeeded.
                outcome = committed
            case .unconfirmed:
                // COMMIT was sent and may yet succeed; the work records the call either way.
                throw StoreError.unconfirmed("COMMIT was sent, then \(Self.reason(error))")
            case .rolledBack:
                // The audit row went down with the transaction; record the failed call on its own.
                let gaveUp = Task.isCancelled
                let reason = gaveUp ? StoreError.callerGone.description : "the store could not commit the call: \(error)"
                await auditFailedCall(caller: callerObjectId, packageId: accessPackageId, requestIds: requestIds, reason: reason)
                throw gaveUp ? .callerGone : error
            }
        }
        finishReprocess(outcome, late: false)
        return outcome.plan.results
    }

    /// The rejected row of a Reprocess call that did not commit, inserted from a task of its own:
    /// the caller's is cancelled when it gave up, and an insert from it fails at once (the row
    /// reached audit.log but not the shared table). During an outage the insert waits out its
    /// own deadline before the row goes to audit.log and the server log instead.
    private func auditFailedCall(caller: String?, packageId: String, requestIds: [String], reason: String) async {
        await Task {
            await self.auditRejected(caller: caller, packageId: packageId, requestIds: requestIds, reason: reason)
        }.value
    }

    /// What a committed Reprocess call leaves for after its commit.
    struct ReprocessCommit: Sendable {
        let plan: ReprocessPlan
        let record: AuditRecord
        let seq: Int64
    }

    /// The effects of a committed Reprocess call: delivery woken, the audit lines, the metrics.
    /// - Parameter late: the commit ended after its caller was told the outcome was unknown.
    private func finishReprocess(_ committed: ReprocessCommit, late: Bool) {
        if late {
            logger.warning(
                "a Reprocess call committed after its caller was told the outcome was unknown",
                metadata: ["audit.seq": "\(committed.seq)", "audit.access_package_id": "\(committed.record.accessPackageId)"])
        }
        if !committed.plan.accepted.isEmpty { deliveryWakeups.signal() }
        auditTrail.log(committed.record, seq: committed.seq)
        metrics.recordOutcomes(committed.plan.results)
    }

    // MARK: Audit

    package func insertAuditRecord(_ record: AuditRecord) async throws(StoreError) {
        let logger = logger
        let writer = auditWriter
        let seq = try await database { client in
            try await client.withConnection { connection in
                try await AuditRows.insert(record, writer: writer, on: connection, logger: logger)
            }
        }
        auditTrail.appendToFile(record, seq: seq)
    }

    public func appendAudit(_ record: AuditRecord) async throws(StoreError) {
        try await appendAuditRecord(record)
    }

    public func recordDeniedReprocess(
        caller: String?, packageId: String, requestIds: [String], reason: String, peer: String?
    ) async {
        await auditDenied(caller: caller, packageId: packageId, requestIds: requestIds, reason: reason, peer: peer)
    }

    public func recordRejectedReprocess(caller: String?, packageId: String, requestIds: [String], reason: String) async {
        await auditRejected(caller: caller, packageId: packageId, requestIds: requestIds, reason: reason)
    }

    public func auditRecords(limit: Int) async throws(StoreError) -> [AuditRecord] {
        try await database { client in
            try await AuditRows.newest(limit: max(0, limit), client: client)
        }
    }

    // MARK: Watch

    public func watch(accessPackageId: String, ids: [String]) async throws(RPCError) -> WatchStart? {
        guard await knowsPackage(accessPackageId) else { return nil }
        // Subscribed before the snapshot is read, so no change committed after the read is
        // missed (one committed in between may be seen twice, which a watcher tolerates).
        let subscription = try changes.subscribe(packageId: accessPackageId, ids: ids.isEmpty ? nil : ids)
        let snapshot: [AccessPackageRequest]
        if ids.isEmpty { return WatchStart(snapshot: [], subscription: subscription) }
        do {
            snapshot = try await database { client in
                try await client.query(
                    "SELECT body FROM requests WHERE id = ANY(\(ids)) AND access_package_id = \(accessPackageId)"
                ).decode(ByteBuffer.self).reduce(into: []) { $0.append(try RequestRow.decode($1)) }
            }
        } catch {
            changes.cancel(subscription)
            throw error.rpcError
        }
        var byId: [ExactString: AccessPackageRequest] = [:]
        for request in snapshot { byId[ExactString(request.id)] = request }
        var ordered: [AccessPackageRequest] = []
        for (i, id) in ids.enumerated() {
            guard let request = byId[ExactString(id)] else {
                changes.cancel(subscription)
                throw RPCError(
                    code: .notFound,
                    message: "request_ids[\(i)] \(CallerText.quotedId(id)) is not a request of access package \"\(CallerText.clean(accessPackageId))\"")
            }
            ordered.append(request)
        }
        return WatchStart(snapshot: ordered, subscription: subscription)
    }

    // MARK: Directory

    /// Reloads catalogs, packages and role assignments (after an import on any replica).
    func reloadDirectory() async throws(StoreError) {
        let logger = logger
        let tables = try await database { client in
            try await client.withConnection { try await DirectoryTables.load($0, logger: logger) }
        }
        directory = tables
        accessDirectory.replace(roles: tables.roles, packageCatalogs: tables.packages.mapValues(\.catalogId))
    }

    // MARK: Database calls

    /// Runs one unit of database work off the actor, with `callDeadline` (`outageCallDeadline`
    /// while the database is unreachable); any failure is a
    /// `StoreError.unreachable` saying what went wrong. Tracks reachability for health.
    @discardableResult
    /// - Parameter deadline: how long the caller waits; by default `callDeadline` (or
    ///   `outageCallDeadline` while the database is unreachable).
    func database<T: Sendable>(
        deadline: Duration? = nil,
        _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws(StoreError) -> T {
        let client = client
        let deadline = deadline ?? (reachable.value.load(ordering: .relaxed) ? Self.callDeadline : Self.outageCallDeadline)
        do {
            let value = try await Self.withDeadline(deadline) { try await body(client) }
            reachable.value.store(true, ordering: .relaxed)
            return value
        } catch {
            if let error = Self.failure(in: error) as? StoreError { throw error }
            if Self.isConnectivity(error) { reachable.value.store(false, ordering: .relaxed) }
            if Self.lostDuringCommit(error) {
                throw StoreError.unconfirmed("the connection was lost after COMMIT was sent (\(Self.describe(error)))")
            }
            throw StoreError.unreachable(Self.describe(error))
        }
    }

    /// A failure to reach the database (as opposed to a statement it refused).
    static func isConnectivity(_ error: any Error) -> Bool {
        let error = failure(in: error)
        if error is DeadlineExceeded { return true }
        guard let error = error as? PSQLError else { return false }
        return error.code != .server
    }

    /// COMMIT was sent and the connection failed before the server answered: the transaction
    /// may have committed. (An answer refusing the COMMIT, such as a serialization failure, means
    /// it did not.)
    static func lostDuringCommit(_ error: any Error) -> Bool {
        guard let commitError = (error as? PostgresTransactionError)?.commitError else { return false }
        return !serverAnswered(commitError)
    }

    /// Whether the server said why the connection ended: an error answering the statement, or
    /// one that closed the connection before it (a fast shutdown's FATAL 57P01). Either way the
    /// transaction was rolled back.
    private static func serverAnswered(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        if error.code == .server { return true }
        return error.underlying.map(serverAnswered) ?? false
    }

    /// What BEGIN, the work or COMMIT threw, for a transaction's failure.
    private static func failure(in error: any Error) -> any Error {
        guard let error = error as? PostgresTransactionError else { return error }
        return error.beginError ?? error.closureError ?? error.commitError ?? error
    }

    /// Why `database(_:)` failed, without its "the database:" prefix.
    private static func reason(_ error: StoreError) -> String {
        switch error {
        case .unreachable(let message), .unconfirmed(let message): message
        default: error.description
        }
    }

    /// What went wrong, without the query's bound values (PSQLError's own description hides all).
    static func describe(_ error: any Error) -> String {
        switch failure(in: error) {
        case let error as PSQLError:
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            switch error.code {
            case .authMechanismRequiresPassword:
                return "the database asks for a password and the URL gives none (postgres://USER:PASSWORD@HOST/DB)"
            case .sslUnsupported:
                return "the URL requires SSL (sslmode) and the database does not offer it"
            case .unsupportedAuthMechanism:
                return "the database asks for an authentication method this server does not support (use scram-sha-256 or md5)"
            case .serverClosedConnection:
                return "the database closed the connection"
            case .clientClosedConnection:
                return "the connection to the database was closed"
            default:
                // A PSQLError's own description is a placeholder; only the underlying error says more.
                if let underlying = error.underlying, !(underlying is PSQLError) { return "\(error.code): \(underlying)" }
                return "\(error.code)"
            }
        case let error as StoreError: return error.description
        default: return "\(error)"
        }
    }

    /// `body`'s result, or `DeadlineExceeded` once `limit` has passed. Unstructured on purpose:
    /// a task group would wait for `body` even after the deadline, and a connection lease
    /// waiting for an unreachable database does not end on cancellation.
    static func withDeadline<T: Sendable>(
        _ limit: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = DeadlineRace<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.start(
                    continuation,
                    work: Task {
                        do {
                            race.finish(with: .success(try await body()))
                        } catch {
                            race.finish(with: .failure(error))
                        }
                    },
                    timer: Task {
                        try? await Task.sleep(for: limit)
                        race.finish(with: .failure(DeadlineExceeded(limit: limit)))
                    })
            }
        } onCancel: {
            race.finish(with: .failure(CancellationError()))
        }
    }
}

/// The first of a call's result, its deadline and its cancellation resumes the caller; the
/// others are cancelled.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var tasks: [Task<Void, Never>] = []
        var outcome: Result<T, any Error>?
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>, work: Task<Void, Never>, timer: Task<Void, Never>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            state.tasks = [work, timer]
            return nil
        }
        if let early {
            work.cancel()
            timer.cancel()
            continuation.resume(with: early)
        }
    }

    func finish(with result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard state.outcome == nil else { return (nil, []) }
            state.outcome = result
            defer { state.continuation = nil; state.tasks = [] }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
    }
}

/// The database did not answer in time.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let limit: Duration
    // Not only an outage: a statement waiting for rows another session holds locked ends so too.
    var description: String { "no answer within \(limit): it is down or overloaded, or another session holds the rows locked" }
}

/// The database answered in a way its statement cannot (a bug, or a schema changed by hand).
struct UnexpectedAnswer: Error, CustomStringConvertible {
    let description: String
}

/// A flag readable from any thread (the store's reachability, for health checks).
final class SharedFlag: Sendable {
    let value: Atomic<Bool>
    init(_ initial: Bool) { value = Atomic(initial) }
}

/// Catalogs, access packages and role assignments as loaded from the database.
struct DirectoryTables: Sendable {
    var catalogs: [String: CatalogInfo] = [:]
    var packages: [String: AccessPackageInfo] = [:]
    /// principal id → catalog id → roles.
    var roles: [String: [String: Set<CatalogRole>]] = [:]

    static func load(_ connection: PostgresConnection, logger: Logger) async throws -> DirectoryTables {
        var tables = DirectoryTables()
        for try await (id, name) in try await connection.query("SELECT id, display_name FROM catalogs", logger: logger)
            .decode((String, String).self)
        {
            tables.catalogs[id] = CatalogInfo(id: id, displayName: name)
        }
        for try await (id, catalog, name) in try await connection.query(
            "SELECT id, catalog_id, display_name FROM access_packages", logger: logger
        ).decode((String, String, String).self) {
            tables.packages[id] = AccessPackageInfo(id: id, catalogId: catalog, displayName: name)
        }
        for try await (principal, catalog, role) in try await connection.query(
            "SELECT principal_id, catalog_id, role FROM role_assignments", logger: logger
        ).decode((String, String, Int32).self) {
            tables.roles[principal, default: [:]][catalog, default: []].insert(CatalogRole(rawValue: role))
        }
        return tables
    }
}
