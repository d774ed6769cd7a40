/// Why a fixture cannot be imported, naming the place: `requests[12].state: unknown value "DELIVERD"`.
public struct ImportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where in the file, e.g. `requests[12].state`; empty for the file as a whole.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// What an import inserted and what it left alone because the id was already stored.
public struct ImportSummary: Sendable, Hashable, CustomStringConvertible {
    public var catalogsInserted = 0
    public var catalogsSkipped = 0
    public var accessPackagesInserted = 0
    public var accessPackagesSkipped = 0
    public var roleAssignmentsInserted = 0
    public var roleAssignmentsSkipped = 0
    public var requestsInserted = 0
    public var requestsSkipped = 0

    public init() {}

    /// Everything inserted, of every kind.
    public var totalInserted: Int {
        catalogsInserted + accessPackagesInserted + roleAssignmentsInserted + requestsInserted
    }

    public var description: String {
        "catalogs \(catalogsInserted) inserted/\(catalogsSkipped) skipped, "
            + "access packages \(accessPackagesInserted)/\(accessPackagesSkipped), "
            + "role assignments \(roleAssignmentsInserted)/\(roleAssignmentsSkipped), "
            + "requests \(requestsInserted)/\(requestsSkipped)"
    }
}
