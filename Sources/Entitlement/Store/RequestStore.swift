public import EntitlementAPI
public import Logging
import ProtoWire

/// Owns catalogs, access packages, role assignments, requests, grants and the audit log.
///
/// Reads are served from memory (per-package indexes in listing order). Every change is written
/// through to SQLite (WAL, `synchronous=FULL`) by `SQLiteWriter`, which group-commits on its own
/// thread; a changing method returns only after its commit, and memory (what readers see) changes
/// only once the commit is durable. One store per data directory and process.
public actor RequestStore: RequestStoring {
    /// The largest page `listRequests` returns.
    public static let maxPageSize = 1_000
    /// The most ids one `reprocess` call takes.
    public static let maxReprocessBatch = 100

    /// The data directory.
    public nonisolated let directory: String
    /// Signs and checks ListRequests page tokens with the key kept in the data dir.
    public nonisolated let pageTokens: PageTokenCodec
    /// Role assignments and package catalogs for authorization, readable without awaiting the actor.
    public nonisolated let accessDirectory = AccessDirectory()
    let metrics: StoreMetrics
    /// Committed request changes, for WatchRequests.
    public nonisolated let changes: RequestChangeFeed
    /// Signals (coalesced) that requests entered DELIVERING; waited on by one `DeliveryWorker`.
    public nonisolated let deliveryWakeups = WakeSignal()

    nonisolated let writer: SQLiteWriter
    /// This process's exclusive use of `directory`, held until `close`.
    let directoryLock: DataDirectoryLock
    let clock: any WallClock
    let logger: Logger
    var state: StoreState
    /// Ids accepted by a Reprocess call whose commit is still in flight.
    var pendingAcceptances: Set<String> = []
    /// `audit.log` in the data dir (the readable copy of the audit table) and the server's log.
    package let auditTrail: AuditTrail
    /// Rows of refused calls held back for aggregation, and whether a flush is scheduled.
    package var refusalThrottle = RefusalAuditThrottle()
    package var refusalFlushScheduled = false

    /// Opens (creating if needed) `directory/entitlement.sqlite3` and loads everything into memory.
    /// - Parameters:
    ///   - directory: the data dir; created (0700) with its parents if missing.
    ///   - clock: the source of "now" for reprocessing, delivery and audit times.
    ///   - logger: receives one line per audited Reprocess call and delivery problems.
    public init(
        directory: String,
        clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "entitlement.store"),
        changes: RequestChangeFeed = RequestChangeFeed(),
        metrics: StoreMetrics = .disabled
    ) throws {
        self.changes = changes
        self.metrics = metrics
        try FileSystem.makeDirectory(directory)
        self.directoryLock = try DataDirectoryLock(directory: directory)
        let database: SQLiteDatabase
        do throws(SQLiteError) {
            database = try SQLiteDatabase(path: directory + "/entitlement.sqlite3")
            try database.execute(StoreSchema.create)
            try StoreSchema.migrate(database)
        } catch {
            throw StoreError.database(error)
        }
        self.directory = directory
        self.pageTokens = PageTokenCodec(key: try RandomKeyFile.loadOrCreate(path: directory + "/page-token.key", name: "the page-token key"))
        let auditTrail = try AuditTrail(directory: directory, logger: logger)
        self.auditTrail = auditTrail
        self.writer = SQLiteWriter(database: database, metrics: metrics, journal: auditTrail.file)
        self.clock = clock
        self.logger = logger
        // Loaded here, before the writer thread first touches the connection.
        self.state = try Self.load(database)
        // A PostgreSQL replica's data dir (its audit.log numbers that store's rows) has this file.
        let wasSharedStoreDir = FileSystem.exists(directory + "/audit-writer.key")
        let appended = try Self.reconcileAuditFile(auditTrail, with: database, checkingOrder: !wasSharedStoreDir)
        if appended > 0 {
            logger.notice("audit.log was missing lines of committed calls (a crash); appended them", metadata: [
                "lines": .stringConvertible(appended),
            ])
        }
        accessDirectory.replace(with: state)
    }

    /// Closes the database. The store must not be used afterwards; a `DeliveryWorker` on it stops.
    public func close() async {
        // Refused calls still held back for aggregation get their summary rows before the end.
        await flushAllRefusalAudit()
        deliveryWakeups.close()
        await writer.close()
        directoryLock.release()
    }

    // MARK: Reads

    /// The access package with this id.
    public func accessPackage(id: String) -> AccessPackageInfo? { state.packages[exactly: id] }

    /// The catalog with this id.
    public func catalog(id: String) -> CatalogInfo? { state.catalogs[exactly: id] }

    /// The catalog roles a principal holds: catalog id → roles.
    public func catalogRoles(principalId: String) -> [String: Set<CatalogRole>] { state.roles[exactly: principalId] ?? [:] }

    public func request(id: String) -> AccessPackageRequest? { state.requests[exactly: id]?.message }

    /// How many requests the store holds.
    public func countRequests() -> Int { state.requests.count }

    /// One page of a package's requests in listing order (`created_at` desc, `id` asc).
    /// - Parameters:
    ///   - states: any of these states; all states when empty.
    ///   - cursor: the last key of the previous page; nil for the first page.
    ///   - limit: the page size, capped at `maxPageSize`.
    /// - Returns: nil if the access package is unknown.
    public func listRequests(
        accessPackageId: String,
        states: [RequestState],
        after cursor: ListingKey?,
        limit: Int
    ) -> RequestPage? {
        guard state.packages[exactly: accessPackageId] != nil else { return nil }
        guard let index = state.indexes[accessPackageId] else { return RequestPage(entries: [], hasMore: false) }
        let unique = Array(Set(states.map(\.rawValue))).map(RequestState.init(rawValue:))
        let page = index.page(states: unique, after: cursor, limit: max(1, min(limit, Self.maxPageSize)))
        return RequestPage(entries: page.keys.compactMap { state.requests[$0.id] }, hasMore: page.hasMore)
    }

    // MARK: Writing

    /// Runs `body` on the writer thread and returns once its transaction has committed; a failure
    /// rolls back `body`'s changes and becomes a `StoreError`.
    /// `journalLine` gives the audit.log line of the result, appended once the commit is durable.
    /// `singleStatement`: `body` changes the database with one statement at most (see
    /// `SQLiteWriter.perform`).
    func write<T: Sendable>(
        singleStatement: Bool = false,
        _ body: @escaping @Sendable (SQLiteDatabase) throws -> T,
        journalLine: (@Sendable (T) -> [UInt8])? = nil
    ) async throws(StoreError) -> T {
        do {
            return try await writer.perform(singleStatement: singleStatement, body, journalLine: journalLine)
        } catch {
            throw StoreError(wrapping: error)
        }
    }

    static func store(_ request: StoredRequest, in database: SQLiteDatabase) throws(SQLiteError) {
        let statement = try database.statement(StoreSchema.upsertRequest)
        try statement.bind(request.id, request.accessPackageId, Int64(request.state.rawValue), request.encoded.bytes)
        try statement.run()
    }

    func wakeDeliveryWorker() { deliveryWakeups.signal() }

    /// DELIVERING requests waiting for delivery or being delivered now (the delivery backlog).
    public func deliveryBacklog() -> Int { state.deliveryQueue.count + state.claimed.count }

    /// False while the store's most recent commit failed (the disk is full, say).
    public nonisolated var isCommitting: Bool { writer.isCommitting }

    /// One small write (a row of its own table) to see whether commits succeed again.
    public func probeCommit() async {
        guard !isCommitting else { return }
        let seconds = clock.now().seconds
        _ = try? await write(singleStatement: true) { database in
            let probe = try database.statement("INSERT OR REPLACE INTO health_probe (id, at_seconds) VALUES (1, ?)")
            try probe.bind(seconds)
            try probe.run()
        }
    }

    /// Makes the next `count` commits fail (tests of what a failed write leaves behind).
    func injectCommitFailures(_ count: Int) { writer.injectCommitFailures(count) }

    // MARK: Loading

    private static func load(_ database: SQLiteDatabase) throws(StoreError) -> StoreState {
        var state = StoreState()
        do {
            let catalogs = try database.statement("SELECT id, display_name FROM catalogs")
            while try catalogs.step() {
                let catalog = CatalogInfo(id: catalogs.string(at: 0), displayName: catalogs.string(at: 1))
                state.catalogs[catalog.id] = catalog
            }
            let packages = try database.statement("SELECT id, catalog_id, display_name FROM access_packages")
            while try packages.step() {
                let package = AccessPackageInfo(
                    id: packages.string(at: 0), catalogId: packages.string(at: 1), displayName: packages.string(at: 2))
                state.packages[package.id] = package
            }
            let roles = try database.statement("SELECT principal_id, catalog_id, role FROM role_assignments")
            while try roles.step() {
                state.add(
                    RoleAssignment(
                        principalId: roles.string(at: 0), catalogId: roles.string(at: 1),
                        role: CatalogRole(rawValue: Int32(truncatingIfNeeded: roles.int64(at: 2)))))
            }
            let requests = try database.statement("SELECT id, body FROM requests ORDER BY rowid")
            while try requests.step() {
                let id = requests.string(at: 0)
                guard let request = try? AccessPackageRequest(serializedBytes: requests.blob(at: 1)), request.id == id
                else {
                    throw StoreError.corrupt("request \(id) cannot be decoded")
                }
                state.put(StoredRequest(request))
            }
        } catch {
            throw StoreError(wrapping: error)
        }
        return state
    }
}

/// One page of requests and whether more follow.
public struct RequestPage: Sendable {
    /// The requests as stored: their encodings make the reply.
    public var entries: [StoredRequest]
    public var hasMore: Bool

    public init(entries: [StoredRequest], hasMore: Bool) {
        self.entries = entries
        self.hasMore = hasMore
    }

    public init(requests: [AccessPackageRequest], hasMore: Bool) {
        self.init(entries: requests.map(StoredRequest.init), hasMore: hasMore)
    }

    /// The requests, decoded.
    public var requests: [AccessPackageRequest] { entries.map(\.message) }
}
