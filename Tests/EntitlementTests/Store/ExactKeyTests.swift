@testable import Entitlement
@testable import EntitlementPostgres
import EntitlementAPI
import RPCCore
import Testing

/// Ids are compared byte for byte, though Swift strings compare by canonical equivalence:
/// "\u{212A}" (KELVIN SIGN) equals "K", "e\u{301}" equals "é".
@Suite("Ids are looked up by their bytes")
struct ExactKeyTests {
    static let kelvin = "\u{212A}"

    private func withKStore(_ body: (RequestStore) async throws -> Void) async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            var fixture = baseFixture(requests: [makeRequest("REQ-K1", package: "ap-K")])
            fixture.accessPackages.append(AccessPackageInfo(id: "ap-K", catalogId: "cat-b", displayName: "K"))
            fixture.roleAssignments.append(RoleAssignment(principalId: "oid-K", catalogId: "cat-b", role: .owner))
            try await store.importFixture(fixture)
            try await body(store)
            await store.close()
        }
    }

    @Test("the same bytes are the same, in small strings, large ones and ones built from bytes; other spellings are not")
    func sameBytes() {
        let long = String(repeating: "req-\u{FC}-", count: 20)  // past the small-string size
        let rebuilt = String(decoding: Array(long.utf8), as: UTF8.self)  // other storage, same bytes
        #expect("\u{E9}" == "e\u{301}" && Self.kelvin == "K")  // what Swift's == says
        #expect(!"\u{E9}".hasSameBytes(as: "e\u{301}") && !Self.kelvin.hasSameBytes(as: "K"))
        #expect("req-1".hasSameBytes(as: "req-" + "1") && "".hasSameBytes(as: ""))
        #expect(!"req-1".hasSameBytes(as: "req-10") && !"req-1".hasSameBytes(as: "req-2"))
        #expect(long.hasSameBytes(as: rebuilt) && !long.hasSameBytes(as: long.dropLast() + "x"))
        let stored = ["\u{E9}": 1, long: 2]
        #expect(stored[exactly: "\u{E9}"] == 1 && stored[exactly: "e\u{301}"] == nil && stored[exactly: rebuilt] == 2)
        #expect(stored.respelling(of: "e\u{301}") == "\u{E9}" && stored.respelling(of: "\u{E9}") == nil)
        #expect(Set([ExactString("\u{E9}"), ExactString("e\u{301}"), ExactString(rebuilt), ExactString(long)]).count == 3)
    }

    /// PostgreSQL keeps two spellings of one id as two requests (its rows compare bytes).
    @Test(
        "on PostgreSQL two spellings of a request id are delivered once each and watched apart",
        .enabled(if: PostgresTestDatabase.serverURL != nil, "needs ENTITLEMENT_TEST_POSTGRES"),
        .timeLimit(.minutes(1)))  // a missed change would wait for ever
    func postgresSpellings() async throws {
        let ids = ["REQ-\u{E9}", "REQ-e\u{301}"]
        let requests = ids.map { makeRequest($0, state: .delivering, completedAgo: nil, resources: 1) }
        try await withPostgresStore(requests: [requests[0]]) { store, url in
            // An import refuses the other (the spelling check), but a database written before
            // that check, or by hand, can hold both.
            try await PostgresTestDatabase.withConnection(url) { connection in
                try await RequestRow.insert([requests[1]], on: connection, logger: PostgresTestDatabase.logger)
            }
            #expect(Set(await store.claimDeliveringRequests(limit: 10).map { ExactString($0.id) }).count == 2)
            // Both are this replica's now: neither is claimed again while it is delivered (with
            // a Set<String> of them, one was, and its resources were granted twice).
            #expect(await store.claimDeliveringRequests(limit: 10).isEmpty)
            // A watch of both sees both change (a Set<String> of them kept one).
            let start = try #require(try await store.watch(accessPackageId: "ap-1", ids: ids))
            defer { start.subscription.stop() }
            #expect(Set(start.snapshot.map { ExactString($0.id) }) == Set(ids.map(ExactString.init)))
            var iterator = start.subscription.changes.makeAsyncIterator()
            var changed: Set<ExactString> = []
            for id in ids {
                _ = try await store.recordDeliveryAttempt(requestId: id, resourceIndex: 0, delivered: true, error: "")
                changed.insert(ExactString(try #require(await iterator.next()).id))
            }
            #expect(changed == Set(ids.map(ExactString.init)))
        }
    }

    @Test(
        "on PostgreSQL an import bringing another spelling of a stored request id is refused, naming both",
        .enabled(if: PostgresTestDatabase.serverURL != nil, "needs ENTITLEMENT_TEST_POSTGRES"),
        arguments: [("REQ-\u{E9}", "REQ-e\u{301}"), ("REQ-e\u{301}", "REQ-\u{E9}"), ("REQ-\u{C5}", "REQ-\u{212B}")])
    func postgresImportRespelling(stored: String, imported: String) async throws {
        try await withPostgresStore(requests: [makeRequest(stored)]) { store, url in
            let error = await #expect(throws: ImportError.self) {
                try await store.importFixture(Fixture(requests: [makeRequest(imported), makeRequest("REQ-new")]))
            }
            #expect(error?.path == "requests[0].id", "\(String(describing: error))")
            #expect(error?.message.contains("spelled with other Unicode code points") == true)
            #expect(try await store.countRequests() == 1)
            // The same bytes again are the stored request: skipped, as any id already stored.
            let summary = try await store.importFixture(Fixture(requests: [makeRequest(stored), makeRequest("REQ-new")]))
            #expect(try await store.countRequests() == 2, "\(summary)")
            // So too when a database from before the check holds the other spelling as well
            // (an --import run at every start must not fail then).
            try await PostgresTestDatabase.withConnection(url) { connection in
                try await RequestRow.insert([makeRequest(imported)], on: connection, logger: PostgresTestDatabase.logger)
            }
            try await store.importFixture(Fixture(requests: [makeRequest(stored)]))
            #expect(try await store.countRequests() == 3)
        }
    }

    @Test("another spelling of a principal holds none of its catalog roles")
    func principal() async throws {
        try await withKStore { store in
            #expect(await store.catalogRoles(principalId: "oid-K")["cat-b"] == [.owner])
            #expect(await store.catalogRoles(principalId: "oid-\(Self.kelvin)").isEmpty)
            #expect(store.accessDirectory.catalogRoles(principalId: "oid-\(Self.kelvin)").isEmpty)
        }
    }

    @Test("another spelling of a package is not that package, nor of a request that request")
    func packageAndRequest() async throws {
        try await withKStore { store in
            #expect(await store.accessPackage(id: "ap-\(Self.kelvin)") == nil)
            #expect(store.accessDirectory.catalogId(ofAccessPackage: "ap-\(Self.kelvin)") == nil)
            #expect(await store.listRequests(accessPackageId: "ap-\(Self.kelvin)", states: [], after: nil, limit: 10) == nil)
            let results = try #require(
                try await store.reprocess(
                    accessPackageId: "ap-K", requestIds: ["REQ-\(Self.kelvin)1", "REQ-K1"], callerObjectId: "oid-K",
                    policy: ReprocessPolicy(windowDays: 7)))
            #expect(results.map(\.outcome) == [.notFound, .accepted])
            // The answer shows which spelling was asked for: both print as "REQ-K1".
            #expect(results[0].detail.contains(#"(REQ-\u{212A}1)"#), "\(results[0].detail)")
            let refusal = await #expect(throws: RPCError.self) {
                try await store.watch(accessPackageId: "ap-K", ids: ["REQ-\(Self.kelvin)1"])
            }
            #expect(refusal?.message.contains(#"(REQ-\u{212A}1) is not a request"#) == true, "\(String(describing: refusal))")
            #expect(CallerText.quotedId("REQ-K1") == #""REQ-K1""#)
        }
    }

    @Test("two spellings in one call are two ids, not duplicates")
    func notDuplicates() throws {
        try AccessPackageRequestsHandler.validateIds(["\u{E9}", "e\u{301}"], allowEmpty: false)
        let many = (0..<20).map { "r\($0)" } + ["\u{E9}", "e\u{301}"]
        try AccessPackageRequestsHandler.validateIds(many, allowEmpty: false)
        #expect(throws: RPCError.self) { try AccessPackageRequestsHandler.validateIds(many + ["e\u{301}"], allowEmpty: false) }
    }

    @Test("an import that brings in another spelling of a stored or earlier id is refused, naming both")
    func importRespelling() async throws {
        try await withKStore { store in
            var respelled = Fixture(requests: [makeRequest("REQ-\(Self.kelvin)1", package: "ap-K")])
            var error = await #expect(throws: ImportError.self) { try await store.importFixture(respelled) }
            #expect(error?.path == "requests[0].id")
            #expect(error?.message.contains("REQ-\\u{212A}1") == true && error?.message.contains("REQ-K1") == true)

            respelled = Fixture(roleAssignments: [RoleAssignment(principalId: "oid-\(Self.kelvin)", catalogId: "cat-a", role: .reader)])
            error = await #expect(throws: ImportError.self) { try await store.importFixture(respelled) }
            #expect(error?.path == "roleAssignments[0].principalId")

            respelled = Fixture(requests: [makeRequest("x", package: "ap-\(Self.kelvin)")])
            error = await #expect(throws: ImportError.self) { try await store.importFixture(respelled) }
            #expect(error?.path == "requests[0].accessPackageId")
            #expect(await store.countRequests() == 1)
        }
        // Two spellings in one file pass the duplicate check (bytes differ) and are then
        // refused by the spelling check, which names both.
        let json = #"{"requests": [{"id": "\#u{E9}", "accessPackageId": "ap-1", "state": 4}, {"id": "e\#u{301}", "accessPackageId": "ap-1", "state": 4}]}"#
        let parsed = try Fixture(json: Array(json.utf8))
        let noneStored = FixturePlan.Existing(
            catalog: { _ in false }, accessPackage: { _ in AccessPackageInfo(id: "ap-1", catalogId: "c", displayName: "") },
            roleAssignment: { _ in false }, request: { _ in false })
        let refusal = #expect(throws: ImportError.self) { try FixturePlan(parsed, existing: noneStored) }
        #expect(refusal?.path == "requests[1].id")
        #expect(refusal?.message.contains("e\\u{301}") == true && refusal?.message.contains("\\u{E9}") == true, "\(String(describing: refusal))")
        let inOneFile = Fixture(
            catalogs: [CatalogInfo(id: "c", displayName: "C")],
            accessPackages: [AccessPackageInfo(id: "p", catalogId: "c", displayName: "P")],
            roleAssignments: [
                RoleAssignment(principalId: "\u{E9}", catalogId: "c", role: .owner),
                RoleAssignment(principalId: "e\u{301}", catalogId: "c", role: .reader),
            ])
        #expect(throws: ImportError.self) { try FixturePlan(
                inOneFile,
                existing: FixturePlan.Existing(
                    catalog: { _ in false }, accessPackage: { _ in nil }, roleAssignment: { _ in false },
                    request: { _ in false })) }
    }
}
