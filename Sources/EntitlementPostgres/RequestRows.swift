import Entitlement
import EntitlementAPI
import Logging
import NIOCore
import PostgresNIO
import ProtoWire
import RPCCore

/// How a request is stored and announced: its protobuf encoding plus the index columns, and a
/// `NOTIFY` on `changesChannel` in the same transaction (delivered to listeners on commit).
enum RequestRow {
    static let changesChannel = "entitlement_changes"
    /// Notification payloads stay under PostgreSQL's 8000-byte limit; a bigger request's version
    /// goes into `request_changes`, announced by its number, and the listeners read it there.
    static let maxInlinePayload = 7_000
    /// How long a `request_changes` row is kept, from its transaction's start (`now()`): longer
    /// than the longest transaction that writes one (an import, up to `importDeadline`), so a
    /// row is not already expired when it commits, plus five minutes for the listeners to read
    /// it (one that lost its connection ends its watches and does not read back).
    static let changeRetention = "\(PostgresRequestStore.importDeadline.components.seconds + 300) seconds"

    static func decode(_ body: ByteBuffer) throws -> AccessPackageRequest {
        try AccessPackageRequest(serializedBytes: Array(body.readableBytesView))
    }

    /// The stored requests among `ids`, by id (its bytes: rows may hold two spellings of one
    /// text, which a `String` key would merge); `lock` takes their row locks (in id order).
    static func fetch(
        _ ids: [String], lock: Bool, on connection: PostgresConnection, logger: Logger
    ) async throws -> [ExactString: StoredRequest] {
        let query: PostgresQuery =
            lock
            ? "SELECT body FROM requests WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE"
            : "SELECT body FROM requests WHERE id = ANY(\(ids))"
        var requests: [ExactString: StoredRequest] = [:]
        for try await body in try await connection.query(query, logger: logger).decode(ByteBuffer.self) {
            let request = StoredRequest(try decode(body))
            requests[ExactString(request.id)] = request
        }
        return requests
    }

    /// Stores a changed request (its id, package and `created_at` never change) and announces it.
    static func update(
        _ request: AccessPackageRequest, on connection: PostgresConnection, logger: Logger,
        leaseUntil lease: LeaseChange = .keep
    ) async throws {
        let body = ByteBuffer(bytes: request.serializedBytes())
        let state = request.state.rawValue
        switch lease {
        case .keep:
            try await connection.query(
                "UPDATE requests SET state = \(state), body = \(body), changed_at = now() WHERE id = \(request.id)",
                logger: logger)
        case .renew(let milliseconds):
            try await connection.query(
                """
                UPDATE requests SET state = \(state), body = \(body), changed_at = now(),
                    lease_until = now() + \(milliseconds) * interval '1 millisecond'
                WHERE id = \(request.id)
                """, logger: logger)
        case .release:
            try await connection.query(
                """
                UPDATE requests SET state = \(state), body = \(body), changed_at = now(),
                    lease_owner = NULL, lease_until = NULL
                WHERE id = \(request.id)
                """, logger: logger)
        }
        try await announce(body: body, on: connection, logger: logger)
    }

    /// Stores several changed requests and announces them, in two statements whatever their
    /// number (a 100-id Reprocess made 200 round trips inside its transaction).
    static func update(_ requests: [StoredRequest], on connection: PostgresConnection, logger: Logger) async throws {
        guard !requests.isEmpty else { return }
        let ids = requests.map(\.id)
        let states = requests.map(\.state.rawValue)
        let bodies = requests.map { ByteBuffer(bytes: $0.encoded.bytes) }
        try await connection.query(
            """
            UPDATE requests AS r SET state = u.state, body = u.body, changed_at = now()
            FROM unnest(\(ids)::text[], \(states)::int4[], \(bodies)::bytea[]) AS u(id, state, body)
            WHERE r.id = u.id
            """, logger: logger)
        try await announce(bodies: bodies, on: connection, logger: logger)
    }

    /// `NOTIFY` for each of several requests, in their order, in one statement.
    private static func announce(bodies: [ByteBuffer], on connection: PostgresConnection, logger: Logger) async throws {
        guard !bodies.isEmpty else { return }
        let payloads = try await announcements(bodies: bodies, on: connection, logger: logger)
        try await connection.query(
            """
            SELECT pg_notify(\(changesChannel), p.payload)
            FROM unnest(\(payloads)::text[]) WITH ORDINALITY AS p(payload, position) ORDER BY p.position
            """, logger: logger)
    }

