public import EntitlementAPI
import Synchronization

/// Catalog role assignments and each access package's catalog, readable without a hop to the
/// store actor: authorization reads them on every call, and they change only when the store
/// imports. The store keeps it in step with what it has committed.
public final class AccessDirectory: Sendable {
    private struct Tables {
        var roles: [String: [String: Set<CatalogRole>]] = [:]
        var packageCatalogs: [String: String] = [:]
    }

    private let tables = Mutex(Tables())

    package init() {}

    /// The catalog roles `principalId` holds: catalog id → roles.
    public func catalogRoles(principalId: String) -> [String: Set<CatalogRole>] {
        tables.withLock { $0.roles[exactly: principalId] ?? [:] }
    }

    /// The catalog of an access package, nil if there is no such package.
    public func catalogId(ofAccessPackage id: String) -> String? {
        tables.withLock { $0.packageCatalogs[exactly: id] }
    }

    /// Both, under one lock.
    public func catalogRoles(principalId: String, andCatalogOf accessPackageId: String)
        -> (roles: [String: Set<CatalogRole>], catalogId: String?)
    {
        tables.withLock { ($0.roles[exactly: principalId] ?? [:], $0.packageCatalogs[exactly: accessPackageId]) }
    }

    func replace(with state: StoreState) {
        replace(roles: state.roles, packageCatalogs: state.packages.mapValues(\.catalogId))
    }

    /// - Parameters:
    ///   - roles: principal id → catalog id → roles.
    ///   - packageCatalogs: access package id → its catalog id.
    package func replace(roles: [String: [String: Set<CatalogRole>]], packageCatalogs: [String: String]) {
        tables.withLock { $0 = Tables(roles: roles, packageCatalogs: packageCatalogs) }
    }
}
