import EntitlementAPI
import H2Transport
import RPCCore
import Testing

/// The project's client against a real peer: a grpcio server (Tests/Interop/peer_server.py).
@Suite("GRPCClient against a grpcio server")
struct GRPCioPeerTests {
    @Test("unary calls, metadata both ways, compression, errors, deadlines, large and concurrent calls")
    func againstGRPCio() async throws {
        try await withGRPCioPeer { port in
            try await withClient(port: port) { client in
                let api = AccessPackageRequestsClient(transport: client)

                let health = try await HealthClient(transport: client).check(HealthCheckRequest())
                #expect(health.status == .serving)

                var reprocess = ReprocessRequest()
                reprocess.accessPackageId = "ap-1"
                reprocess.requestIds = ["a", "b"]
                let results = try await api.reprocess(reprocess).results
                #expect(results.map(\.requestId) == ["a", "b"])
                #expect(results.allSatisfy { $0.outcome == .accepted })

                var list = ListRequestsRequest()
                list.accessPackageId = "ap-1"
                list.pageSize = 3
                let echoed = try await api.listRequestsWithMetadata(
                    list, options: CallOptions(metadata: Metadata([("x-echo", "hi")])))
                #expect(echoed.message.requests.map(\.id) == ["req-0", "req-1", "req-2"])
                #expect(echoed.headers["x-echo-header"] == "hi")
                #expect(echoed.trailers["x-echo-trailer"] == "hi")

                for algorithm in [CompressionAlgorithm.gzip, .deflate] {
                    var compressible = ListRequestsRequest()
                    compressible.pageToken = String(repeating: "squeeze ", count: 2000)
                    let response = try await api.listRequests(compressible, options: CallOptions(compression: algorithm))
                    #expect(response.nextPageToken == compressible.pageToken)
                }

                var large = ListRequestsRequest()
                large.pageToken = String(repeating: "L", count: 3 * 1024 * 1024)
                #expect(try await api.listRequests(large).nextPageToken.utf8.count == 3 * 1024 * 1024)

                var failing = ReprocessRequest()
                failing.accessPackageId = "fail-7"
                let denied = await #expect(throws: RPCError.self) { try await api.reprocess(failing) }
                #expect(denied?.code == .permissionDenied)
                #expect(denied?.message == "failed on purpose: ünïcödé 100%")

                var slow = ReprocessRequest()
                slow.accessPackageId = "slow"
                let late = await #expect(throws: RPCError.self) {
                    try await api.reprocess(slow, options: CallOptions(timeout: .milliseconds(200)))
                }
                #expect(late?.code == .deadlineExceeded)

                let unknown = await #expect(throws: RPCError.self) {
                    _ = try await client.unary(
                        MethodDescriptor(service: "entitlement.v1.AccessPackageRequests", method: "Nope"),
                        request: ReprocessRequest(), responseType: ReprocessResponse.self)
                }
                #expect(unknown?.code == .unimplemented)

                let concurrent = try await withThrowingTaskGroup(of: Int.self) { group in
                    for i in 0..<100 {
                        group.addTask {
                            var request = ReprocessRequest()
                            request.requestIds = ["r\(i)"]
                            return try await api.reprocess(request).results.count
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(concurrent == 100)
            }
        }
    }

    @Test("server-streaming calls against grpcio: messages in order, OK or the error after them")
    func streamingAgainstGRPCio() async throws {
        try await withGRPCioPeer { port in
            try await withClient(port: port) { client in
                let api = AccessPackageRequestsClient(transport: client)
                var watch = WatchRequestsRequest()
                watch.accessPackageId = "ap-1"
                watch.requestIds = (0..<300).map { "w\($0)" }
                var ids: [String] = []
                for try await message in try await api.watchRequests(watch) { ids.append(message.request?.id ?? "") }
                #expect(ids == watch.requestIds)

                watch.accessPackageId = "fail"
                watch.requestIds = ["a", "b"]
                var before: [String] = []
                let error = await #expect(throws: RPCError.self) {
                    for try await message in try await api.watchRequests(watch) { before.append(message.request?.id ?? "") }
                }
                #expect(before == ["a", "b"])
                #expect(error?.code == .failedPrecondition)
                #expect(error?.message == "stream failed on purpose")

                var statuses: [HealthCheckResponse.ServingStatus] = []
                for try await status in try await HealthClient(transport: client).watch(HealthCheckRequest()) {
                    statuses.append(status.status)
                }
                #expect(statuses == [.serving, .notServing])
            }
        }
    }
}
