public import EntitlementAPI

/// Where catalog role assignments and access-package catalogs come from (the store, through an
/// adapter the server wiring provides).
public protocol RoleDirectory: Sendable {
    /// The catalog that holds access package `id`, or nil if there is no such package.
    func catalogId(ofAccessPackage id: String) async -> String?
    /// The catalog roles `principalId` holds: catalog id → roles.
    func catalogRoles(principalId: String) async -> [String: Set<CatalogRole>]
    /// Both answers at once, for a directory that can give them in one lookup (one actor hop).
    func catalogRoles(principalId: String, andCatalogOf accessPackageId: String) async
        -> (roles: [String: Set<CatalogRole>], catalogId: String?)
}

extension RoleDirectory {
    public func catalogRoles(principalId: String, andCatalogOf accessPackageId: String) async
        -> (roles: [String: Set<CatalogRole>], catalogId: String?)
    {
        let roles = await catalogRoles(principalId: principalId)
        let catalog = accessPackageId.isEmpty ? nil : await catalogId(ofAccessPackage: accessPackageId)
        return (roles, catalog)
    }
}

/// Receives every Reprocess call the authorization interceptor stops (unauthenticated, denied,
/// or rejected before the handler ran), so the audit log holds every Reprocess call.
public protocol DeniedReprocessAuditor: Sendable {
    /// - Parameters:
    ///   - callerId: the caller's `oid`, nil when the call was not authenticated.
    ///   - accessPackageId, requestIds: from the request message when it decodes, else empty.
    ///   - reason: why the call was stopped, as sent to the caller (plus server-side detail).
    ///   - peer: where the call came from (host:port).
    func recordDeniedReprocess(
        callerId: String?, accessPackageId: String, requestIds: [String], reason: String, peer: String) async
    /// An authenticated call stopped for what it asked, not for who asked (a body that does not
    /// decode, no package id): audited as rejected, like the handler's invalid calls.
    func recordRejectedReprocess(callerId: String, accessPackageId: String, requestIds: [String], reason: String) async
}
