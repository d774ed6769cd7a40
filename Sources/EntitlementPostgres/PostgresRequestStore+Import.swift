public import Entitlement
import EntitlementAPI
import NIOCore
import Foundation  // Unicode normalization forms
import PostgresNIO

extension PostgresRequestStore {
    /// Imports a fixture insert-only, all or nothing, by `FixturePlan`'s rules: one transaction
    /// under the advisory lock (replicas importing at once take turns), and every replica
    /// reloads the directory tables when it commits.
    @discardableResult
    public func importFixture(_ fixture: Fixture) async throws -> ImportSummary {
        let logger = logger
        let fixtureIds = fixture.requests.map(\.id)
        let fixtureIdSet = Set(fixtureIds.map(ExactString.init))
        // Rolled back, not committed after start-up has given up on it.
        let gate = CommitGate<FixturePlan>()
        let planned: Result<FixturePlan, ImportError>
        do throws(StoreError) {
            planned = try await database(deadline: Self.importDeadline) { client in
                let result = try await client.withTransaction(logger: logger) {
                    connection -> Result<FixturePlan, ImportError> in
                    try await connection.query(
                        "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockKey))", logger: logger)
                    let tables = try await DirectoryTables.load(connection, logger: logger)
                    // By bytes: rows are, and a `String` set would take another spelling of a
                    // stored id for it, and skip the new request as already imported.
                    var stored: Set<ExactString> = []
                    // Stored ids that are a fixture id spelled otherwise, refused as the
                    // embedded store refuses them. Looked up by the fixture ids' composed and
                    // decomposed forms, so the id index answers (an id stored in neither form,
                    // as with U+212A KELVIN SIGN or a mix of both, is not found).
                    var respelled: [String: String] = [:]
                    for try await id in try await connection.query(
                        "SELECT id FROM requests WHERE id = ANY(\(Self.spellings(of: fixtureIds)))", logger: logger
                    ).decode(String.self) {
                        if fixtureIdSet.contains(ExactString(id)) { stored.insert(ExactString(id)) } else { respelled[id] = id }
                    }
                    // A bad reference ends the import before anything is written.
                    let plan: FixturePlan
                    do throws(ImportError) {
                        plan = try FixturePlan(
                        fixture,
                        existing: FixturePlan.Existing(
                            catalog: { tables.catalogs[$0] != nil },
                            accessPackage: { tables.packages[$0] },
                            roleAssignment: { tables.roles[$0.principalId]?[$0.catalogId]?.contains($0.role) == true },
                            request: { stored.contains(ExactString($0)) },
                            // The directory is kept in dictionaries like the embedded store's.
                            respelling: { kind, id in
                                switch kind {
                                case .catalog: tables.catalogs.respelling(of: id)
                                case .accessPackage: tables.packages.respelling(of: id)
                                case .principal: tables.roles.respelling(of: id)
                                // Stored as given: not a respelling, though the database may hold
                                // another spelling too (written before this check).
                                case .request: stored.contains(ExactString(id)) ? nil : respelled.respelling(of: id)
                                }
                            }))
                    } catch {
                        return .failure(error)
                    }
                    for catalog in plan.catalogs {
                        try await connection.query(
                            "INSERT INTO catalogs (id, display_name) VALUES (\(catalog.id), \(catalog.displayName))",
                            logger: logger)
                    }
                    for package in plan.accessPackages {
                        try await connection.query(
                            """
                            INSERT INTO access_packages (id, catalog_id, display_name)
                            VALUES (\(package.id), \(package.catalogId), \(package.displayName))
                            """, logger: logger)
                    }
                    for assignment in plan.roleAssignments {
                        try await connection.query(
                            """
                            INSERT INTO role_assignments (principal_id, catalog_id, role)
                            VALUES (\(assignment.principalId), \(assignment.catalogId), \(assignment.role.rawValue))
                            """, logger: logger)
                    }
                    try await RequestRow.insert(plan.requests, on: connection, logger: logger)
                    // On the channel every listener is on ("d": reload the directory tables).
                    try await connection.query("SELECT pg_notify(\(RequestRow.changesChannel), 'd')", logger: logger)
                    try gate.enterCommit()
                    return .success(plan)
                }
                if case .success(let plan) = result { _ = gate.committed(plan) }
                return result
            }
        } catch {
            if case .unconfirmed = error { throw error }
            switch gate.abandon() {
            case .committed(let plan):
                // It committed just as the deadline passed: the import is in.
                planned = .success(plan)
            case .unconfirmed:
                throw StoreError.unconfirmed(
                    "no answer to the import's COMMIT within \(Self.importDeadline); it may have been applied")
            case .rolledBack:
                throw error
            }
        }
        let plan = try planned.get()
        try await reloadDirectory()
        if plan.requests.contains(where: { $0.state == .delivering }) { deliveryWakeups.signal() }
        logger.info("imported", metadata: ["summary": .string(plan.summary.description)])
        return plan.summary
    }

    /// Each id as given, composed (NFC) and decomposed (NFD): the forms another spelling of it
    /// is stored in.
    static func spellings(of ids: [String]) -> [String] {
        var forms: [String] = []
        forms.reserveCapacity(ids.count)
        for id in ids {
            forms.append(id)
            if id.utf8.allSatisfy({ $0 < 0x80 }) { continue }  // ASCII is both forms already
            for form in [id.precomposedStringWithCanonicalMapping, id.decomposedStringWithCanonicalMapping]
            where !form.hasSameBytes(as: id) {
                forms.append(form)
            }
        }
        return forms
    }
}
