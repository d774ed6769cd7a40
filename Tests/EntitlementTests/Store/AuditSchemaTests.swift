@testable import Entitlement
import EntitlementAPI
import Foundation
import Testing

@Suite("The audit table keeps one row per call")
struct AuditSchemaTests {
    @Test("a data dir from before (ids in audit_items, a row per id) opens with every row's ids and outcomes")
    func movesAuditItems() async throws {
        try await withTemporaryDirectory { path in
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                let old = try SQLiteDatabase(path: path + "/entitlement.sqlite3")
                try old.execute(
                    """
                    CREATE TABLE audit (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, time_seconds INTEGER NOT NULL,
                        time_nanos INTEGER NOT NULL, caller TEXT, access_package_id TEXT NOT NULL,
                        decision TEXT NOT NULL, reason TEXT NOT NULL);
                    CREATE TABLE audit_items (
                        audit_seq INTEGER NOT NULL, position INTEGER NOT NULL, request_id TEXT NOT NULL,
                        outcome TEXT, PRIMARY KEY (audit_seq, position));
                    INSERT INTO audit VALUES (1, 100, 0, 'oid-1', 'ap-1', 'allowed', '');
                    INSERT INTO audit VALUES (2, 101, 0, NULL, 'ap-1', 'denied', 'PERMISSION_DENIED: no role');
                    INSERT INTO audit VALUES (3, 102, 0, 'oid-1', 'ap-1', 'rejected', 'request_ids is empty');
                    INSERT INTO audit_items VALUES (1, 1, 'r2"x', 'REPROCESS_OUTCOME_NOT_FOUND');
                    INSERT INTO audit_items VALUES (1, 0, 'r1', 'REPROCESS_OUTCOME_ACCEPTED');
                    INSERT INTO audit_items VALUES (2, 0, 'r1', NULL);
                    """)
                old.close()
            }
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            let records = try await store.auditRecords(limit: 10)
            #expect(records.map(\.requestIds) == [["r1", "r2\"x"], ["r1"], []])
            #expect(records.map(\.outcomes) == [[.accepted, .notFound], [], []])
            #expect(records.map(\.decision) == [.allowed, .denied, .rejected])
            await store.close()

            let reopened = try SQLiteDatabase(path: path + "/entitlement.sqlite3")
            let tables = try reopened.statement("SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_items'")
            _ = try tables.step()
            #expect(tables.int64(at: 0) == 0, "audit_items is dropped once moved")
            reopened.close()
        }
    }

    @Test("a Reprocess call is one row; its columns are JSON that SQLite's json_each reads")
    func oneRowPerCall() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
            let handler = AccessPackageRequestsHandler(store: store)
            _ = try await handler.reprocess(reprocessRequest(ids: ["r1", "n\"o\\pe"]), context: makeContext())
            await store.close()

            let database = try SQLiteDatabase(path: path + "/entitlement.sqlite3")
            let rows = try database.statement(
                """
                SELECT i.value, o.value FROM audit a, json_each(a.request_ids) i, json_each(a.outcomes) o
                WHERE o.key = i.key ORDER BY i.key
                """)
            var pairs: [String] = []
            while try rows.step() { pairs.append(rows.string(at: 0) + "=" + rows.string(at: 1)) }
            // Ids are kept as CallerText cleans them: the backslash escaped (so that "\n" typed and
            // an escaped newline differ), the quote as it is.
            #expect(pairs == ["r1=REPROCESS_OUTCOME_ACCEPTED", "n\"o\\\\pe=REPROCESS_OUTCOME_NOT_FOUND"])
            rows.reset()
            database.close()
        }
    }
}
