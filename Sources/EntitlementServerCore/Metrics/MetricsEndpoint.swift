import NIOCore
import NIOHTTP1
import Synchronization
import NIOPosix
public import Prometheus

/// Prometheus text exposition at plain-HTTP `GET /metrics` (CONTRACT §4, `--metrics-port`).
/// Before each scrape, `refresh` sets the gauges read from live state (in-flight calls,
/// connections, backlog, watchers). Anything else is 404; only GET and HEAD are served.
///
/// Bounded like the gRPC port, so that it cannot be used to starve it of file descriptors: at
/// most `Limits.maxConnections` are open at once (more are closed as they are accepted), and
/// each request must arrive whole within `Limits.requestTimeout` of the connection opening or
/// of the previous reply (an idle or trickling connection is closed; scrapers reconnect).
public final class MetricsEndpoint: Sendable {
    public struct Limits: Sendable {
        public var maxConnections = 64
        public var requestTimeout: Duration = .seconds(10)

        public init() {}
    }

    private let registry: PrometheusCollectorRegistry
    private let refresh: @Sendable () async -> Void
    private let limits: Limits
    private let group: MultiThreadedEventLoopGroup
    private let channel = Mutex<(any Channel)?>(nil)

    public init(
        registry: PrometheusCollectorRegistry, limits: Limits = Limits(),
        refresh: @escaping @Sendable () async -> Void
    ) {
        self.registry = registry
        self.refresh = refresh
        self.limits = limits
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds and serves; returns the bound port (0 picks a free one).
    public func start(host: String, port: Int) async throws -> Int {
        let registry = self.registry
        let refresh = self.refresh
        let limits = self.limits
        let open = ConnectionCount()
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard open.enter(limit: limits.maxConnections) else {
                    channel.close(promise: nil)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                channel.closeFuture.whenComplete { _ in open.leave() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHTTPHandler(
                            registry: registry, refresh: refresh, requestTimeout: TimeAmount(limits.requestTimeout)))
                }
            }
            .bind(host: host, port: port).get()
        channel.withLock { $0 = bound }
        return bound.localAddress?.port ?? port
    }

    public func shutdown() async {
        let bound = channel.withLock { $0 }
        try? await bound?.close()
        try? await group.shutdownGracefully()
    }
}

/// Open connections of the endpoint.
private final class ConnectionCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Counts one more, unless `limit` are open already.
    func enter(limit: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, found) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = found
        }
        return false
    }

    func leave() { count.subtract(1, ordering: .relaxed) }
}

/// One connection's requests, on its event loop.
private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let refresh: @Sendable () async -> Void
    private let requestTimeout: TimeAmount
    /// Closes the connection when the next request has not arrived whole in time.
    private var requestDeadline: Scheduled<Void>?

    init(registry: PrometheusCollectorRegistry, refresh: @escaping @Sendable () async -> Void, requestTimeout: TimeAmount) {
        self.registry = registry
        self.refresh = refresh
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armDeadline(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armDeadline(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        requestDeadline?.cancel()
        requestDeadline = nil
    }

    /// A request the parser refused has had its 400 (from NIO's protocol-error handler, which
    /// leaves the connection open and may answer again): nothing after it can be trusted.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        requestDeadline?.cancel()
        requestDeadline = nil
        let keepAlive = head.isKeepAlive
        guard head.version.major == 1 else {
            return respond(context, status: .httpVersionNotSupported, body: "use HTTP/1.1\n", keepAlive: false, head: head)
        }
        // RFC 9112 §3.2: a 1.1 request without exactly one Host is a bad request.
        guard head.version.minor == 0 || head.headers["host"].count == 1 else {
            return respond(context, status: .badRequest, body: "an HTTP/1.1 request needs one Host header\n", keepAlive: false, head: head)
        }
        let path = Self.path(of: head.uri)
        guard path == "/metrics" || path.hasPrefix("/metrics?") else {
            return respond(context, status: .notFound, body: "not found: try GET /metrics\n", keepAlive: keepAlive, head: head)
        }
        guard head.method == .GET || head.method == .HEAD else {
            return respond(
                context, status: .methodNotAllowed, body: "use GET\n", keepAlive: keepAlive, head: head,
                extraHeaders: [("allow", "GET, HEAD")])
        }
        let registry = self.registry
        let refresh = self.refresh
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        Task {
            await refresh()
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            loop.execute {
                let (handler, context) = bound.value
                handler.respond(
                    context, status: .ok, body: text, keepAlive: keepAlive, head: head,
                    contentType: "text/plain; version=0.0.4; charset=utf-8")
            }
        }
    }

    /// The path of an origin-form target, or of an absolute-form one (`http://host/metrics`),
    /// which RFC 9112 §3.2.2 says a server must accept.
    static func path(of target: String) -> Substring {
        guard let scheme = target.range(of: "://"), target.hasPrefix("http") else { return target[...] }
        let afterAuthority = target[scheme.upperBound...]
        guard let slash = afterAuthority.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        return afterAuthority[slash...]
    }

    private func respond(
        _ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, keepAlive: Bool,
        head request: HTTPRequestHead, contentType: String = "text/plain; charset=utf-8",
        extraHeaders: [(String, String)] = []
    ) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(contentsOf: extraHeaders)
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let version = request.version.major == 1 ? request.version : .http1_1
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if keepAlive {
            armDeadline(context)
        } else {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func armDeadline(_ context: ChannelHandlerContext) {
        requestDeadline?.cancel()
        let channel = context.channel
        requestDeadline = context.eventLoop.scheduleTask(in: requestTimeout) { channel.close(promise: nil) }
    }
}
