import EntitlementAPI
import ProtoWire
import RPCCore
import Testing

/// Answers from the request so a test can see the request arrived intact.
private struct EchoService: AccessPackageRequestsService {
    func listRequests(_ request: ListRequestsRequest, context: ServerContext) async throws -> ListRequestsResponse {
        var response = ListRequestsResponse()
        response.nextPageToken = "\(request.accessPackageId)/\(request.pageSize)/\(request.states.count)"
        return response
    }

    func reprocess(_ request: ReprocessRequest, context: ServerContext) async throws -> ReprocessResponse {
        var response = ReprocessResponse()
        response.results = request.requestIds.map { id in
            var result = ReprocessResult()
            result.requestId = id
            result.outcome = .notFound
            return result
        }
        return response
    }

    func watchRequests(
        _ request: WatchRequestsRequest, responses: ResponseStreamWriter<WatchRequestsResponse>, context: ServerContext
    ) async throws {
        for id in request.requestIds {
            var message = WatchRequestsResponse()
            var item = AccessPackageRequest()
            item.id = id
            message.request = item
            try await responses.write(message)
        }
    }
}

private struct EchoHealthService: HealthService {
    func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse {
        var response = HealthCheckResponse()
        response.status = request.service.isEmpty ? .serving : .serviceUnknown
        return response
    }

    func watch(
        _ request: HealthCheckRequest, responses: ResponseStreamWriter<HealthCheckResponse>, context: ServerContext
    ) async throws {
        try await responses.write(try await check(request, context: context))
    }
}

/// A transport that calls a router in-process, through the same byte boundary as the network.
private struct RouterTransport: ClientTransport {
    let router: MethodRouter

    func unary(method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> ClientResponse<[UInt8]> {
        guard let handler = router.handler(forPath: method.path) else {
            throw RPCError(code: .unimplemented, message: method.path)
        }
        let context = ServerContext(method: method, metadata: options.metadata, authorization: nil, peer: "test", deadline: nil)
        let response = try await handler.handle(
            request: request,
            context: context,
            interceptors: []
        )
        return ClientResponse(message: Array(response.messageBytes), headers: Metadata(), trailers: Metadata())
    }

    /// Streams run over the network in H2TransportTests; this in-process transport is unary only.
    func openStream(method: MethodDescriptor, options: CallOptions) async throws -> any ClientCallStream {
        throw RPCError(code: .unimplemented, message: "RouterTransport carries unary calls only")
    }
}

@Suite("Generated services and clients")
struct GeneratedServiceTests {
    @Test("method descriptors carry the fully qualified service name")
    func descriptors() {
        #expect(AccessPackageRequestsMethods.listRequests.path == "/entitlement.v1.AccessPackageRequests/ListRequests")
        #expect(AccessPackageRequestsMethods.reprocess.path == "/entitlement.v1.AccessPackageRequests/Reprocess")
        #expect(HealthMethods.check.path == "/grpc.health.v1.Health/Check")
    }

    @Test("a client reaches a registered service through the router")
    func clientToService() async throws {
        var router = MethodRouter()
        EchoService().register(into: &router)
        EchoHealthService().register(into: &router)
        #expect(Set(router.methods.map(\.path)).count == 5)
        #expect(router.streamingHandler(forPath: AccessPackageRequestsMethods.watchRequests.path)?.kind == .serverStreaming)
        #expect(router.streamingHandler(forPath: HealthMethods.watch.path)?.kind == .serverStreaming)

        let transport = RouterTransport(router: router)
        let client = AccessPackageRequestsClient(transport: transport)
        var list = ListRequestsRequest()
        list.accessPackageId = "ap-☃"
        list.pageSize = -3
        list.states = [.delivered, .unrecognized(40)]
        #expect(try await client.listRequests(list).nextPageToken == "ap-☃/-3/2")

        var reprocess = ReprocessRequest()
        reprocess.requestIds = ["a", "b"]
        let withMetadata = try await client.reprocessWithMetadata(reprocess)
        #expect(withMetadata.message.results.map(\.requestId) == ["a", "b"])
        #expect(withMetadata.message.results.allSatisfy { $0.outcome == .notFound })

        let health = HealthClient(transport: transport)
        #expect(try await health.check(HealthCheckRequest()).status == .serving)
    }

    @Test("a request that is not a valid message is INVALID_ARGUMENT, naming the message's protobuf name")
    func invalidRequest() async throws {
        var router = MethodRouter()
        EchoService().register(into: &router)
        let transport = RouterTransport(router: router)
        let error = await #expect(throws: RPCError.self) {
            _ = try await transport.unary(method: AccessPackageRequestsMethods.listRequests, request: [0x0F], options: CallOptions())
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("not a valid entitlement.v1.ListRequestsRequest message") == true, "\(String(describing: error))")
        #expect(V1AlphaServerReflectionRequest.protoMessageName == "grpc.reflection.v1alpha.ServerReflectionRequest")
        #expect(Timestamp.protoMessageName == "google.protobuf.Timestamp")
    }
}
