/// The SQLite schema. Requests are stored as their protobuf encoding, keyed by id; the columns
/// beside it are there for operators' ad-hoc queries.
enum StoreSchema {
    static let version = 1

    static let create = """
        CREATE TABLE IF NOT EXISTS catalogs (
            id TEXT PRIMARY KEY NOT NULL,
            display_name TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS access_packages (
            id TEXT PRIMARY KEY NOT NULL,
            catalog_id TEXT NOT NULL,
            display_name TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS role_assignments (
            principal_id TEXT NOT NULL,
            catalog_id TEXT NOT NULL,
            role INTEGER NOT NULL,
            PRIMARY KEY (principal_id, catalog_id, role)
        );
        CREATE TABLE IF NOT EXISTS requests (
            id TEXT PRIMARY KEY NOT NULL,
            access_package_id TEXT NOT NULL,
            state INTEGER NOT NULL,
            body BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            time_seconds INTEGER NOT NULL,
            time_nanos INTEGER NOT NULL,
            caller TEXT,
            access_package_id TEXT NOT NULL,
            decision TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS health_probe (
            id INTEGER PRIMARY KEY,
            at_seconds INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS grants (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            principal_id TEXT NOT NULL,
            time_seconds INTEGER NOT NULL,
            time_nanos INTEGER NOT NULL
        );
        """

    static let upsertRequest =
        "INSERT OR REPLACE INTO requests (id, access_package_id, state, body) VALUES (?, ?, ?, ?)"
    static let insertCatalog = "INSERT INTO catalogs (id, display_name) VALUES (?, ?)"
    static let insertPackage = "INSERT INTO access_packages (id, catalog_id, display_name) VALUES (?, ?, ?)"
    static let insertRole = "INSERT INTO role_assignments (principal_id, catalog_id, role) VALUES (?, ?, ?)"
    static let insertAudit = """
        INSERT INTO audit (
            time_seconds, time_nanos, caller, access_package_id, decision, reason, peer, count, request_ids, outcomes)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Columns added after version 1, as (table, column, definition); added when missing, so a
    /// data dir written by an older server opens unchanged.
    static let addedColumns = [
        ("audit", "peer", "TEXT"),
        ("audit", "count", "INTEGER NOT NULL DEFAULT 1"),
        // The call's ids and their outcomes as JSON arrays of strings (`json_each` reads them):
        // one row per call, where a row per id made every Reprocess insert eleven.
        ("audit", "request_ids", "TEXT NOT NULL DEFAULT '[]'"),
        ("audit", "outcomes", "TEXT"),
    ]

    /// Brings an existing database up to this schema.
    static func migrate(_ database: SQLiteDatabase) throws(SQLiteError) {
        for (table, column, definition) in addedColumns {
            let info = try database.statement("SELECT COUNT(*) FROM pragma_table_info('\(table)') WHERE name = ?")
            try info.bind(column)
            let present = try info.firstInt64() > 0
            if !present { try database.execute("ALTER TABLE \(table) ADD COLUMN \(column) \(definition)") }
        }
        try moveAuditItems(database)
    }

    /// Data dirs written before the ids moved into the audit row keep them in `audit_items`
    /// (a row per id): copied into each row's columns, in one transaction, then dropped.
    private static func moveAuditItems(_ database: SQLiteDatabase) throws(SQLiteError) {
        let exists = try database.statement("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_items'")
        guard try exists.firstInt64() > 0 else { return }
        try database.execute("BEGIN IMMEDIATE")
        do throws(SQLiteError) {
            let items = try database.statement(
                "SELECT audit_seq, request_id, outcome FROM audit_items ORDER BY audit_seq, position")
            let update = try database.statement("UPDATE audit SET request_ids = ?, outcomes = ? WHERE seq = ?")
            var current: (seq: Int64, ids: [String], outcomes: [String])?
            func flush() throws(SQLiteError) {
                guard let row = current else { return }
                update.reset()
                try update.bind(
                    SQLiteText(AuditLogFile.jsonArray(row.ids)),
                    row.outcomes.isEmpty ? nil : SQLiteText(AuditLogFile.jsonArray(row.outcomes)),
                    row.seq)
                try update.run()
            }
            while try items.step() {
                let seq = items.int64(at: 0)
                if current?.seq != seq {
                    try flush()
                    current = (seq, [], [])
                }
                current?.ids.append(items.string(at: 1))
                if let outcome = items.optionalString(at: 2) { current?.outcomes.append(outcome) }
            }
            try flush()
            items.reset()
            try database.execute("DROP TABLE audit_items")
            try database.execute("COMMIT")
        } catch {
            try? database.execute("ROLLBACK")
            throw error
        }
    }
    static let insertGrant = """
        INSERT INTO grants (request_id, resource_id, resource_type, principal_id, time_seconds, time_nanos)
        VALUES (?, ?, ?, ?, ?, ?)
        """
}
