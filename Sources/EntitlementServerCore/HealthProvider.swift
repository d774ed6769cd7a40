public import EntitlementAPI
public import RPCCore
import Synchronization

/// `grpc.health.v1.Health`: SERVING for the server ("") and the entitlement service while the
/// store can commit; NOT_SERVING once shutdown has begun or while commits fail; NOT_FOUND
/// (Check) or SERVICE_UNKNOWN (Watch) for any other name.
public final class HealthProvider: HealthService {
    /// How often a Watch looks for a change it was not told about (the store's health).
    static let watchPollInterval = Duration.milliseconds(250)

    private let draining = Atomic<Bool>(false)
    private let services: Set<String>
    private let storeIsCommitting: @Sendable () -> Bool

    public init(
        services: Set<String> = ["", AccessPackageRequestsMethods.listRequests.service],
        storeIsCommitting: @escaping @Sendable () -> Bool = { true }
    ) {
        self.services = services
        self.storeIsCommitting = storeIsCommitting
    }

    /// Called when graceful shutdown starts.
    public func markDraining() {
        draining.store(true, ordering: .relaxed)
    }

    private var isDraining: Bool { draining.load(ordering: .relaxed) }

    private func status(of service: String) -> HealthCheckResponse.ServingStatus {
        guard services.contains(service) else { return .serviceUnknown }
        return isDraining || !storeIsCommitting() ? .notServing : .serving
    }

    public func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse {
        guard services.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service \"\(CallerText.clean(request.service))\"")
        }
        return Self.response(status(of: request.service))
    }

    /// The status at once, then each change. At shutdown the last message is NOT_SERVING and the
    /// stream ends UNAVAILABLE, so the caller moves to another replica and shutdown is not held
    /// up by watchers.
    public func watch(
        _ request: HealthCheckRequest, responses: ResponseStreamWriter<HealthCheckResponse>, context: ServerContext
    ) async throws {
        var last: HealthCheckResponse.ServingStatus?
        while true {
            let current = status(of: request.service)
            if current != last {
                try await responses.write(Self.response(current))
                last = current
            }
            if isDraining {
                throw RPCError(code: .unavailable, message: "the server is shutting down; watch another replica")
            }
            try await Task.sleep(for: Self.watchPollInterval)
        }
    }

    private static func response(_ status: HealthCheckResponse.ServingStatus) -> HealthCheckResponse {
        var response = HealthCheckResponse()
        response.status = status
        return response
    }
}
