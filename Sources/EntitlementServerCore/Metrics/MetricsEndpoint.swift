import NIOCore
import NIOHTTP1
import Synchronization
import NIOPosix
public import Prometheus

/// Prometheus text exposition at plain-HTTP `GET /metrics` (CONTRACT §4, `--metrics-port`).
/// Before each scrape, `refresh` sets the gauges read from live state (in-flight calls,
/// connections, backlog, watchers). Anything else is 404; only GET and HEAD are served.
public final class MetricsEndpoint: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let refresh: @Sendable () async -> Void
    private let group: MultiThreadedEventLoopGroup
    private let channel = Mutex<(any Channel)?>(nil)

    public init(registry: PrometheusCollectorRegistry, refresh: @escaping @Sendable () async -> Void) {
        self.registry = registry
        self.refresh = refresh
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds and serves; returns the bound port (0 picks a free one).
    public func start(host: String, port: Int) async throws -> Int {
        let registry = self.registry
        let refresh = self.refresh
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(registry: registry, refresh: refresh))
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

private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry
    let refresh: @Sendable () async -> Void

    init(registry: PrometheusCollectorRegistry, refresh: @escaping @Sendable () async -> Void) {
        self.registry = registry
        self.refresh = refresh
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let keepAlive = head.isKeepAlive
        let loop = context.eventLoop
        let bound = NIOLoopBound(context, eventLoop: loop)
        guard head.uri == "/metrics" || head.uri.hasPrefix("/metrics?") else {
            Self.respond(bound.value, status: .notFound, body: "not found: try GET /metrics\n", keepAlive: keepAlive, head: head)
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            Self.respond(bound.value, status: .methodNotAllowed, body: "use GET\n", keepAlive: keepAlive, head: head)
            return
        }
        let registry = self.registry
        let refresh = self.refresh
        Task {
            await refresh()
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            loop.execute {
                Self.respond(bound.value, status: .ok, body: text, keepAlive: keepAlive, head: head,
                             contentType: "text/plain; version=0.0.4; charset=utf-8")
            }
        }
    }

    static func respond(
        _ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, keepAlive: Bool,
        head request: HTTPRequestHead, contentType: String = "text/plain; charset=utf-8"
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.utf8.count))
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
