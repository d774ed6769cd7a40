import EntitlementAPI

extension RequestStore {
    /// Imports a fixture insert-only, all or nothing.
    ///
    /// First every reference is checked (a package's catalog, a role assignment's catalog, a
    /// request's access package must be in the file or the store); then everything whose id is not
    /// stored yet is inserted in one transaction. An id already stored is left as it is, so
    /// importing twice changes nothing. A request's `catalogId` is its access package's.
    /// - Throws: `ImportError` naming the place, or `StoreError`; either way nothing is imported.
    @discardableResult
    public func importFixture(_ fixture: Fixture) async throws -> ImportSummary {
        let fileCatalogs = Set(fixture.catalogs.map(\.id))
        func checkCatalog(_ id: String, at path: String) throws(ImportError) {
            guard state.catalogs[id] != nil || fileCatalogs.contains(id) else {
                throw ImportError(path: path, message: "unknown catalog \"\(id)\"")
            }
        }
        for (i, package) in fixture.accessPackages.enumerated() {
            try checkCatalog(package.catalogId, at: "accessPackages[\(i)].catalogId")
        }
        for (i, assignment) in fixture.roleAssignments.enumerated() {
            try checkCatalog(assignment.catalogId, at: "roleAssignments[\(i)].catalogId")
        }
        var filePackages: [String: AccessPackageInfo] = [:]
        for package in fixture.accessPackages { filePackages[package.id] = package }
        var newRequests: [AccessPackageRequest] = []
        var summary = ImportSummary()
        for (i, var request) in fixture.requests.enumerated() {
            // A package already stored wins over the file's copy, which is skipped.
            guard let package = state.packages[request.accessPackageId] ?? filePackages[request.accessPackageId] else {
                throw ImportError(
                    path: "requests[\(i)].accessPackageId",
                    message: "unknown access package \"\(request.accessPackageId)\"")
            }
            if state.requests[request.id] != nil {
                summary.requestsSkipped += 1
                continue
            }
            request.catalogId = package.catalogId
            newRequests.append(request)
        }
        let newCatalogs = fixture.catalogs.filter { state.catalogs[$0.id] == nil }
        let newPackages = fixture.accessPackages.filter { state.packages[$0.id] == nil }
        let newRoles = fixture.roleAssignments.filter {
            state.roles[$0.principalId]?[$0.catalogId]?.contains($0.role) != true
        }
        summary.catalogsInserted = newCatalogs.count
        summary.catalogsSkipped = fixture.catalogs.count - newCatalogs.count
        summary.accessPackagesInserted = newPackages.count
        summary.accessPackagesSkipped = fixture.accessPackages.count - newPackages.count
        summary.roleAssignmentsInserted = newRoles.count
        summary.roleAssignmentsSkipped = fixture.roleAssignments.count - newRoles.count
        summary.requestsInserted = newRequests.count

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
        accessDirectory.replace(with: state)
        if newRequests.contains(where: { $0.state == .delivering }) { wakeDeliveryWorker() }
        logger.info("imported", metadata: ["summary": .string(summary.description)])
        return summary
    }

    /// Reads, checks and imports a JSON fixture file (`--import`); nothing is imported on error.
    @discardableResult
    public func importFixture(fileAt path: String) async throws -> ImportSummary {
        try await importFixture(Fixture(contentsOfFile: path))
    }
}
