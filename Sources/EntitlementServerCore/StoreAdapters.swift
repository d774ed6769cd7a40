import Entitlement
import EntitlementAPI
import EntitlementAuth

/// Lets the authorization interceptor read catalogs and role assignments from the store.
struct StoreRoleDirectory: RoleDirectory {
    let store: RequestStore

    func catalogId(ofAccessPackage id: String) async -> String? {
        await store.accessPackage(id: id)?.catalogId
    }

    func catalogRoles(principalId: String) async -> [String: Set<CatalogRole>] {
        await store.catalogRoles(principalId: principalId)
    }
}

/// Sends Reprocess calls the interceptor refused to the store's audit log.
struct StoreDeniedAuditor: DeniedReprocessAuditor {
    let store: RequestStore

    func recordDeniedReprocess(callerId: String?, accessPackageId: String, requestIds: [String], reason: String) async {
        await store.recordDeniedReprocess(caller: callerId, packageId: accessPackageId, requestIds: requestIds, reason: reason)
    }
}
