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
        CREATE TABLE IF NOT EXISTS audit_items (
            audit_seq INTEGER NOT NULL,
            position INTEGER NOT NULL,
            request_id TEXT NOT NULL,
            outcome TEXT,
            PRIMARY KEY (audit_seq, position)
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
        INSERT INTO audit (time_seconds, time_nanos, caller, access_package_id, decision, reason, peer, count)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Columns added after version 1, as (table, column, definition); added when missing, so a
    /// data dir written by an older server opens unchanged.
    static let addedColumns = [
        ("audit", "peer", "TEXT"),
        ("audit", "count", "INTEGER NOT NULL DEFAULT 1"),
    ]

    /// Brings an existing database up to this schema.
    static func migrate(_ database: SQLiteDatabase) throws(SQLiteError) {
        for (table, column, definition) in addedColumns {
            let info = try database.statement("SELECT COUNT(*) FROM pragma_table_info('\(table)') WHERE name = ?")
            try info.bind(column)
            _ = try info.step()
            let present = info.int64(at: 0) > 0
            info.reset()
            if !present { try database.execute("ALTER TABLE \(table) ADD COLUMN \(column) \(definition)") }
        }
    }
    static let insertAuditItem =
        "INSERT INTO audit_items (audit_seq, position, request_id, outcome) VALUES (?, ?, ?, ?)"
    static let insertGrant = """
        INSERT INTO grants (request_id, resource_id, resource_type, principal_id, time_seconds, time_nanos)
        VALUES (?, ?, ?, ?, ?, ?)
        """
}
