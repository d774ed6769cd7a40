import EntitlementAPI
import H2Transport
import RPCCore
import Testing

@Suite("gRPC server and client over nghttp2")
struct GRPCServerTests {
    @Test("a unary call round-trips through the generated client")
    func unaryRoundTrip() async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                var request = ReprocessRequest()
                request.accessPackageId = "ap-1"
                request.requestIds = ["a", "b"]
                let response = try await AccessPackageRequestsClient(transport: client).reprocess(request)
                #expect(response.results.map(\.requestId) == ["a", "b"])
                #expect(response.results.allSatisfy { $0.outcome == .accepted })
            }
        }
    }

    @Test("metadata travels both ways, text and binary")
    func metadataBothWays() async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                var metadata = Metadata([("x-echo", "hello")])
                metadata.addBinary([0, 1, 2, 255], forKey: "x-blob-bin")
                let response = try await AccessPackageRequestsClient(transport: client)
                    .listRequestsWithMetadata(ListRequestsRequest(), options: CallOptions(metadata: metadata))
                #expect(response.headers["x-echo-header"] == "hello")
                #expect(response.trailers["x-echo-trailer"] == "hello")
                #expect(response.trailers.binary(forKey: "x-blob-bin") == [0, 1, 2, 255])
            }
        }
    }

    @Test("handler errors arrive with their code and percent-decoded message", arguments: [3, 5, 7, 9, 13, 14, 16])
    func errorStatus(code: Int) async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                var request = ReprocessRequest()
                request.accessPackageId = "fail-\(code)"
                let error = await #expect(throws: RPCError.self) {
                    try await AccessPackageRequestsClient(transport: client).reprocess(request)
                }
                #expect(error?.code == RPCError.Code(rawValue: code))
                #expect(error?.message == "failed on purpose: ünïcödé 100%")
            }
        }
    }

    @Test("an unknown method is UNIMPLEMENTED")
    func unknownMethod() async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                let error = await #expect(throws: RPCError.self) {
                    _ = try await client.unary(
                        MethodDescriptor(service: "entitlement.v1.AccessPackageRequests", method: "Nope"),
                        request: ReprocessRequest(), responseType: ReprocessResponse.self)
                }
                #expect(error?.code == .unimplemented)
            }
        }
    }

    @Test("one connection alternating methods, known and unknown, reaches the right handler each time")
    func alternatingMethods() async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                let api = AccessPackageRequestsClient(transport: client)
                let unknown = MethodDescriptor(service: "entitlement.v1.AccessPackageRequests", method: "Nope")
                for round in 0..<3 {
                    var request = ReprocessRequest()
                    request.accessPackageId = "ap-\(round)"
                    request.requestIds = ["r\(round)"]
                    #expect(try await api.reprocess(request).results.map(\.requestId) == ["r\(round)"])
                    #expect(try await api.reprocess(request).results.map(\.requestId) == ["r\(round)"])
                    _ = try await api.listRequests(ListRequestsRequest())
                    let error = await #expect(throws: RPCError.self) {
                        _ = try await client.unary(unknown, request: ReprocessRequest(), responseType: ReprocessResponse.self)
                    }
                    #expect(error?.code == .unimplemented)
                }
            }
        }
    }

    @Test("compressed requests are accepted", arguments: [CompressionAlgorithm.gzip, .deflate])
    func compressedRequest(algorithm: CompressionAlgorithm) async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                var request = ListRequestsRequest()
                request.pageToken = String(repeating: "compress me ", count: 1000)
                request.pageSize = 64
                let response = try await AccessPackageRequestsClient(transport: client)
                    .listRequests(request, options: CallOptions(compression: algorithm))
                #expect(response.nextPageToken == request.pageToken)
                #expect(response.requests.first?.id.utf8.count == 64 * 1024)
            }
        }
    }

    @Test("3 MiB messages pass in both directions")
    func largeMessages() async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                let api = AccessPackageRequestsClient(transport: client)
                var upload = ListRequestsRequest()
                upload.pageToken = String(repeating: "y", count: 3 * 1024 * 1024)
                let echoed = try await api.listRequests(upload)
                #expect(echoed.nextPageToken.utf8.count == 3 * 1024 * 1024)
                var download = ListRequestsRequest()
                download.pageSize = 3 * 1024
                let large = try await api.listRequests(download)
                #expect(large.requests.first?.id.utf8.count == 3 * 1024 * 1024)
            }
        }
    }

    @Test("a request over 4 MiB is RESOURCE_EXHAUSTED")
    func oversizedRequest() async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                var request = ListRequestsRequest()
                request.pageToken = String(repeating: "z", count: 4 * 1024 * 1024 + 10)
                let error = await #expect(throws: RPCError.self) {
                    try await AccessPackageRequestsClient(transport: client).listRequests(request)
                }
                #expect(error?.code == .resourceExhausted)
            }
        }
    }

    @Test("a deadline ends the call with DEADLINE_EXCEEDED and cancels the handler")
    func deadline() async throws {
        try await withEchoServer { _, port, service in
            try await withClient(port: port) { client in
                var request = ReprocessRequest()
                request.accessPackageId = "sleep"
                // Connected beforehand, so the deadline is not spent connecting on a busy machine.
                _ = try await AccessPackageRequestsClient(transport: client).listRequests(ListRequestsRequest())
                let error = await #expect(throws: RPCError.self) {
                    try await AccessPackageRequestsClient(transport: client)
                        .reprocess(request, options: CallOptions(timeout: .seconds(1)))
                }
                #expect(error?.code == .deadlineExceeded)
                // The server's own deadline timer cancels the handler task.
                for _ in 0..<1_000 where service.cancelledCalls.load(ordering: .relaxed) == 0 {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(service.startedCalls.load(ordering: .relaxed) == 1)
                #expect(service.cancelledCalls.load(ordering: .relaxed) == 1)
            }
        }
    }

    @Test("200 concurrent calls share one connection")
    func concurrentCalls() async throws {
        try await withEchoServer { _, port, _ in
            try await withClient(port: port) { client in
                let api = AccessPackageRequestsClient(transport: client)
                let ids = try await withThrowingTaskGroup(of: String.self) { group in
                    for i in 0..<200 {
                        group.addTask {
                            var request = ReprocessRequest()
                            request.requestIds = ["r\(i)"]
                            return try await api.reprocess(request).results[0].requestId
                        }
                    }
                    return try await group.reduce(into: Set<String>()) { $0.insert($1) }
                }
                #expect(ids.count == 200)
            }
        }
    }

    @Test("graceful shutdown lets an in-flight call finish")
    func gracefulShutdown() async throws {
        var configuration = GRPCServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopThreads = 1
        var router = MethodRouter()
        EchoService().register(into: &router)
        let server = GRPCServer(configuration: configuration, router: router)
        let port = try await server.start().port ?? 0
        try await withClient(port: port) { client in
            let api = AccessPackageRequestsClient(transport: client)
            _ = try await api.reprocess(ReprocessRequest())  // connect first
            var request = ReprocessRequest()
            request.accessPackageId = "slow"
            async let call = api.reprocess(request)
            try await Task.sleep(for: .milliseconds(100))
            await server.shutdown(grace: .seconds(5))
            #expect(try await call.results.first?.requestId == "slow-done")
        }
    }
}
