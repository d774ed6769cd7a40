public import EntitlementAPI

/// A catalog: a container of access packages whose roles scope who may manage them.
public struct CatalogInfo: Sendable, Hashable {
    public var id: String
    public var displayName: String

    public init(id: String, displayName: String) {
        self.id = id
        self.displayName = displayName
    }
}

/// An access package and the catalog it belongs to.
public struct AccessPackageInfo: Sendable, Hashable {
    public var id: String
    public var catalogId: String
    public var displayName: String

    public init(id: String, catalogId: String, displayName: String) {
        self.id = id
        self.catalogId = catalogId
        self.displayName = displayName
    }
}

/// A catalog role granted to a principal (user or group object id) in one catalog.
public struct RoleAssignment: Sendable, Hashable {
    public var principalId: String
    public var catalogId: String
    public var role: CatalogRole

    public init(principalId: String, catalogId: String, role: CatalogRole) {
        self.principalId = principalId
        self.catalogId = catalogId
        self.role = role
    }
}
