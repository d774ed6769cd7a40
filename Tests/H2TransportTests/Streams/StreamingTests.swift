import EntitlementAPI
import H2Transport
import ProtoWire
import RPCCore
import Synchronization
import Testing

/// Client- and bidirectional-streaming methods registered by hand on the echo router (the
/// contract has none of its own), with the project's client on the other end.
private enum StreamingEcho {
    static let collect = MethodDescriptor(service: "test.StreamingEcho", method: "Collect")
    static let chat = MethodDescriptor(service: "test.StreamingEcho", method: "Chat")
    static let stall = MethodDescriptor(service: "test.StreamingEcho", method: "Stall")

    /// Held request messages, for the test of a handler that stops reading.
    static let stalledReads = Atomic<Int>(0)

    static func register(into router: inout MethodRouter) {
        // Client streaming: one response naming every id received, in order.
        router.registerClientStreaming(collect, input: ReprocessRequest.self, output: ReprocessResponse.self) {
            requests, _ in
            var response = ReprocessResponse()
            for try await request in requests {
                for id in request.requestIds {
                    var result = ReprocessResult()
                    result.requestId = id
                    response.results.append(result)
                }
            }
            return response
        }
        // Bidirectional: answers each request at once, with its package id upper-cased.
        router.registerBidirectionalStreaming(chat, input: ReprocessRequest.self, output: ReprocessResponse.self) {
            requests, responses, _ in
            for try await request in requests {
                var response = ReprocessResponse()
                var result = ReprocessResult()
                result.requestId = request.accessPackageId.uppercased()
                response.results = [result]
                try await responses.write(response)
            }
        }
        // Reads one message, then never again until cancelled.
        router.registerClientStreaming(stall, input: ReprocessRequest.self, output: ReprocessResponse.self) {
            requests, _ in
            var iterator = requests.makeAsyncIterator()
            _ = try await iterator.next()
            stalledReads.add(1, ordering: .relaxed)
            try await Task.sleep(for: .seconds(30))
            return ReprocessResponse()
        }
    }
}

private func withStreamingServer<R>(
    configure: (inout GRPCServerConfiguration) -> Void = { _ in },
    observer: (any CallObserver)? = nil,
    _ body: (GRPCServer, GRPCClient, EchoService) async throws -> R
) async throws -> R {
    var configuration = GRPCServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.eventLoopThreads = 1
    configure(&configuration)
    let service = EchoService()
    var router = MethodRouter()
    service.register(into: &router)
    StreamingEcho.register(into: &router)
    let server = GRPCServer(configuration: configuration, router: router, observer: observer)
    let port = try await server.start().port ?? 0
    let client = GRPCClient(host: "127.0.0.1", port: port)
    do {
        let result = try await body(server, client, service)
        await client.close()
        await server.shutdown(grace: .seconds(1))
        return result
    } catch {
        await client.close()
        await server.shutdown(grace: .seconds(1))
        throw error
    }
}

private func watch(_ ids: [String], untilSettled: Bool = false) -> WatchRequestsRequest {
    var request = WatchRequestsRequest()
    request.accessPackageId = "ap"
    request.requestIds = ids
    request.untilSettled = untilSettled
    return request
}

private func reprocess(_ package: String, ids: [String] = []) -> ReprocessRequest {
    var request = ReprocessRequest()
    request.accessPackageId = package
    request.requestIds = ids
    return request
}

@Suite("Streaming calls, project client to project server")
struct StreamingTests {
    @Test("server streaming: every message in order, then OK")
    func serverStreaming() async throws {
        try await withStreamingServer { _, client, _ in
            let ids = (0..<500).map { "id-\($0)" }
            var received: [String] = []
            for try await message in try await AccessPackageRequestsClient(transport: client).watchRequests(watch(ids)) {
                received.append(message.request?.id ?? "")
            }
            #expect(received == ids)
        }
    }

