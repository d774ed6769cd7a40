public import Entitlement
public import EntitlementAPI
public import EntitlementAuth

/// Lets the authorization interceptor read catalogs and role assignments from the store's
/// `AccessDirectory` (no actor hop on the call path).
public struct StoreRoleDirectory: RoleDirectory {
    let store: any RequestStoring

    public init(store: any RequestStoring) {
        self.store = store
    }

    public func catalogId(ofAccessPackage id: String) async -> String? {
        store.accessDirectory.catalogId(ofAccessPackage: id)
    }

    public func catalogRoles(principalId: String) async -> [String: Set<CatalogRole>] {
        store.accessDirectory.catalogRoles(principalId: principalId)
    }

    public func catalogRoles(principalId: String, andCatalogOf accessPackageId: String) async
        -> (roles: [String: Set<CatalogRole>], catalogId: String?)
    {
        store.accessDirectory.catalogRoles(principalId: principalId, andCatalogOf: accessPackageId)
    }
}

/// Sends Reprocess calls the interceptor refused to the store's audit log.
public struct StoreDeniedAuditor: DeniedReprocessAuditor {
    let store: any RequestStoring

    public init(store: any RequestStoring) {
        self.store = store
    }

    public func recordDeniedReprocess(
        callerId: String?, accessPackageId: String, requestIds: [String], reason: String, peer: String
    ) async {
        await store.recordDeniedReprocess(
            caller: callerId, packageId: accessPackageId, requestIds: requestIds, reason: reason, peer: peer)
    }

    public func recordRejectedReprocess(callerId: String, accessPackageId: String, requestIds: [String], reason: String) async {
        await store.recordRejectedReprocess(caller: callerId, packageId: accessPackageId, requestIds: requestIds, reason: reason)
    }
}
