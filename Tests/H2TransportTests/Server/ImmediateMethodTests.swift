import EntitlementAPI
import H2Transport
import ProtoWire
import RPCCore
import Synchronization
import Testing

/// Methods registered with `registerImmediateUnary` are answered on the event loop, without a
/// task, when no interceptor intercepts them; an interceptor that does still sees every call.
@Suite("methods answered immediately")
struct ImmediateMethodTests {
    static let open = MethodDescriptor(service: "test.Open", method: "AddOne")
    static let guarded = MethodDescriptor(service: "test.Guarded", method: "AddOne")

    /// Intercepts every service but `test.Open`, and refuses what it intercepts.
    final class Gate: ServerInterceptor {
        let seen = Mutex<[String]>([])

        func intercepts(_ method: MethodDescriptor) -> Bool { method.service != "test.Open" }

        func intercept<Input: Sendable, Output: Sendable>(
            request: ServerRequest<Input>,
            context: ServerContext,
            next: @Sendable (ServerRequest<Input>, ServerContext) async throws -> Output
        ) async throws -> Output {
            seen.withLock { $0.append(context.method.path) }
            throw RPCError(code: .permissionDenied, message: "the gate is shut")
        }
    }

    static func withServer(
        _ body: (GRPCServer, GRPCClient, Gate) async throws -> Void
    ) async throws {
        var router = MethodRouter()
        for method in [open, guarded] {
            router.registerImmediateUnary(method, input: Timestamp.self, output: Timestamp.self) { request, _ in
                guard request.seconds >= 0 else { throw RPCError(code: .outOfRange, message: "negative: \(request.seconds)") }
                return Timestamp(seconds: request.seconds + 1)
            }
        }
        var configuration = GRPCServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopThreads = 1
        // One call at a time: a call that kept its slot would make the next one RESOURCE_EXHAUSTED.
        configuration.maxConcurrentCalls = 1
        let gate = Gate()
        let server = GRPCServer(configuration: configuration, router: router, interceptors: [gate])
        let address = try await server.start()
        let client = GRPCClient(host: "127.0.0.1", port: address.port ?? 0)
        do {
            try await body(server, client, gate)
        } catch {
            await client.close()
            await server.shutdown(grace: .seconds(1))
            throw error
        }
        await client.close()
        await server.shutdown(grace: .seconds(1))
    }

    @Test("a method no interceptor wants is answered, and gives its call slot back each time")
    func answered() async throws {
        try await Self.withServer { server, client, gate in
            for seconds in Int64(0)..<20 {
                let reply = try await client.unary(Self.open, request: Timestamp(seconds: seconds), responseType: Timestamp.self)
                #expect(reply.message.seconds == seconds + 1)
            }
            #expect(server.callsInFlight == 0)
            #expect(gate.seen.withLock { $0 }.isEmpty)
        }
    }

    @Test("its errors and undecodable bodies get their status")
    func errors() async throws {
        try await Self.withServer { _, client, _ in
            let thrown = await #expect(throws: RPCError.self) {
                _ = try await client.unary(Self.open, request: Timestamp(seconds: -1), responseType: Timestamp.self)
            }
            #expect(thrown?.code == .outOfRange)
            #expect(thrown?.message == "negative: -1")
            let bad = await #expect(throws: RPCError.self) {
                _ = try await client.unary(Self.open, request: NotProtobuf(), responseType: Timestamp.self)
            }
            #expect(bad?.code == .invalidArgument)
        }
    }

    @Test("an interceptor that intercepts the method still sees, and here refuses, every call")
    func intercepted() async throws {
        try await Self.withServer { server, client, gate in
            for _ in 0..<3 {
                let refused = await #expect(throws: RPCError.self) {
                    _ = try await client.unary(Self.guarded, request: Timestamp(seconds: 1), responseType: Timestamp.self)
                }
                #expect(refused?.code == .permissionDenied)
            }
            #expect(gate.seen.withLock { $0 } == Array(repeating: Self.guarded.path, count: 3))
            #expect(server.callsInFlight == 0)
        }
    }
}

/// A body no protobuf parser takes (wire type 7). A known field of another wire type would not
/// do: parsers keep it as an unknown field.
struct NotProtobuf: ProtoMessage {
    var unknownFields = UnknownFields()
    func encodedSize() -> Int { 1 }
    func encodedSize(cache: inout ProtoSizeCache) -> Int { 1 }
    func encode(to writer: inout ProtoWriter) { writer.writeRawBytes([0x0F]) }
    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        try reader.skipField(tag, into: &unknownFields)
    }
}