    @Test("server streaming: an error after some messages arrives in the trailers, after them")
    func errorAfterMessages() async throws {
        try await withStreamingServer { _, client, _ in
            var received: [String] = []
            let error = await #expect(throws: RPCError.self) {
                for try await message in try await AccessPackageRequestsClient(transport: client)
                    .watchRequests(watch(["a", "b", "fail-9"]))
                {
                    received.append(message.request?.id ?? "")
                }
            }
            #expect(received == ["a", "b"])
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message == "failed mid-stream")
        }
    }

    @Test("client streaming: the handler reads every message; one response")
    func clientStreaming() async throws {
        try await withStreamingServer { _, client, _ in
            let call = try await client.streaming(
                StreamingEcho.collect, requestType: ReprocessRequest.self, responseType: ReprocessResponse.self)
            for batch in 0..<50 {
                try await call.send(reprocess("p", ids: (0..<20).map { "r\(batch)-\($0)" }))
            }
            let response = try await call.finish()
            #expect(response.results.count == 1_000)
            #expect(response.results.first?.requestId == "r0-0")
            #expect(response.results.last?.requestId == "r49-19")
        }
    }

    @Test("a client-streaming call's summary counts every message and its bytes")
    func clientStreamingSummary() async throws {
        let summaries = SummaryRecorder()
        let requests = (0..<5).map { reprocess("p", ids: ["r\($0)"]) }
        try await withStreamingServer(observer: summaries) { _, client, _ in
            let call = try await client.streaming(
                StreamingEcho.collect, requestType: ReprocessRequest.self, responseType: ReprocessResponse.self)
            for request in requests { try await call.send(request) }
            _ = try await call.finish()
        }
        let summary = try #require(summaries.finished.first { $0.method == StreamingEcho.collect })
        #expect(summary.messagesReceived == 5)
        #expect(summary.requestBytes == requests.map { $0.serializedBytes().count }.reduce(0, +))
        #expect(summary.messagesSent == 1)
        #expect(summary.responseBytes > 0)
    }

    @Test("bidirectional streaming: each request answered before the next is sent")
    func bidirectional() async throws {
        try await withStreamingServer { _, client, _ in
            let call = try await client.streaming(
                StreamingEcho.chat, requestType: ReprocessRequest.self, responseType: ReprocessResponse.self)
            var responses = call.responses.makeAsyncIterator()
            for word in ["alpha", "beta", "gamma"] {
                try await call.send(reprocess(word))
                #expect(try await responses.next()?.results.first?.requestId == word.uppercased())
            }
            await call.closeSend()
            #expect(try await responses.next() == nil)
        }
    }

    @Test("a client that stops reading stops the writer: the server queues a bounded amount")
    func slowReaderBlocksWriter() async throws {
        try await withStreamingServer { _, client, service in
            // 400 messages of 64 KiB (25 MiB) that the client does not read; uncompressed, so the
            // windows below count the bytes the handler wrote.
            let ids = (0..<400).map { _ in "big-64" }
            let stream = try await AccessPackageRequestsClient(transport: client).watchRequests(
                watch(ids), options: CallOptions(acceptsCompressedResponses: false))
            var iterator = stream.makeAsyncIterator()
            _ = try await iterator.next()
            try await Task.sleep(for: .milliseconds(500))
            let stalledAt = service.writtenMessages.load(ordering: .relaxed)
            // Windows (1 MiB stream, 16 MiB connection) and the queue bound what was written.
            #expect(stalledAt < 40, "the handler wrote \(stalledAt) messages to a reader that took one")
            try await Task.sleep(for: .milliseconds(300))
            #expect(service.writtenMessages.load(ordering: .relaxed) == stalledAt)
            // Reading on lets the writer finish.
            var count = 1
            while try await iterator.next() != nil { count += 1 }
            #expect(count == 400)
        }
    }

    @Test("a peer that stops reading for responseSendTimeout gets its stream reset, RESOURCE_EXHAUSTED; the handler stops")
    func stalledReaderIsReset() async throws {
        let observed = SummaryRecorder()
        try await withStreamingServer(configure: { $0.responseSendTimeout = .milliseconds(300) }, observer: observed) {
            server, client, service in
            let ids = (0..<400).map { _ in "big-64" }
            let stream = try await AccessPackageRequestsClient(transport: client).watchRequests(
                watch(ids), options: CallOptions(acceptsCompressedResponses: false))
            var iterator = stream.makeAsyncIterator()
            _ = try await iterator.next()
            // Read nothing more: within the timeout (and a sweep) the server gives up on the stream.
            for _ in 0..<300 where server.callsInFlight > 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.callsInFlight == 0)
            #expect(service.writtenMessages.load(ordering: .relaxed) < 40)
            // RST_STREAM ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED.
            do {
                while try await iterator.next() != nil {}
                Issue.record("the stream ended OK")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted, "\(error)")
            }
            #expect(observed.shed == [.stalledReader])
            #expect(observed.finished.map(\.code) == [.resourceExhausted])
            #expect(observed.finished.first?.error?.message.contains("took none of its response") == true)
        }
    }

    @Test("a handler that stops reading stops the client's sends (flow control both ways)")
    func slowHandlerBlocksSender() async throws {
        try await withStreamingServer { _, client, _ in
            let call = try await client.streaming(
                StreamingEcho.stall, requestType: ReprocessRequest.self, responseType: ReprocessResponse.self)
            let sent = Atomic<Int>(0)
            let sender = Task {
                let id = String(repeating: "s", count: 60 * 1024)
                for _ in 0..<400 {
                    try await call.send(reprocess("p", ids: [id]))
                    sent.add(1, ordering: .relaxed)
                }
            }
            try await Task.sleep(for: .milliseconds(700))
            let blockedAt = sent.load(ordering: .relaxed)
            #expect(blockedAt < 60, "the client sent \(blockedAt) messages of 60 KiB to a handler that read one")
            call.cancel()
            _ = try? await sender.value
        }
    }

    @Test("request bytes a stream holds count against the server's budget: RESOURCE_EXHAUSTED past it")
    func streamingRequestBytesAreBudgeted() async throws {
        try await withStreamingServer(configure: { $0.maxBufferedRequestBytesTotal = 512 * 1024 }) { server, client, _ in
            let call = try await client.streaming(
                StreamingEcho.stall, requestType: ReprocessRequest.self, responseType: ReprocessResponse.self)
            let id = String(repeating: "s", count: 60 * 1024)
            let sender = Task {
                for _ in 0..<40 { try await call.send(reprocess("p", ids: [id])) }
            }
            _ = try? await sender.value
            let error = await #expect(throws: RPCError.self) { _ = try await call.finish() }
            #expect(error?.code == .resourceExhausted)
            for _ in 0..<2_000 where server.callsInFlight > 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.callsInFlight == 0)
        }
    }

    @Test("the client cancelling a stream cancels the server's handler")
    func clientCancels() async throws {
        try await withStreamingServer { server, client, service in
            let stream = try await AccessPackageRequestsClient(transport: client).watchRequests(watch([], untilSettled: true))
            let firstMessage = AsyncStream<Void>.makeStream()
            let reader = Task {
                var n = 0
                for try await _ in stream {
                    if n == 0 { firstMessage.continuation.yield() }
                    n += 1
                }
                return n
            }
            // Cancel once the handler is known to run, however slow the machine is today.
            for await _ in firstMessage.stream { break }
            reader.cancel()
            _ = try? await reader.value
            for _ in 0..<2_000 where service.cancelledCalls.load(ordering: .relaxed) == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(service.startedCalls.load(ordering: .relaxed) == 1)
            #expect(service.cancelledCalls.load(ordering: .relaxed) == 1)
            for _ in 0..<2_000 where server.callsInFlight > 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.callsInFlight == 0)
        }
    }

    @Test("a deadline ends an endless stream with DEADLINE_EXCEEDED and cancels the handler")
    func deadline() async throws {
        try await withStreamingServer { _, client, service in
            // The deadline runs from before the client connects; a connection made beforehand
            // keeps a busy machine's connect time from spending it before the server sees the call.
            _ = try await AccessPackageRequestsClient(transport: client).listRequests(ListRequestsRequest())
            let error = await #expect(throws: RPCError.self) {
                for try await _ in try await AccessPackageRequestsClient(transport: client)
                    .watchRequests(watch([], untilSettled: true), options: CallOptions(timeout: .seconds(1)))
                {}
            }
            #expect(error?.code == .deadlineExceeded)
            for _ in 0..<2_000 where service.cancelledCalls.load(ordering: .relaxed) == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(service.startedCalls.load(ordering: .relaxed) == 1)
            #expect(service.cancelledCalls.load(ordering: .relaxed) == 1)
        }
    }

    @Test("unary calls still work beside open streams on the same connection")
    func unaryBesideStreams() async throws {
        try await withStreamingServer { _, client, _ in
            let stream = try await AccessPackageRequestsClient(transport: client).watchRequests(watch([], untilSettled: true))
            var iterator = stream.makeAsyncIterator()
            _ = try await iterator.next()
            let response = try await AccessPackageRequestsClient(transport: client).reprocess(reprocess("p", ids: ["x"]))
            #expect(response.results.map(\.requestId) == ["x"])
            stream.cancel()
        }
    }
}

/// The summaries of finished calls, as the access log receives them.
private final class SummaryRecorder: CallObserver {
    private let summaries = Mutex<[CallSummary]>([])
    private let sheds = Mutex<[ShedReason]>([])
    var finished: [CallSummary] { summaries.withLock { $0 } }
    var shed: [ShedReason] { sheds.withLock { $0 } }

    func callStarted(_ method: MethodDescriptor, kind: RPCKind) {}
    func callFinished(_ summary: CallSummary) { summaries.withLock { $0.append(summary) } }
    func callShed(_ reason: ShedReason) { sheds.withLock { $0.append(reason) } }
    func bytesReceived(_ count: Int) {}
    func bytesSent(_ count: Int) {}
}
