@testable import EntitlementPostgres
import Entitlement
import EntitlementAPI
import PostgresNIO
import RPCCore
import Testing

/// Request versions too big for a NOTIFY payload go through `request_changes` (see `RequestRow`).
@Suite(
    "PostgreSQL request_changes",
    .enabled(if: PostgresTestDatabase.serverURL != nil, "needs ENTITLEMENT_TEST_POSTGRES"),
    .timeLimit(.minutes(1)))  // a missed change would wait for ever
struct RequestChangesTests {
    /// An eligible request whose encoding is over the 7,000-byte inline limit.
    static func bigRequest(_ id: String) -> AccessPackageRequest {
        var request = makeRequest(id, resources: 64)
        for i in request.resources.indices { request.resources[i].displayName = String(repeating: "d", count: 100) }
        return request
    }

    static func reprocess(_ store: PostgresRequestStore, _ ids: [String]) async throws -> [ReprocessOutcome] {
        let results = try #require(
            try await store.reprocess(
                accessPackageId: "ap-1", requestIds: ids, callerObjectId: "oid-7", policy: ReprocessPolicy(windowDays: 7)))
        return results.map(\.outcome)
    }

    @Test("the big versions of one call are stored in one statement and each reaches the watchers once, by its id")
    func bigVersionsOfOneCall() async throws {
        let ids = ["r-big-1", "r-small", "r-big-2", "r-big-3"]
        let requests = ids.map { $0 == "r-small" ? makeRequest($0) : Self.bigRequest($0) }
        #expect(requests[0].serializedBytes().count > RequestRow.maxInlinePayload)
        try await withPostgresStore(requests: requests) { store, url in
            let stored = {
                try await PostgresTestDatabase.withConnection(url) { connection in
                    try await PostgresTestDatabase.count("SELECT count(*) FROM request_changes", on: connection)
                }
            }
            let imported = try await stored()
            #expect(imported == 3, "the import announced its big requests too")
            let start = try #require(try await store.watch(accessPackageId: "ap-1", ids: ids))
            defer { start.subscription.stop() }
            #expect(try await Self.reprocess(store, ids) == Array(repeating: .accepted, count: 4))
            // The import's announcements may still be on their way: the watch sees those first.
            var delivering: [String] = []
            for await change in start.subscription.changes where change.state == .delivering {
                delivering.append(change.id)
                if delivering.count == ids.count { break }
            }
            // In the call's order: a number given to another body would reorder them.
            #expect(delivering == ids)
            #expect(try await stored() == imported + 3)
        }
    }

    @Test("a session holding old change rows locked holds up no change, and pruning skips what it holds")
    func pruningOutsideChanges() async throws {
        try await withPostgresStore(requests: [Self.bigRequest("r-big")]) { store, url in
            try await PostgresTestDatabase.withConnection(url) { setup in
                try await setup.query(
                    """
                    INSERT INTO request_changes (body, created_at)
                    SELECT '\\x00'::bytea, now() - interval '1 hour' FROM generate_series(1, 3)
                    """, logger: PostgresTestDatabase.logger)
            }
            try await PostgresTestDatabase.withConnection(url) { holder in
                // As a long import did when each big change pruned as it was stored: the rows it
                // deleted stayed locked until it ended, and every other replica's big changes waited.
                try await holder.query("BEGIN", logger: PostgresTestDatabase.logger)
                try await holder.query(
                    "SELECT seq FROM request_changes WHERE created_at < now() - interval '1 hour' LIMIT 1 FOR UPDATE",
                    logger: PostgresTestDatabase.logger)
                #expect(try await Self.reprocess(store, ["r-big"]) == [.accepted])
                #expect(try await store.pruneExpiredChanges() == 2)
                try await holder.query("ROLLBACK", logger: PostgresTestDatabase.logger)
            }
            #expect(try await store.pruneExpiredChanges() == 1)
            let left = try await PostgresTestDatabase.withConnection(url) { connection in
                try await PostgresTestDatabase.count("SELECT count(*) FROM request_changes", on: connection)
            }
            #expect(left == 2, "the import's and the Reprocess call's versions are kept")
        }
    }

    @Test(
        "a change notification this replica cannot pass on ends its watches with UNAVAILABLE",
        arguments: ["c999999999", "c", "b!not-base64!", "bAAAA", "", "z-from-a-newer-replica"])
    func unreadableChange(payload: String) async throws {
        try await withPostgresStore(requests: [makeRequest("r-1")]) { store, url in
            let start = try #require(try await store.watch(accessPackageId: "ap-1", ids: ["r-1"]))
            defer { start.subscription.stop() }
            try await PostgresTestDatabase.withConnection(url) { connection in
                try await connection.query(
                    "SELECT pg_notify(\(RequestRow.changesChannel), \(payload))", logger: PostgresTestDatabase.logger)
            }
            for await _ in start.subscription.changes {}
            let reason = try #require(start.subscription.endReason)
            #expect(reason.code == .unavailable)
            #expect(reason.message.contains("missed a request change") && reason.message.contains("watch again"))
        }
    }

    @Test("a role assignment one replica imports holds on every replica")
    func directoryReachesOtherReplicas() async throws {
        try await withPostgresStore { first, url in
            try await withTemporaryDirectory { path in
                let second = try await PostgresRequestStore.connect(url: url, directory: path, clock: ManualWallClock(testNow))
                #expect(await first.catalogRoles(principalId: "oid-new").isEmpty)
                do {
                    try await second.importFixture(
                        Fixture(roleAssignments: [RoleAssignment(principalId: "oid-new", catalogId: "cat-a", role: .reader)]))
                } catch {
                    await second.close()
                    throw error
                }
                await second.close()
                // The first replica reloads its directory when the import's notification comes
                // (it went to a channel no replica listened on, so the role never held there).
                var roles = await first.catalogRoles(principalId: "oid-new")
                for _ in 0..<200 where roles.isEmpty {
                    try await Task.sleep(for: .milliseconds(50))
                    roles = await first.catalogRoles(principalId: "oid-new")
                }
                #expect(roles["cat-a"] == [.reader])
            }
        }
    }
}
