public import EntitlementAPI

/// Where catalog role assignments and access-package catalogs come from (the store, through an
/// adapter the server wiring provides).
public protocol RoleDirectory: Sendable {
    /// The catalog that holds access package `id`, or nil if there is no such package.
    func catalogId(ofAccessPackage id: String) async -> String?
    /// The catalog roles `principalId` holds: catalog id → roles.
    func catalogRoles(principalId: String) async -> [String: Set<CatalogRole>]
}

/// Receives every Reprocess call the authorization interceptor stops (unauthenticated, denied,
/// or rejected before the handler ran), so the audit log holds every Reprocess call.
public protocol DeniedReprocessAuditor: Sendable {
    /// - Parameters:
    ///   - callerId: the caller's `oid`, nil when the call was not authenticated.
    ///   - accessPackageId, requestIds: from the request message when it decodes, else empty.
    ///   - reason: why the call was stopped, as sent to the caller (plus server-side detail).
    func recordDeniedReprocess(callerId: String?, accessPackageId: String, requestIds: [String], reason: String) async
}
