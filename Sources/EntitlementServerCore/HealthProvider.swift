public import EntitlementAPI
public import RPCCore
import Synchronization

/// `grpc.health.v1.Health/Check`: SERVING for the server ("") and the entitlement service,
/// NOT_SERVING once shutdown has begun, NOT_FOUND for any other name.
public final class HealthProvider: HealthService {
    private let draining = Atomic<Bool>(false)
    private let services: Set<String>

    public init(services: Set<String> = ["", AccessPackageRequestsMethods.listRequests.service]) {
        self.services = services
    }

    /// Called when graceful shutdown starts.
    public func markDraining() {
        draining.store(true, ordering: .relaxed)
    }

    public func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse {
        guard services.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service \"\(request.service)\"")
        }
        var response = HealthCheckResponse()
        response.status = draining.load(ordering: .relaxed) ? .notServing : .serving
        return response
    }
}