    enum LeaseChange {
        case keep
        case renew(milliseconds: Int64)
        case release
    }

    /// `NOTIFY` with the request itself ("b" + base64 of its encoding) or, when too big, the
    /// number of its `request_changes` row ("c").
    static func announce(body: ByteBuffer, on connection: PostgresConnection, logger: Logger) async throws {
        try await announce(bodies: [body], on: connection, logger: logger)
    }

    /// The notification payload of each body, in their order. The versions too big to inline go
    /// into `request_changes` in one statement, however many there are, in the change's own
    /// transaction: a listener reads a row only once it is committed. (Old rows are pruned by
    /// `PostgresRequestStore.pruneChanges`, outside any change's transaction.)
    private static func announcements(
        bodies: [ByteBuffer], on connection: PostgresConnection, logger: Logger
    ) async throws -> [String] {
        var payloads = bodies.map { "b" + Base64.encode(Array($0.readableBytesView)) }
        let big = payloads.indices.filter { payloads[$0].utf8.count > maxInlinePayload }
        guard !big.isEmpty else { return payloads }
        let bigBodies = big.map { bodies[$0] }
        // The CTE takes each row's number once (it is evaluated once: `nextval` is volatile) and
        // hands them back in the bodies' order, which `RETURNING` does not promise.
        let rows = try await connection.query(
            """
            WITH numbered AS (
                SELECT nextval(pg_get_serial_sequence('request_changes', 'seq')) AS seq, u.body, u.position
                FROM unnest(\(bigBodies)::bytea[]) WITH ORDINALITY AS u(body, position)),
            stored AS (INSERT INTO request_changes (seq, body) SELECT seq, body FROM numbered)
            SELECT seq FROM numbered ORDER BY position
            """, logger: logger)
        var seqs: [Int64] = []
        seqs.reserveCapacity(big.count)
        for try await seq in rows.decode(Int64.self) { seqs.append(seq) }
        guard seqs.count == big.count else {
            throw UnexpectedAnswer(description: "request_changes returned \(seqs.count) numbers for \(big.count) versions")
        }
        for (index, seq) in zip(big, seqs) { payloads[index] = "c\(seq)" }
        return payloads
    }

    /// Inserts new requests (ids not stored yet), in batches of one statement each, and announces
    /// them: every replica's package-wide watchers see a request another replica imported.
    static func insert(_ requests: [AccessPackageRequest], on connection: PostgresConnection, logger: Logger) async throws {
        for batch in stride(from: 0, to: requests.count, by: 1_000).map({ requests[$0..<min($0 + 1_000, requests.count)] }) {
            var ids: [String] = [], packages: [String] = [], states: [Int32] = []
            var seconds: [Int64] = [], nanos: [Int32] = [], bodies: [ByteBuffer] = []
            for request in batch {
                let created = request.createdAt ?? Timestamp()
                ids.append(request.id)
                packages.append(request.accessPackageId)
                states.append(request.state.rawValue)
                seconds.append(created.seconds)
                nanos.append(created.nanos)
                bodies.append(ByteBuffer(bytes: request.serializedBytes()))
            }
            let rows = try await connection.query(
                """
                INSERT INTO requests (id, access_package_id, state, created_seconds, created_nanos, body)
                SELECT * FROM unnest(\(ids)::text[], \(packages)::text[], \(states)::int4[], \(seconds)::int8[],
                    \(nanos)::int4[], \(bodies)::bytea[])
                ON CONFLICT (id) DO NOTHING
                RETURNING id
                """, logger: logger)
            // Only the rows inserted: one another replica imported first (at the same moment) is
            // its version, and announcing this file's copy of it would show watchers a phantom.
            var inserted: Set<ExactString> = []
            for try await id in rows.decode(String.self) { inserted.insert(ExactString(id)) }
            let announced = inserted.count == ids.count ? bodies : zip(ids, bodies).filter { inserted.contains(ExactString($0.0)) }.map(\.1)
            try await announce(bodies: announced, on: connection, logger: logger)
        }
    }
}

/// A prepared statement whose rows are stored requests (their `body` column).
protocol RequestQuery: PostgresPreparedStatement where Row == AccessPackageRequest {}

extension RequestQuery {
    func decodeRow(_ row: PostgresRow) throws -> AccessPackageRequest { try RequestRow.decode(row.decode(ByteBuffer.self)) }
}

