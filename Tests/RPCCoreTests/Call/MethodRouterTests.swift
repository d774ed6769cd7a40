import ProtoWire
import RPCCore
import Synchronization
import Testing

@Suite("method routing and interceptors")
struct MethodRouterTests {
    static let method = MethodDescriptor(service: "test.v1.Echo", method: "Echo")

    /// Records its name on the way in, and can reject.
    struct Recorder: ServerInterceptor {
        let name: String
        let log: Log
        var reject = false

        func intercept<Input: Sendable, Output: Sendable>(
            request: ServerRequest<Input>,
            context: ServerContext,
            next: @Sendable (ServerRequest<Input>, ServerContext) async throws -> Output
        ) async throws -> Output {
            log.append(name)
            if reject { throw RPCError(code: .permissionDenied, message: "\(name) says no") }
            return try await next(request, context)
        }
    }

    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func append(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    static func context() -> ServerContext {
        ServerContext(method: method, metadata: Metadata(), authorization: nil, peer: "test", deadline: nil)
    }

    static func router(log: Log) -> MethodRouter {
        var router = MethodRouter()
        router.registerUnary(method, input: Timestamp.self, output: Timestamp.self) { request, _ in
            log.append("handler")
            return Timestamp(seconds: request.seconds + 1)
        }
        return router
    }

    /// The response a handler encoded, decoded again, after checking its frame header: not
    /// compressed, and the message's length.
    static func decoded(_ response: OutgoingMessage) throws -> Timestamp {
        let length = UInt32(response.messageSize)
        #expect(Array(response.framed.prefix(GRPCFraming.headerSize)) == [0] + withUnsafeBytes(of: length.bigEndian, Array.init))
        #expect(response.messageSize == response.framed.count - GRPCFraming.headerSize && response.messageSize > 0)
        return try Timestamp(serializedBytes: Array(response.messageBytes))
    }

    @Test("interceptors run in order around the handler")
    func order() async throws {
        let log = Log()
        let handler = try #require(Self.router(log: log).handler(forPath: "/test.v1.Echo/Echo"))
        let response = try await handler.handle(
            request: Timestamp(seconds: 41).serializedBytes(), context: Self.context(),
            interceptors: [Recorder(name: "a", log: log), Recorder(name: "b", log: log)])
        #expect(try Self.decoded(response).seconds == 42)
        #expect(log.all == ["a", "b", "handler"])
    }

    @Test("a rejecting interceptor stops the call before the handler")
    func rejects() async throws {
        let log = Log()
        let handler = try #require(Self.router(log: log).handler(forPath: "/test.v1.Echo/Echo"))
        await #expect(throws: RPCError(code: .permissionDenied, message: "a says no")) {
            _ = try await handler.handle(
                request: [], context: Self.context(), interceptors: [Recorder(name: "a", log: log, reject: true)])
        }
        #expect(log.all == ["a"])
    }

    @Test("an undecodable body is INVALID_ARGUMENT, raised only when the message is needed")
    func badBody() async throws {
        let log = Log()
        let handler = try #require(Self.router(log: log).handler(forPath: "/test.v1.Echo/Echo"))
        let error = await #expect(throws: RPCError.self) {
            _ = try await handler.handle(request: [0xFF], context: Self.context(), interceptors: [Recorder(name: "a", log: log)])
        }
        #expect(error?.code == .invalidArgument)
        #expect(log.all == ["a"])  // the interceptor ran; the handler did not
    }

    @Test("an immediate method answers without suspending, and through interceptors when they run")
    func immediate() async throws {
        let log = Log()
        var router = MethodRouter()
        router.registerImmediateUnary(Self.method, input: Timestamp.self, output: Timestamp.self) { request, _ in
            log.append("handler")
            return Timestamp(seconds: request.seconds + 1)
        }
        let handler = try #require(router.handler(forPath: "/test.v1.Echo/Echo"))
        #expect(handler.answersImmediately)
        let now = try handler.handleImmediately(request: Timestamp(seconds: 1).serializedBytes(), context: Self.context())
        #expect(try Self.decoded(now).seconds == 2)
        let intercepted = try await handler.handle(
            request: Timestamp(seconds: 5).serializedBytes(), context: Self.context(),
            interceptors: [Recorder(name: "a", log: log)])
        #expect(try Self.decoded(intercepted).seconds == 6)
        #expect(log.all == ["handler", "a", "handler"])
        #expect(throws: RPCError.self) {
            _ = try handler.handleImmediately(request: [0xFF], context: Self.context())
        }
        #expect(try #require(Self.router(log: log).handler(forPath: "/test.v1.Echo/Echo")).answersImmediately == false)
        // An interceptor intercepts every method unless it says otherwise.
        #expect(Recorder(name: "b", log: log).intercepts(Self.method))
    }

    @Test("unknown paths have no handler")
    func unknown() {
        #expect(Self.router(log: Log()).handler(forPath: "/test.v1.Echo/Other") == nil)
    }
}
