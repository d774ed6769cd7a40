import Logging
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations applied in order at start-up. Each runs in the
/// same transaction as its version row, under an advisory lock, so replicas starting at once
/// apply each migration exactly once; a migration never changes once released.
enum PostgresSchema {
    /// The advisory lock key migrations and imports take (any constant; "ENTL").
    static let lockKey: Int64 = 0x454E_544C

    static let migrations: [(version: Int32, sql: [String])] = [
        (1, [
            """
            CREATE TABLE catalogs (
                id text COLLATE "C" PRIMARY KEY,
                display_name text NOT NULL)
            """,
            """
            CREATE TABLE access_packages (
                id text COLLATE "C" PRIMARY KEY,
                catalog_id text COLLATE "C" NOT NULL REFERENCES catalogs (id),
                display_name text NOT NULL)
            """,
            """
            CREATE TABLE role_assignments (
                principal_id text COLLATE "C" NOT NULL,
                catalog_id text COLLATE "C" NOT NULL REFERENCES catalogs (id),
                role integer NOT NULL,
                PRIMARY KEY (principal_id, catalog_id, role))
            """,
            // Requests are their protobuf encoding plus the columns listing, delivery and
            // operators' queries need. `created_*` never change; `lease_*` say which replica
            // is delivering a DELIVERING request, and until when.
            """
            CREATE TABLE requests (
                id text COLLATE "C" PRIMARY KEY,
                access_package_id text COLLATE "C" NOT NULL REFERENCES access_packages (id),
                state integer NOT NULL,
                created_seconds bigint NOT NULL,
                created_nanos integer NOT NULL,
                body bytea NOT NULL,
                changed_at timestamptz NOT NULL DEFAULT now(),
                lease_owner text,
                lease_until timestamptz)
            """,
            // Listing order: created_at descending, then id ascending.
            "CREATE INDEX requests_listing ON requests (access_package_id, created_seconds DESC, created_nanos DESC, id)",
            "CREATE INDEX requests_delivering ON requests (changed_at) WHERE state = \(PostgresRequestStore.deliveringState)",
            """
            CREATE TABLE audit (
                seq bigserial PRIMARY KEY,
                time_seconds bigint NOT NULL,
                time_nanos integer NOT NULL,
                caller text,
                access_package_id text NOT NULL,
                decision text NOT NULL,
                reason text NOT NULL,
                peer text,
                count integer NOT NULL DEFAULT 1,
                request_ids text[] NOT NULL,
                outcomes text[] NOT NULL)
            """,
            """
            CREATE TABLE grants (
                seq bigserial PRIMARY KEY,
                request_id text NOT NULL,
                resource_id text NOT NULL,
                resource_type text NOT NULL,
                principal_id text NOT NULL,
                time_seconds bigint NOT NULL,
                time_nanos integer NOT NULL)
            """,
            "CREATE INDEX grants_request ON grants (request_id)",
            // Secrets every replica shares: the page-token key.
            "CREATE TABLE settings (name text PRIMARY KEY, value bytea NOT NULL)",
        ]),
        // Which data dir's audit.log a row belongs in, so a replica restarted after a crash
        // appends the lines of its committed calls that never reached the file.
        (2, [
            "ALTER TABLE audit ADD COLUMN written_by text",
            "CREATE INDEX audit_written_by ON audit (written_by, seq) WHERE written_by IS NOT NULL",
        ]),
        // Changed requests too big for a NOTIFY payload, kept a while for the listeners to read
        // each version (reading the row back gave its latest version: repeats and skips).
        (3, [
            """
            CREATE TABLE request_changes (
                seq bigserial PRIMARY KEY,
                body bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX request_changes_created ON request_changes (created_at)",
        ]),
    ]

    /// Applies the migrations this database lacks and returns the page-token key (created with
    /// `newKey` the first time).
    static func migrate(_ client: PostgresClient, newKey: [UInt8], logger: Logger) async throws -> [UInt8] {
        if let key = await keyIfCurrent(client, logger: logger) { return key }
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var applied: Set<Int32> = []
            for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                .decode(Int32.self)
            {
                applied.insert(version)
            }
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version) VALUES (\(migration.version))", logger: logger)
                logger.notice("applied database migration", metadata: ["version": "\(migration.version)"])
            }
            let key = ByteBuffer(bytes: newKey)
            try await connection.query(
                "INSERT INTO settings (name, value) VALUES ('page_token_key', \(key)) ON CONFLICT (name) DO NOTHING",
                logger: logger)
            for try await value in try await connection.query(
                "SELECT value FROM settings WHERE name = 'page_token_key'", logger: logger
            ).decode(ByteBuffer.self) {
                return Array(value.readableBytesView)
            }
            throw StoreSetupError("the page-token key is missing from the settings table")
        }
    }
}

extension PostgresSchema {
    /// The page-token key of a database that has every migration, read without the lock: an
    /// import holds the lock for its whole transaction (minutes for a large file), and a replica
    /// starting meanwhile has nothing to migrate. Nil when anything is missing (a new or older
    /// database, or tables not there yet): `migrate` then takes the lock.
    private static func keyIfCurrent(_ client: PostgresClient, logger: Logger) async -> [UInt8]? {
        let latest = migrations.map(\.version).max() ?? 0
        do {
            for try await value in try await client.query(
                """
                SELECT value FROM settings
                WHERE name = 'page_token_key' AND (SELECT max(version) FROM schema_migrations) >= \(latest)
                """, logger: logger
            ).decode(ByteBuffer.self) {
                return Array(value.readableBytesView)
            }
        } catch {
            return nil
        }
        return nil
    }
}

struct StoreSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