/// The request with one id.
struct RequestByID: RequestQuery {
    static let sql = "SELECT body FROM requests WHERE id = $1"
    var id: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(id)
        return bindings
    }
}

/// The first page of a package's requests in listing order, optionally of some states only
/// (an empty array: all states). Walks the listing index.
struct FirstPage: RequestQuery {
    static let sql = """
        SELECT body FROM requests
        WHERE access_package_id = $1 AND (cardinality($2::int4[]) = 0 OR state = ANY($2::int4[]))
        ORDER BY created_seconds DESC, created_nanos DESC, id
        LIMIT $3
        """
    var packageId: String
    var states: [Int32]
    var limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(packageId)
        bindings.append(states)
        bindings.append(Int64(limit))
        return bindings
    }
}

/// The page after a cursor: keyset pagination (`created_at` descending, then `id` ascending),
/// so a page costs the same however deep it is.
struct PageAfter: RequestQuery {
    static let sql = """
        SELECT body FROM requests
        WHERE access_package_id = $1 AND (cardinality($2::int4[]) = 0 OR state = ANY($2::int4[]))
          AND (created_seconds, created_nanos) <= ($3, $4)
          AND (created_seconds < $3 OR created_nanos < $4 OR id > $5)
        ORDER BY created_seconds DESC, created_nanos DESC, id
        LIMIT $6
        """
    var packageId: String
    var states: [Int32]
    var cursor: ListingKey
    var limit: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(packageId)
        bindings.append(states)
        bindings.append(cursor.createdSeconds)
        bindings.append(cursor.createdNanos)
        bindings.append(cursor.id)
        bindings.append(Int64(limit))
        return bindings
    }
}

/// The audit table: one row per audited call, ids and outcomes as arrays.
enum AuditRows {
    /// Inserts `record` as written by the data dir named `writer` and returns its seq.
    static func insert(
        _ record: AuditRecord, writer: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        let outcomes = record.outcomes.map(\.protoName)
        let rows = try await connection.query(
            """
            INSERT INTO audit (time_seconds, time_nanos, caller, access_package_id, decision, reason, peer, count,
                request_ids, outcomes, written_by)
            VALUES (\(record.time.seconds), \(record.time.nanos), \(record.callerObjectId), \(record.accessPackageId),
                \(record.decision.rawValue), \(record.reason), \(record.peer), \(Int32(clamping: record.count)),
                \(record.requestIds), \(outcomes), \(writer))
            RETURNING seq
            """, logger: logger)
        for try await seq in rows.decode(Int64.self) { return seq }
        throw StoreSetupError("INSERT INTO audit returned no seq")
    }

    /// The newest `limit` records, oldest first.
    static func newest(limit: Int, client: PostgresClient) async throws -> [AuditRecord] {
        let rows = try await client.query(
            """
            SELECT seq, time_seconds, time_nanos, caller, access_package_id, decision, reason, peer, count, request_ids,
                outcomes
            FROM audit ORDER BY seq DESC LIMIT \(Int64(limit))
            """)
        return try await records(rows).map(\.record).reversed()
    }

    /// Up to `limit` records written by `writer` with a seq of at least `seq`, in seq order.
    static func written(
        by writer: String, from seq: Int64, limit: Int, client: PostgresClient
    ) async throws -> [(seq: Int64, record: AuditRecord)] {
        let rows = try await client.query(
            """
            SELECT seq, time_seconds, time_nanos, caller, access_package_id, decision, reason, peer, count, request_ids,
                outcomes
            FROM audit WHERE written_by = \(writer) AND seq >= \(seq) ORDER BY seq LIMIT \(Int64(limit))
            """)
        return try await records(rows)
    }

    private static func records(_ rows: PostgresRowSequence) async throws -> [(seq: Int64, record: AuditRecord)] {
        var records: [(seq: Int64, record: AuditRecord)] = []
        for try await (seq, seconds, nanos, caller, package, decision, reason, peer, count, ids, outcomes) in rows.decode(
            (Int64, Int64, Int32, String?, String, String, String, String?, Int32, [String], [String]).self)
        {
            records.append(
                (seq, AuditRecord(
                    callerObjectId: caller, time: Timestamp(seconds: seconds, nanos: nanos), accessPackageId: package,
                    requestIds: ids, outcomes: outcomes.compactMap(ReprocessOutcome.init(protoName:)),
                    decision: AuditRecord.Decision(rawValue: decision) ?? .rejected, reason: reason, peer: peer,
                    count: Int(count))))
        }
        return records
    }
}
