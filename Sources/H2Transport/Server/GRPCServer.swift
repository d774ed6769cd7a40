public import Logging
public import NIOCore
import Dispatch
import NIOPosix
import ServerLogging
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
    /// Request bytes all connections together may hold for unfinished calls.
    public var maxBufferedRequestBytesTotal = 256 * 1024 * 1024
    /// Response bytes all connections together may hold for peers that have not read them yet.
    public var maxQueuedResponseBytesTotal = 512 * 1024 * 1024
    /// A peer that takes none of a response's bytes for this long has stopped reading: the
    /// stream is reset and its memory released.
    public var responseSendTimeout: TimeAmount = .seconds(30)
    /// Connections past this many are closed as they are accepted.
    public var maxConnections = 10_000
    /// Unary calls running at once; a call past it is shed at once with RESOURCE_EXHAUSTED
    /// instead of queueing behind the others (admission control). Low on purpose: past a few
    /// hundred, extra calls only wait longer, and under overload miss their deadlines.
    public var maxConcurrentCalls = 256
    /// Services whose calls are never shed (health checks: a probe must see a busy server alive).
    public var unlimitedServices: Set<String> = ["grpc.health.v1.Health"]
    /// With calls open, a PING after this long without a frame from the peer; nil: never.
    public var keepaliveInterval: TimeAmount? = .seconds(60)
    /// A peer that answers nothing for this long after a keepalive PING is dead: the connection
    /// closes and its calls are cancelled.
    public var keepaliveTimeout: TimeAmount = .seconds(20)
    /// Connections older than this get a graceful GOAWAY (clients reconnect, spreading load over
    /// replicas); nil: no limit.
    public var maxConnectionAge: TimeAmount?
    /// How long calls of a connection past its age may still finish before it is closed.
    public var maxConnectionAgeGrace: TimeAmount = .seconds(30)
    /// After the shutdown grace, how long handlers still running (waiting on the store, say) may
    /// take before the event loops stop anyway.
    public var handlerStopGrace: Duration = .seconds(5)
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
        let budget: ServerBudget
        let loops: LoopLifetime
        let observer: (any CallObserver)?
        /// The notices peers can cause (protocol errors, floods, silent connections): a client
        /// opening thousands of bad connections a second must not turn each into a line.
        let peerNotices = LogThrottle(limit: 10, per: .seconds(1))
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
        observer: (any CallObserver)? = nil,
        logger: Logger = Logger(label: "grpc.server")
    ) {
        var router = router
        for service in configuration.unlimitedServices { router.exemptFromAdmission(service: service) }
        self.shared = Shared(
            configuration: configuration, router: router, interceptors: interceptors, logger: logger,
            budget: ServerBudget(
                maxConnections: configuration.maxConnections,
                maxBufferedRequestBytes: configuration.maxBufferedRequestBytesTotal,
                maxConcurrentCalls: configuration.maxConcurrentCalls,
                maxQueuedResponseBytes: configuration.maxQueuedResponseBytesTotal),
            loops: LoopLifetime(),
            observer: observer)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
    }

    /// Binds and starts accepting; returns the bound address (port 0 picks a free port).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let shared = self.shared
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [weak self] channel in
                guard shared.budget.admitConnection() else {
                    shared.observer?.callShed(.connections)
                    // Past --max-connections: closed at accept, before any HTTP/2 state exists.
                    shared.logger.debug("connection refused: at the connection limit", metadata: [
                        "limit": "\(shared.budget.maxConnections)",
                    ])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in shared.budget.releaseConnection() }
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

    /// Handler tasks running now (admitted calls that have not completed).
    public var callsInFlight: Int { shared.budget.callsInFlight }

    /// Connections open now.
    public var openConnections: Int { shared.budget.openConnections }

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
        // A cancelled shutdown (a second signal) stops waiting: what is left is closed now.
        while ContinuousClock.now < deadline, !Task.isCancelled, !state.withLock({ $0.connections.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for connection in state.withLock({ Array($0.connections.values) }) {
            try? await connection.close()
        }
        // Closing cancelled the calls that were left, but their handler tasks run until they next
        // look (an awaited store commit is not interrupted) and then resume on their connection's
        // event loop: the loops must outlive every handler.
        let handlerDeadline = ContinuousClock.now.advanced(by: shared.configuration.handlerStopGrace)
        while shared.budget.callsInFlight > 0, ContinuousClock.now < handlerDeadline {
            // Even when cancelled this waits (without sleeping on a cancelled task, which would
            // spin): handlers must finish before their event loops stop.
            if Task.isCancelled {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(5)) { continuation.resume() }
                }
            } else {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        if shared.budget.callsInFlight > 0 {
            shared.logger.warning(
                "handlers still running at shutdown; they finish off the event loops",
                metadata: ["calls": "\(shared.budget.callsInFlight)"])
        }
        shared.loops.stop()
        try? await group.shutdownGracefully()
    }
}
