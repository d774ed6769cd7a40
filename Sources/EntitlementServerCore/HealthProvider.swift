public import EntitlementAPI
public import RPCCore

/// `grpc.health.v1.Health`: SERVING for the server ("") and the entitlement service while the
/// store can commit; NOT_SERVING once shutdown has begun or while commits fail; NOT_FOUND
/// (Check) or SERVICE_UNKNOWN (Watch) for any other name.
public final class HealthProvider: HealthService {
    /// A handful of names, compared rather than hashed (every health check looks one up).
    private let services: [String]
    private let feed: HealthStatusFeed

    public convenience init(
        services: Set<String> = ["", AccessPackageRequestsMethods.listRequests.service],
        storeIsCommitting: @escaping @Sendable () -> Bool = { true }
    ) {
        self.init(services: services, feed: HealthStatusFeed(storeIsCommitting: storeIsCommitting))
    }

    init(services: Set<String> = ["", AccessPackageRequestsMethods.listRequests.service], feed: HealthStatusFeed) {
        self.services = Array(services)
        self.feed = feed
    }

    /// Called when graceful shutdown starts.
    public func markDraining() {
        feed.markDraining()
    }

    /// What a watcher of `service` reports (the feed's published status).
    private func watchedStatus(of service: String) -> HealthCheckResponse.ServingStatus {
        guard services.contains(service) else { return .serviceUnknown }
        return feed.published
    }

    public func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse {
        try checkNow(request)
    }

    /// Check's answer, without suspending: it reads two flags.
    public func checkNow(_ request: HealthCheckRequest) throws(RPCError) -> HealthCheckResponse {
        guard services.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service \"\(CallerText.clean(request.service))\"")
        }
        return Self.response(feed.current)
    }

    /// Registers Watch and Check with `router`, Check as a method answered immediately: probes
    /// from every balancer then cost the server no task each.
    public func registerAnsweringChecksImmediately(into router: inout MethodRouter) {
        register(into: &router)
        router.registerImmediateUnary(
            HealthMethods.check, input: HealthCheckRequest.self, output: HealthCheckResponse.self
        ) { [self] request, _ in try checkNow(request) }
    }

    /// The status at once, then each change. At shutdown the last message is NOT_SERVING and the
    /// stream ends UNAVAILABLE, so the caller moves to another replica and shutdown is not held
    /// up by watchers.
    public func watch(
        _ request: HealthCheckRequest, responses: ResponseStreamWriter<HealthCheckResponse>, context: ServerContext
    ) async throws {
        let changes = try feed.watch()
        var last: HealthCheckResponse.ServingStatus?
        var wakeUps = changes.makeAsyncIterator()
        repeat {
            let current = watchedStatus(of: request.service)
            if current != last {
                try await responses.write(Self.response(current))
                last = current
            }
            if feed.isDraining {
                throw RPCError(code: .unavailable, message: "the server is shutting down; watch another replica")
            }
        } while await wakeUps.next() != nil
        // The feed ends a stream only when the call is cancelled.
        throw CancellationError()
    }

    private static func response(_ status: HealthCheckResponse.ServingStatus) -> HealthCheckResponse {
        var response = HealthCheckResponse()
        response.status = status
        return response
    }
}
