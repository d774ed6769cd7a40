import EntitlementAPI
import EntitlementAuth
import Synchronization

/// Two catalogs, one package each: `ap-a` in `cat-a`, `ap-b` in `cat-b`.
struct FakeRoleDirectory: RoleDirectory {
    var packages: [String: String] = ["ap-a": "cat-a", "ap-b": "cat-b"]
    /// principal id → catalog id → roles
    var assignments: [String: [String: Set<CatalogRole>]] = [:]

    func catalogId(ofAccessPackage id: String) async -> String? { packages[id] }

    func catalogRoles(principalId: String) async -> [String: Set<CatalogRole>] { assignments[principalId] ?? [:] }
}

/// Remembers every denied Reprocess it is told about.
final class RecordingAuditor: DeniedReprocessAuditor {
    struct Entry: Sendable, Equatable {
        var callerId: String?
        var accessPackageId: String
        var requestIds: [String]
        var reason: String
        var decision = "denied"
    }

    private let recorded = Mutex<[Entry]>([])

    var entries: [Entry] { recorded.withLock { $0 } }

    func recordDeniedReprocess(
        callerId: String?, accessPackageId: String, requestIds: [String], reason: String, peer: String
    ) async {
        recorded.withLock {
            $0.append(Entry(callerId: callerId, accessPackageId: accessPackageId, requestIds: requestIds, reason: reason))
        }
    }

    func recordRejectedReprocess(callerId: String, accessPackageId: String, requestIds: [String], reason: String) async {
        recorded.withLock {
            $0.append(
                Entry(
                    callerId: callerId, accessPackageId: accessPackageId, requestIds: requestIds, reason: reason,
                    decision: "rejected"))
        }
    }
}
