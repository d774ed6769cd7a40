import EntitlementAPI

extension RequestStore {
    /// Imports a fixture insert-only, all or nothing (the rules are `FixturePlan`'s): everything
    /// whose id is not stored yet is inserted in one transaction, so importing twice changes nothing.
    /// - Throws: `ImportError` naming the place, or `StoreError`; either way nothing is imported.
    @discardableResult
    public func importFixture(_ fixture: Fixture) async throws -> ImportSummary {
        let plan = try Self.plan(fixture, against: state)
        let newCatalogs = plan.catalogs
        let newPackages = plan.accessPackages
        let newRoles = plan.roleAssignments
        let newRequests = plan.requests.map(StoredRequest.init)
        let summary = plan.summary

        try await write { [newCatalogs, newPackages, newRoles, newRequests] database in
            for catalog in newCatalogs {
                let statement = try database.statement(StoreSchema.insertCatalog)
                try statement.bind(catalog.id, catalog.displayName)
                try statement.run()
            }
            for package in newPackages {
                let statement = try database.statement(StoreSchema.insertPackage)
                try statement.bind(package.id, package.catalogId, package.displayName)
                try statement.run()
            }
            for assignment in newRoles {
                let statement = try database.statement(StoreSchema.insertRole)
                try statement.bind(assignment.principalId, assignment.catalogId, Int64(assignment.role.rawValue))
                try statement.run()
            }
            for request in newRequests { try Self.store(request, in: database) }
        }
        for catalog in newCatalogs { state.catalogs[catalog.id] = catalog }
        for package in newPackages { state.packages[package.id] = package }
        for assignment in newRoles { state.add(assignment) }
        for request in newRequests { state.put(request) }
        accessDirectory.replace(with: self.state)
        if newRequests.contains(where: { $0.state == .delivering }) { wakeDeliveryWorker() }
        logger.info("imported", metadata: ["summary": .string(summary.description)])
        return summary
    }

    /// `state` is a copy: it is released before the state changes, so that costs no copy.
    private static func plan(_ fixture: Fixture, against state: StoreState) throws(ImportError) -> FixturePlan {
        try FixturePlan(
            fixture,
            existing: FixturePlan.Existing(
                catalog: { state.catalogs[$0] != nil },
                accessPackage: { state.packages[$0] },
                roleAssignment: { state.roles[$0.principalId]?[$0.catalogId]?.contains($0.role) == true },
                request: { state.requests[$0] != nil },
                respelling: { kind, id in
                    switch kind {
                    case .catalog: state.catalogs.respelling(of: id)
                    case .accessPackage: state.packages.respelling(of: id)
                    case .principal: state.roles.respelling(of: id)
                    case .request: state.requests.respelling(of: id)
                    }
                }))
    }
}
