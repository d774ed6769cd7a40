import Entitlement
import EntitlementAPI
import Synchronization

/// A provisioner that fails the named resources always, and others for their first few attempts.
final class FailingProvisioner: Provisioner {
    private let failing: Set<String>
    private let failFirst: Int
    private let calls = Mutex<[String: Int]>([:])

    /// - Parameters:
    ///   - failing: resource ids that always fail.
    ///   - failFirst: every other resource fails this many attempts per request, then succeeds.
    init(failing: Set<String> = [], failFirst: Int = 0) {
        self.failing = failing
        self.failFirst = failFirst
    }

    func grant(resource: ResourceDelivery, request: AccessPackageRequest) async throws {
        let call = calls.withLock { calls in
            calls["\(request.id)/\(resource.resourceId)", default: 0] += 1
            return calls["\(request.id)/\(resource.resourceId)"]!
        }
        if failing.contains(resource.resourceId) { throw ProvisioningError("\(resource.resourceId) refused") }
        if call <= failFirst { throw ProvisioningError("transient failure \(call)") }
    }

    func callCount(request: String, resource: String) -> Int {
        calls.withLock { $0["\(request)/\(resource)"] ?? 0 }
    }
}

/// A provisioner that records how many grants run at the same time.
/// Records how many distinct requests, and how many grants, are in progress at once.
final class ConcurrencyProbe: Provisioner {
    private struct State {
        var grantsByRequest: [String: Int] = [:]
        var currentGrants = 0
        var maximumRequests = 0
        var maximumGrants = 0
    }

    private let state = Mutex(State())

    /// The most requests that had a grant in progress at the same moment.
    var maximum: Int { state.withLock { $0.maximumRequests } }
    /// The most grants in progress at the same moment, across requests.
    var maximumGrants: Int { state.withLock { $0.maximumGrants } }

    func grant(resource: ResourceDelivery, request: AccessPackageRequest) async throws {
        state.withLock {
            $0.grantsByRequest[request.id, default: 0] += 1
            $0.currentGrants += 1
            $0.maximumRequests = max($0.maximumRequests, $0.grantsByRequest.count)
            $0.maximumGrants = max($0.maximumGrants, $0.currentGrants)
        }
        defer {
            state.withLock {
                $0.currentGrants -= 1
                $0.grantsByRequest[request.id, default: 1] -= 1
                if $0.grantsByRequest[request.id] == 0 { $0.grantsByRequest[request.id] = nil }
            }
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}
