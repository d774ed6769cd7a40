public import NIOCore
import NIOPosix
public import RPCCore
import Synchronization

/// A gRPC client over one multiplexed HTTP/2 connection (h2c, prior knowledge), reconnecting on
/// demand. Any generated client runs on it: `AccessPackageRequestsClient(transport: client)`.
public final class GRPCClient: ClientTransport {
    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let state = Mutex<State>(State())

    private struct State {
        var channel: EventLoopFuture<any Channel>?
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
    }

    public func unary(method: MethodDescriptor, request: [UInt8], options: CallOptions) async throws -> ClientResponse<[UInt8]> {
        let channel = try await connection()
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: ClientResponse<[UInt8]>.self)
        let path = method.path
        loop.execute {
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: GRPCClientConnection.self)
                handler.start(path: path, request: request, options: options, promise: promise)
            } catch {
                promise.fail(RPCError(code: .unavailable, message: "connection is closed"))
            }
        }
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

    /// The current connection, or a new one if there is none or it can no longer start calls.
    private func connection() async throws -> any Channel {
        let existing = state.withLock { $0.channel }
        if let existing, let channel = try? await existing.get(), channel.isActive, await isUsable(channel) {
            return channel
        }
        let future: EventLoopFuture<any Channel> = state.withLock { state in
            if let current = state.channel, current !== existing { return current }
            let authority = "\(host):\(port)"
            let connecting = ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(GRPCClientConnection(authority: authority))
                    }
                }
                .connect(host: host, port: port)
            state.channel = connecting
            return connecting
        }
        do {
            return try await future.get()
        } catch {
            state.withLock { if $0.channel === future { $0.channel = nil } }
            throw RPCError(code: .unavailable, message: "cannot connect to \(host):\(port): \(error)")
        }
    }

    private func isUsable(_ channel: any Channel) async -> Bool {
        (try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: GRPCClientConnection.self).isUsable
        }.get()) ?? false
    }

    /// Closes the connection; calls in flight fail with UNAVAILABLE.
    public func close() async {
        let future = state.withLock { state -> EventLoopFuture<any Channel>? in
            defer { state.channel = nil }
            return state.channel
        }
        if let channel = try? await future?.get() { try? await channel.close() }
        if ownsGroup { try? await group.shutdownGracefully() }
    }
}
