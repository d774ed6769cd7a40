import EntitlementAPI
import Logging
import ProtoWire

extension RequestStore: RefusalAuditing {
    package var auditClock: any WallClock { clock }

    package func insertAuditRecord(_ record: AuditRecord) async throws(StoreError) {
        _ = try await write(
            singleStatement: true, { database in try Self.insertAudit(record, in: database) },
            journalLine: Self.auditLine(record))
    }

    /// The audit.log line of `record` once its row has committed (the writer appends it), with
    /// the arrays the row was bound with.
    static func auditLine(_ record: AuditRecord) -> @Sendable (InsertedAudit) -> [UInt8] {
        { row in AuditLogFile.line(for: record, seq: row.seq, arrays: row.arrays) }
    }

    /// An audit row as inserted: its place in the table and the arrays it holds.
    struct InsertedAudit: Sendable {
        let seq: Int64
        let arrays: AuditLogFile.JSONArrays
    }

    /// Appends an audit record in its own transaction and logs it.
    public func appendAudit(_ record: AuditRecord) async throws(StoreError) {
        try await appendAuditRecord(record)
    }

    /// Records a Reprocess call that authorization refused (for the auth interceptor); see
    /// `RefusalAuditing.auditDenied`.
    public func recordDeniedReprocess(
        caller: String?, packageId: String, requestIds: [String], reason: String, peer: String? = nil
    ) async {
        await auditDenied(caller: caller, packageId: packageId, requestIds: requestIds, reason: reason, peer: peer)
    }

    /// Records a Reprocess call that was authorized but invalid (bad arguments, unknown package).
    public func recordRejectedReprocess(caller: String?, packageId: String, requestIds: [String], reason: String) async {
        await auditRejected(caller: caller, packageId: packageId, requestIds: requestIds, reason: reason)
    }

    /// The newest `limit` audit records, oldest first.
    public func auditRecords(limit: Int = 100) async throws(StoreError) -> [AuditRecord] {
        try await write { database in try Self.readAudit(limit: limit, in: database) }
    }

    private static func readAudit(limit: Int, in database: SQLiteDatabase) throws(SQLiteError) -> [AuditRecord] {
        try readAudit(
            """
            SELECT seq, time_seconds, time_nanos, caller, access_package_id, decision, reason, peer, count,
                request_ids, outcomes
            FROM audit ORDER BY seq DESC LIMIT ?
            """, binding: Int64(max(0, limit)), in: database
        ).reversed().map(\.1)
    }

    /// Every audit row after `seq`, oldest first, with its seq.
    static func readAudit(after seq: Int64, limit: Int, in database: SQLiteDatabase) throws(SQLiteError) -> [(Int64, AuditRecord)] {
        let rows = try readAudit(
            """
            SELECT seq, time_seconds, time_nanos, caller, access_package_id, decision, reason, peer, count,
                request_ids, outcomes
            FROM audit WHERE seq > ?1 ORDER BY seq ASC LIMIT \(max(0, limit))
            """, binding: seq, in: database)
        return rows
    }

    /// audit.log is written after each commit, so a crash between the two loses lines the
    /// table has: at start-up, every row after the file's last `seq` is appended.
    /// - Returns: how many lines were appended.
    /// - Parameter checkingOrder: whether the file's seqs are this database's (not when the data
    ///   dir was a PostgreSQL replica's: its audit.log numbers that store's rows).
    static func reconcileAuditFile(
        _ file: AuditTrail, with database: SQLiteDatabase, checkingOrder: Bool = true
    ) throws(StoreError) -> Int {
        guard var last = file.lastSeq() else { return 0 }
        let newestRow: Int64
        do {
            newestRow = try database.statement("SELECT COALESCE(MAX(seq), 0) FROM audit").firstInt64()
        } catch {
            throw StoreError.database(error)
        }
        // A commit is durable before its line is written, so the table is never behind the file:
        // it is when the database was emptied, replaced or restored from an older copy, and
        // serving would answer from the wrong data (an empty store says every package is unknown).
        guard newestRow >= last || !checkingOrder else {
            throw StoreError.corrupt(
                "entitlement.sqlite3 holds audit rows up to seq \(newestRow) but audit.log has seq \(last): the "
                    + "database was emptied, replaced or restored from an older copy. Restore it, or move audit.log "
                    + "aside to start on this database anyway")
        }
        var appended = 0
        while true {
            let rows: [(Int64, AuditRecord)]
            do {
                rows = try readAudit(after: last, limit: 1_000, in: database)
            } catch {
                throw StoreError.database(error)
            }
            guard let newest = rows.last else { return appended }
            for (seq, record) in rows { file.appendToFile(record, seq: seq) }
            appended += rows.count
            last = newest.0
        }
    }

    private static func readAudit(
        _ sql: String, binding value: Int64, in database: SQLiteDatabase
    ) throws(SQLiteError) -> [(Int64, AuditRecord)] {
        let rows = try database.statement(sql)
        try rows.bind(value)
        var records: [(Int64, AuditRecord)] = []
        while try rows.step() {
            let record = AuditRecord(
                callerObjectId: rows.optionalString(at: 3),
                time: Timestamp(seconds: rows.int64(at: 1), nanos: Int32(truncatingIfNeeded: rows.int64(at: 2))),
                accessPackageId: rows.string(at: 4), requestIds: strings(inJSON: rows.string(at: 9)),
                outcomes: strings(inJSON: rows.optionalString(at: 10) ?? "[]").compactMap(ReprocessOutcome.init(protoName:)),
                decision: AuditRecord.Decision(rawValue: rows.string(at: 5)) ?? .rejected,
                reason: rows.string(at: 6), peer: rows.optionalString(at: 7), count: Int(rows.int64(at: 8)))
            records.append((rows.int64(at: 0), record))
        }
        return records
    }

    /// The strings of a JSON array the store wrote (`AuditLogFile.jsonArray`); empty if the text
    /// is not one (a hand-edited database).
    private static func strings(inJSON text: String) -> [String] {
        let bytes = Array(text.utf8)
        let value = try? bytes.withUnsafeBytes { raw in try JSONParser.parse(raw) }
        guard case .array(let elements)? = value else { return [] }
        return elements.compactMap { element in
            if case .string(let string) = element { string } else { nil }
        }
    }

    /// Inserts the record (one row, ids and outcomes as JSON arrays); returns its `seq` (the
    /// order of the audit table, kept in audit.log) and the arrays, for its audit.log line.
    @discardableResult
    static func insertAudit(_ record: AuditRecord, in database: SQLiteDatabase) throws(SQLiteError) -> InsertedAudit {
        let arrays = AuditLogFile.JSONArrays(record)
        let audit = try database.statement(StoreSchema.insertAudit)
        try audit.bind(
            record.time.seconds, Int64(record.time.nanos), record.callerObjectId, record.accessPackageId,
            record.decision.rawValue, record.reason, record.peer, Int64(record.count),
            SQLiteText(arrays.requestIds), arrays.outcomes.map(SQLiteText.init))
        try audit.run()
        return InsertedAudit(seq: database.lastInsertRowID, arrays: arrays)
    }
}
