/// A request as interceptors see it: metadata always, the message decoded on first demand, so an
/// interceptor that rejects on metadata (authentication) does so before a bad body is reported.
public struct ServerRequest<Message: Sendable>: Sendable {
    public var metadata: Metadata
    private let decoded: Result<Message, RPCError>

    public init(metadata: Metadata, decoded: Result<Message, RPCError>) {
        self.metadata = metadata
        self.decoded = decoded
    }

    /// The decoded message, or the INVALID_ARGUMENT error that decoding produced.
    public var message: Message {
        get throws(RPCError) { try decoded.get() }
    }
}

/// Runs around every server call, in registration order; may reject by throwing an `RPCError`,
/// or pass a changed context (e.g. with the caller's identity) to `next`.
public protocol ServerInterceptor: Sendable {
    func intercept<Input: Sendable, Output: Sendable>(
        request: ServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (ServerRequest<Input>, ServerContext) async throws -> Output
    ) async throws -> Output
}
