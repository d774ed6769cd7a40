public import EntitlementAPI

/// What importing a fixture inserts, worked out against what the store holds: insert-only, so
/// an id already stored is skipped. Pure, so both stores apply the same rules.
///
/// Every reference is checked first: a package's catalog, a role assignment's catalog and a
/// request's access package must be in the file or the store. A request's `catalogId` is its
/// access package's (a package already stored wins over the file's copy).
public struct FixturePlan: Sendable {
    public var catalogs: [CatalogInfo] = []
    public var accessPackages: [AccessPackageInfo] = []
    public var roleAssignments: [RoleAssignment] = []
    public var requests: [AccessPackageRequest] = []
    public var summary = ImportSummary()

    /// What the store holds already.
    public struct Existing {
        public var catalog: (String) -> Bool
        public var accessPackage: (String) -> AccessPackageInfo?
        public var roleAssignment: (RoleAssignment) -> Bool
        public var request: (String) -> Bool
        /// The store's spelling of an id it holds spelled otherwise (`checkSpellings`).
        public var respelling: (FixtureIdKind, String) -> String?

        public init(
            catalog: @escaping (String) -> Bool,
            accessPackage: @escaping (String) -> AccessPackageInfo?,
            roleAssignment: @escaping (RoleAssignment) -> Bool,
            request: @escaping (String) -> Bool,
            respelling: @escaping (FixtureIdKind, String) -> String? = { _, _ in nil }
        ) {
            self.catalog = catalog
            self.accessPackage = accessPackage
            self.roleAssignment = roleAssignment
            self.request = request
            self.respelling = respelling
        }
    }

    /// - Throws: `ImportError` naming the first bad reference, or an id spelled two ways.
    public init(_ fixture: Fixture, existing: Existing) throws(ImportError) {
        try Self.checkIdLengths(of: fixture)
        try Self.checkSpellings(of: fixture, stored: existing.respelling)
        let fileCatalogs = Set(fixture.catalogs.map(\.id))
        func checkCatalog(_ id: String, at path: String) throws(ImportError) {
            guard existing.catalog(id) || fileCatalogs.contains(id) else {
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
        for (i, var request) in fixture.requests.enumerated() {
            guard let package = existing.accessPackage(request.accessPackageId) ?? filePackages[request.accessPackageId]
            else {
                throw ImportError(
                    path: "requests[\(i)].accessPackageId",
                    message: "unknown access package \"\(request.accessPackageId)\"")
            }
            if existing.request(request.id) {
                summary.requestsSkipped += 1
                continue
            }
            request.catalogId = package.catalogId
            requests.append(request)
        }
        catalogs = fixture.catalogs.filter { !existing.catalog($0.id) }
        accessPackages = fixture.accessPackages.filter { existing.accessPackage($0.id) == nil }
        roleAssignments = fixture.roleAssignments.filter { !existing.roleAssignment($0) }
        summary.catalogsInserted = catalogs.count
        summary.catalogsSkipped = fixture.catalogs.count - catalogs.count
        summary.accessPackagesInserted = accessPackages.count
        summary.accessPackagesSkipped = fixture.accessPackages.count - accessPackages.count
        summary.roleAssignmentsInserted = roleAssignments.count
        summary.roleAssignmentsSkipped = fixture.roleAssignments.count - roleAssignments.count
        summary.requestsInserted = requests.count
    }

    /// Every id is at most `Fixture.maxIdBytes`, checked here rather than when the file is read
    /// so that fixtures built in code meet the same cap.
    static func checkIdLengths(of fixture: Fixture) throws(ImportError) {
        func check(_ id: String, at path: @autoclosure () -> String) throws(ImportError) {
            let length = id.utf8.count
            guard length > Fixture.maxIdBytes else { return }
            throw ImportError(
                path: path(), message: "is \(length) bytes long; an id is at most \(Fixture.maxIdBytes) bytes (UTF-8)")
        }
        for (i, catalog) in fixture.catalogs.enumerated() { try check(catalog.id, at: "catalogs[\(i)].id") }
        for (i, package) in fixture.accessPackages.enumerated() {
            try check(package.id, at: "accessPackages[\(i)].id")
            try check(package.catalogId, at: "accessPackages[\(i)].catalogId")
        }
        for (i, assignment) in fixture.roleAssignments.enumerated() {
            try check(assignment.principalId, at: "roleAssignments[\(i)].principalId")
            try check(assignment.catalogId, at: "roleAssignments[\(i)].catalogId")
        }
        for (i, request) in fixture.requests.enumerated() {
            try check(request.id, at: "requests[\(i)].id")
            try check(request.accessPackageId, at: "requests[\(i)].accessPackageId")
            for (j, resource) in request.resources.enumerated() {
                try check(resource.resourceId, at: "requests[\(i)].resources[\(j)].resourceId")
            }
        }
    }
}
