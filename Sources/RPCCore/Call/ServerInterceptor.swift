public import ProtoWire

/// A request as interceptors see it: metadata always, and the message already decoded, or the
/// error decoding it gave, reported only when the message is first asked for; so an interceptor
/// that rejects on metadata (authentication) does so before a bad body is reported.
public struct ServerRequest<Message: Sendable>: Sendable {
    public var metadata: Metadata
    @usableFromInline let decoded: Result<Message, RPCError>

    @inlinable
    public init(metadata: Metadata, decoded: Result<Message, RPCError>) {
        self.metadata = metadata
        self.decoded = decoded
    }

    /// The INVALID_ARGUMENT error for a request body that does not decode.
    @usableFromInline
    static func invalid(_ error: any Error) -> RPCError {
        let name = (Message.self as? any ProtoMessage.Type)?.protoMessageName ?? "\(Message.self)"
        return RPCError(code: .invalidArgument, message: "request is not a valid \(name) message: \(error)")
    }

    /// The request in `bytes`, decoded, or the error decoding it produced.
    @inlinable
    static func decoding(_ bytes: [UInt8], metadata: Metadata) -> ServerRequest where Message: ProtoMessage {
        do {
            return ServerRequest(metadata: metadata, decoded: .success(try Message(serializedBytes: bytes)))
        } catch {
            return ServerRequest(metadata: metadata, decoded: .failure(invalid(error)))
        }
    }

    /// The decoded message, or the INVALID_ARGUMENT error that decoding produced.
    @inlinable
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

    /// Whether calls of `method` pass through `intercept` at all. False only for methods this
    /// interceptor always hands straight to `next` (open services): a method no interceptor
    /// intercepts may be answered without a task (`MethodRouter.registerImmediateUnary`).
    func intercepts(_ method: MethodDescriptor) -> Bool
}

extension ServerInterceptor {
    public func intercepts(_ method: MethodDescriptor) -> Bool { true }
}
