import Entitlement
import EntitlementAPI
import EntitlementAuth
import Logging
import RPCCore
import Synchronization

/// An in-process router with fake ListRequests, Reprocess, health and "unknown method" handlers
/// behind an `AuthorizationInterceptor`. Handlers record the caller they saw.
struct InterceptorHarness {
    static let unknownMethod = MethodDescriptor(service: "entitlement.v1.AccessPackageRequests", method: "Frobnicate")

    struct HandledCall: Sendable, Equatable {
        var method: MethodDescriptor
        var caller: Caller?
    }

    /// The calls that reached a handler.
    final class CallLog: Sendable {
        private let calls = Mutex<[HandledCall]>([])
        var all: [HandledCall] { calls.withLock { $0 } }
        func append(_ call: HandledCall) { calls.withLock { $0.append(call) } }
    }

    let fixture: VerifierFixture
    let auditor = RecordingAuditor()
    private let log = CallLog()
    let router: MethodRouter
    let interceptor: AuthorizationInterceptor

    var handledCalls: [HandledCall] { log.all }

    init(directory: FakeRoleDirectory = FakeRoleDirectory()) async throws {
        fixture = try await VerifierFixture()
        interceptor = AuthorizationInterceptor(
            verifier: fixture.verifier,
            directory: directory,
            auditor: auditor
        )
        let record: @Sendable (MethodDescriptor, ServerContext) -> Void = { [log] method, context in
            log.append(HandledCall(method: method, caller: context[CallerKey.self]))
        }
        var router = MethodRouter()
        // Like the real handler: tenant-wide callers reach it for unknown packages and get NOT_FOUND.
        let packages = directory.packages
        router.registerUnary(AccessPackageRequestsMethods.listRequests) {
            (request: ListRequestsRequest, context) -> ListRequestsResponse in
            record(AccessPackageRequestsMethods.listRequests, context)
            guard packages[request.accessPackageId] != nil else {
                throw RPCError(code: .notFound, message: "no access package \(request.accessPackageId)")
            }
            return ListRequestsResponse()
        }
        router.registerUnary(AccessPackageRequestsMethods.reprocess) {
            (request: ReprocessRequest, context) -> ReprocessResponse in
            record(AccessPackageRequestsMethods.reprocess, context)
            guard packages[request.accessPackageId] != nil else {
                throw RPCError(code: .notFound, message: "no access package \(request.accessPackageId)")
            }
            return ReprocessResponse()
        }
        router.registerUnary(HealthMethods.check) { (_: HealthCheckRequest, context) -> HealthCheckResponse in
            record(HealthMethods.check, context)
            return HealthCheckResponse()
        }
        router.registerUnary(Self.unknownMethod) { (_: ListRequestsRequest, context) -> ListRequestsResponse in
            record(Self.unknownMethod, context)
            return ListRequestsResponse()
        }
        self.router = router
    }

    func list(_ packageId: String, authorization: String?) async throws {
        var request = ListRequestsRequest()
        request.accessPackageId = packageId
        try await call(AccessPackageRequestsMethods.listRequests, request.serializedBytes(), authorization: authorization)
    }

    func reprocess(_ packageId: String, ids: [String] = ["req-1"], authorization: String?) async throws {
        var request = ReprocessRequest()
        request.accessPackageId = packageId
        request.requestIds = ids
        try await call(AccessPackageRequestsMethods.reprocess, request.serializedBytes(), authorization: authorization)
    }

    func call(_ action: Action, _ packageId: String, authorization: String?) async throws {
        switch action {
        case .listRequests: try await list(packageId, authorization: authorization)
        case .reprocess: try await reprocess(packageId, authorization: authorization)
        }
    }

    /// Runs `method` with raw request bytes through the router and the interceptor.
    func call(_ method: MethodDescriptor, _ bytes: [UInt8], authorization: String?) async throws {
        guard let handler = router.handler(forPath: method.path) else {
            throw RPCError(code: .unimplemented, message: "no handler for \(method)")
        }
        let context = ServerContext(
            method: method,
            metadata: Metadata(),
            authorization: authorization,
            peer: "127.0.0.1:1",
            deadline: nil
        )
        _ = try await handler.handle(
            request: bytes,
            context: context,
            interceptors: [interceptor]
        )
    }
}

/// The gRPC status `body` ended with, `.ok` if it returned.
func status(of body: () async throws -> Void) async -> RPCError.Code {
    do {
        try await body()
        return .ok
    } catch let error as RPCError {
        return error.code
    } catch {
        return .unknown
    }
}
