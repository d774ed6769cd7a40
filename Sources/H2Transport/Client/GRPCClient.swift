public import NIOCore
import NIOPosix
public import RPCCore
import Synchronization

/// A gRPC client over one multiplexed HTTP/2 connection (h2c, prior knowledge), reconnecting on
/// demand. Any generated client runs on it: `AccessPackageRequestsClient(transport: client)`.
public final class GRPCClient: ClientTransport {
    private let host: String
    private let port: Int
    /// "host:port" for `:authority` and messages; an IPv6 literal in brackets (RFC 3986 §3.2.2).
    private var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    private let group: any EventLoopGroup
    /// The loop every connection of this client lives on (chosen once, so tasks can run there).
    private let loop: any EventLoop
    private let ownsGroup: Bool
    /// Runs Swift tasks on this client's event loop: a caller that makes many calls (a load
    /// tester's worker) started with this preference pays no thread hop per call.
    public let executor: any TaskExecutor
    private let state = Mutex<State>(State())

    private struct State {
        /// The connected channel and its usability flag, once connected.
        var ready: (channel: any Channel, usable: ConnectionUsability)?
        /// A connection being made; callers that arrive meanwhile wait for the same one.
        var connecting: (future: EventLoopFuture<any Channel>, usable: ConnectionUsability)?
    }

    public init(host: String, port: Int, eventLoopGroup: (any EventLoopGroup)? = nil) {
        self.host = host
        self.port = port
        if let eventLoopGroup {
            self.group = eventLoopGroup
            self.ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            self.ownsGroup = true
        }
        self.loop = group.next()
        self.executor = EventLoopTaskExecutor(loop: loop, lifetime: LoopLifetime())
    }

    public func unary(method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> ClientResponse<[UInt8]> {
        // A call the server refused unseen (a GOAWAY raced it) is sent again, as gRPC's
        // transparent retry does; a few times at most, each on a connection that is usable then.
        // A retry keeps the call's deadline: it sends what is left of it.
        let deadline = options.timeout.map { ContinuousClock.now + $0 }
        var attempt = options
        for _ in 1...Self.maxTransparentAttempts {
            do {
                return try await unaryAttempt(method: method, request: request, options: attempt)
            } catch is StreamRefused {
                try Task.checkCancellation()
                if let deadline {
                    let left = deadline - ContinuousClock.now
                    guard left > .zero else { throw RPCError(code: .deadlineExceeded, message: "deadline exceeded") }
                    attempt.timeout = left
                }
            }
        }
        throw RPCError(code: .unavailable, message: "the server refused the call \(Self.maxTransparentAttempts) times before processing it")
    }

    /// How many times a call refused unseen is sent in all.
    static let maxTransparentAttempts = 3

    private func unaryAttempt(method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> ClientResponse<[UInt8]> {
        let channel = try await connection()
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: ClientResponse<[UInt8]>.self)
        let path = method.path
        let start: @Sendable () -> Void = {
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: GRPCClientConnection.self)
                handler.start(path: path, request: request, options: options, promise: promise)
            } catch {
                promise.fail(RPCError(code: .unavailable, message: "connection is closed"))
            }
        }
        // Already on the connection's loop (a task on `executor`): start at once, no hop.
        if loop.inEventLoop { start() } else { loop.execute(start) }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            loop.execute {
                guard let handler = try? channel.pipeline.syncOperations.handler(type: GRPCClientConnection.self),
                    let id = handler.streamID(for: promise)
                else { return }
                handler.cancel(streamID: id, error: RPCError(code: .cancelled, message: "call cancelled by the caller"))
            }
        }
    }

    public func openStream(method: MethodDescriptor, options: CallOptions) async throws -> any ClientCallStream {
        let channel = try await connection()
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: ClientStreamHandle.self)
        let path = method.path
        loop.execute {
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: GRPCClientConnection.self)
                handler.startStream(path: path, kind: .bidirectionalStreaming, options: options, promise: promise)
            } catch {
                promise.fail(RPCError(code: .unavailable, message: "connection is closed"))
            }
        }
        return try await promise.futureResult.get()
    }

    /// The current connection, or a new one if there is none or it can no longer start calls. A
    /// healthy connection costs a lock and an atomic load: no hop to its event loop.
    private func connection() async throws -> any Channel {
        enum Next {
            case ready(any Channel)
            case pending(future: EventLoopFuture<any Channel>, usable: ConnectionUsability)
        }
        let next = state.withLock { state -> Next in
            if let ready = state.ready, ready.channel.isActive, ready.usable.isUsable { return .ready(ready.channel) }
            state.ready = nil
            if let connecting = state.connecting { return .pending(future: connecting.future, usable: connecting.usable) }
            let usable = ConnectionUsability()
            let authority = self.authority
            let future = ClientBootstrap(group: loop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            GRPCClientConnection(authority: authority, usability: usable))
                    }
                }
                .connect(host: host, port: port)
            state.connecting = (future, usable)
            return .pending(future: future, usable: usable)
        }
        let future: EventLoopFuture<any Channel>
        let usable: ConnectionUsability
        switch next {
        case .ready(let channel):
            return channel
        case .pending(let connecting, let flag):
            future = connecting
            usable = flag
        }
        do {
            let channel = try await future.get()
            state.withLock { state in
                if state.connecting?.future === future {
                    state.connecting = nil
                    state.ready = (channel, usable)
                }
            }
            return channel
        } catch {
            state.withLock { if $0.connecting?.future === future { $0.connecting = nil } }
            throw RPCError(code: .unavailable, message: "cannot connect to \(authority): \(error)")
        }
    }

    /// Closes the connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        let (ready, connecting) = state.withLock { state in
            defer {
                state.ready = nil
                state.connecting = nil
            }
            return (state.ready?.channel, state.connecting?.future)
        }
        if let ready { try? await ready.close() }
        if let channel = try? await connecting?.get() { try? await channel.close() }
        if ownsGroup { try? await group.shutdownGracefully() }
    }
}
