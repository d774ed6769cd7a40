public import Logging
public import NIOCore
import NIOPosix
public import RPCCore
import Synchronization

/// Settings of the gRPC server; defaults follow the public contract.
public struct GRPCServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var maxConcurrentStreams = 256
    public var maxHeaderListSize = 16 * 1024
    public var maxMessageSize = GRPCFraming.maxMessageSize
    /// Connections with no open call for this long are closed (with a GOAWAY).
    public var idleTimeout: TimeAmount = .minutes(5)
    /// A request body must be complete this long after its headers, or the call ends.
    public var requestBodyTimeout: TimeAmount = .seconds(30)
    /// Request bytes one connection may hold for calls whose body is not complete yet.
    public var maxBufferedRequestBytes = 64 * 1024 * 1024
    /// Responses smaller than this are not compressed: it would not pay off.
    public var compressionThreshold = 1024
    public var eventLoopThreads = CPUAffinity.usableCores

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// A gRPC server over HTTP/2 cleartext (prior knowledge) on libnghttp2 and SwiftNIO.
public final class GRPCServer: Sendable {
    /// What every connection of this server shares (immutable).
    struct Shared: Sendable {
        let configuration: GRPCServerConfiguration
        let router: MethodRouter
        let interceptors: [any ServerInterceptor]
        let logger: Logger
    }

    private let shared: Shared
    private let group: MultiThreadedEventLoopGroup
    private let state = Mutex<State>(State())

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
    }

    public init(
        configuration: GRPCServerConfiguration,
        router: MethodRouter,
        interceptors: [any ServerInterceptor] = [],
        logger: Logger = Logger(label: "grpc.server")
    ) {
        self.shared = Shared(configuration: configuration, router: router, interceptors: interceptors, logger: logger)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
    }

    /// Binds and starts accepting; returns the bound address (port 0 picks a free port).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let shared = self.shared
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [weak self] channel in
                self?.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GRPCServerConnection(shared: shared))
                }
            }
        let channel = try await bootstrap.bind(host: shared.configuration.host, port: shared.configuration.port).get()
        state.withLock { $0.serverChannel = channel }
        guard let address = channel.localAddress else { throw ChannelError.unknownLocalAddress }
        return address
    }

    public var localAddress: SocketAddress? { state.withLock { $0.serverChannel?.localAddress } }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.connections[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLock { $0.connections.removeValue(forKey: id) }
        }
    }

    /// Graceful shutdown: stop accepting, send GOAWAY on every connection, let in-flight calls finish
    /// for up to `grace`, then close what is left and stop the event loops.
    public func shutdown(grace: Duration) async {
        let (server, connections) = state.withLock { ($0.serverChannel, Array($0.connections.values)) }
        try? await server?.close()
        for connection in connections {
            connection.pipeline.fireUserInboundEventTriggered(DrainConnectionEvent())
        }
        let deadline = ContinuousClock.now.advanced(by: grace)
        while ContinuousClock.now < deadline, !state.withLock({ $0.connections.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for connection in state.withLock({ Array($0.connections.values) }) {
            try? await connection.close()
        }
        try? await group.shutdownGracefully()
    }
}
