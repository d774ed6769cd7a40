import EntitlementAPI
import H2Transport
import RPCCore
import Synchronization
import Testing

@Suite("Server-wide limits and shutdown")
struct ServerLimitsTests {
    static func stubborn(_ milliseconds: Int) -> ReprocessRequest {
        var request = ReprocessRequest()
        request.accessPackageId = "stubborn-\(milliseconds)"
        return request
    }

    @Test("shutdown waits for every handler still running before it stops the event loops")
    func shutdownWaitsForHandlers() async throws {
        var configuration = GRPCServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopThreads = 2
        let service = EchoService()
        var router = MethodRouter()
        service.register(into: &router)
        let server = GRPCServer(configuration: configuration, router: router)
        let port = try await server.start().port ?? 0
        let client = GRPCClient(host: "127.0.0.1", port: port)
        let api = AccessPackageRequestsClient(transport: client)
        // Handlers long enough that all 100 are in flight at once even on a busy machine.
        let calls = (0..<100).map { _ in Task { try? await api.reprocess(Self.stubborn(1_500)) } }
        for _ in 0..<2_000 where server.callsInFlight < 100 { try await Task.sleep(for: .milliseconds(5)) }
        try #require(server.callsInFlight == 100 && service.stubbornFinished.load(ordering: .relaxed) == 0)
        // A grace far shorter than the handlers: connections close while all 100 still wait.
        await server.shutdown(grace: .milliseconds(20))
        #expect(service.stubbornFinished.load(ordering: .relaxed) == 100)
        #expect(server.callsInFlight == 0)
        for call in calls { _ = await call.value }
        await client.close()
    }

    @Test("past maxConcurrentCalls a call is shed at once with RESOURCE_EXHAUSTED; health is not; later calls work")
    func admissionControl() async throws {
        try await withEchoServer(configure: { $0.maxConcurrentCalls = 4 }) { server, port, service in
            try await withClient(port: port) { client in
                let api = AccessPackageRequestsClient(transport: client)
                let holders = (0..<4).map { _ in Task { try await api.reprocess(Self.stubborn(2_000)) } }
                for _ in 0..<2_000 where server.callsInFlight < 4 { try await Task.sleep(for: .milliseconds(5)) }
                try #require(server.callsInFlight == 4)
                let error = await #expect(throws: RPCError.self) { try await api.reprocess(Self.stubborn(1)) }
                #expect(error?.code == .resourceExhausted)
                #expect(error?.message.contains("limit of 4 concurrent calls") == true)
                // Shed at once: the answer came while every holder was still running.
                #expect(service.stubbornFinished.load(ordering: .relaxed) == 0)
                // Health checks are never shed: probes must see a busy server as alive.
                #expect(try await HealthClient(transport: client).check(HealthCheckRequest()).status == .serving)
                for holder in holders { _ = try await holder.value }
                #expect(server.callsInFlight == 0)
                _ = try await api.reprocess(Self.stubborn(1))
            }
        }
    }

    @Test("connections past maxConnections are closed at accept; the admitted ones keep working")
    func connectionCap() async throws {
        try await withEchoServer(configure: { $0.maxConnections = 2 }) { server, port, _ in
            let first = GRPCClient(host: "127.0.0.1", port: port)
            let second = GRPCClient(host: "127.0.0.1", port: port)
            _ = try await AccessPackageRequestsClient(transport: first).listRequests(ListRequestsRequest())
            _ = try await AccessPackageRequestsClient(transport: second).listRequests(ListRequestsRequest())
            #expect(server.openConnections == 2)
            let third = GRPCClient(host: "127.0.0.1", port: port)
            let error = await #expect(throws: RPCError.self) {
                try await AccessPackageRequestsClient(transport: third).listRequests(ListRequestsRequest())
            }
            #expect(error?.code == .unavailable)
            _ = try await AccessPackageRequestsClient(transport: first).listRequests(ListRequestsRequest())
            await third.close()
            await second.close()
            // A slot freed by a closed connection is available again.
            for _ in 0..<2_000 where server.openConnections > 1 { try await Task.sleep(for: .milliseconds(5)) }
            try #require(server.openConnections == 1)
            let fourth = GRPCClient(host: "127.0.0.1", port: port)
            _ = try await AccessPackageRequestsClient(transport: fourth).listRequests(ListRequestsRequest())
            await fourth.close()
            await first.close()
        }
    }

    @Test("request bytes held across all connections are bounded; the excess is RESOURCE_EXHAUSTED")
    func processWideRequestBytes() async throws {
        try await withEchoServer(configure: {
            $0.maxBufferedRequestBytesTotal = 1 << 20
            $0.maxBufferedRequestBytes = 64 << 20
        }) { _, port, _ in
            var big = ReprocessRequest()
            big.accessPackageId = "ap"
            big.requestIds = [String(repeating: "x", count: 2 << 20)]
            try await withClient(port: port) { client in
                let error = await #expect(throws: RPCError.self) {
                    try await AccessPackageRequestsClient(transport: client).reprocess(big)
                }
                #expect(error?.code == .resourceExhausted)
                #expect(error?.message.contains("unfinished requests") == true)
                // The bytes went back to the budget: a small call still works.
                _ = try await AccessPackageRequestsClient(transport: client).reprocess(Self.stubborn(1))
            }
        }
    }
}

/// Always SERVING (for the admission test).
struct AlwaysServing: HealthService {
    func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse {
        var response = HealthCheckResponse()
        response.status = .serving
        return response
    }

    func watch(
        _ request: HealthCheckRequest, responses: ResponseStreamWriter<HealthCheckResponse>, context: ServerContext
    ) async throws {
        try await responses.write(try await check(request, context: context))
    }
}
