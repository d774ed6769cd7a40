public import ProtoWire

/// Per-call options for a client call.
public struct CallOptions: Sendable {
    /// How long the caller waits; sent as `grpc-timeout`.
    public var timeout: Duration?
    /// Request metadata (custom headers).
    public var metadata: Metadata
    /// Compress the request with this algorithm (the server must accept it).
    public var compression: CompressionAlgorithm
    /// Advertise `grpc-accept-encoding` (gzip, deflate), so the server may compress responses.
    public var acceptsCompressedResponses: Bool

    public init(
        timeout: Duration? = nil, metadata: Metadata = Metadata(), compression: CompressionAlgorithm = .identity,
        acceptsCompressedResponses: Bool = true
    ) {
        self.timeout = timeout
        self.metadata = metadata
        self.compression = compression
        self.acceptsCompressedResponses = acceptsCompressedResponses
    }
}

/// A unary response as the client received it.
public struct ClientResponse<Message: Sendable>: Sendable {
    public var message: Message
    public var headers: Metadata
    public var trailers: Metadata

    public init(message: Message, headers: Metadata, trailers: Metadata) {
        self.message = message
        self.headers = headers
        self.trailers = trailers
    }
}

/// What a generated client needs from a transport: one unary exchange of encoded messages.
/// Failures are thrown as `RPCError` with the server's status (or UNAVAILABLE for transport faults).
public protocol ClientTransport: Sendable {
    func unary(
        method: MethodDescriptor,
        request: [UInt8],
        options: CallOptions
    ) async throws -> ClientResponse<[UInt8]>

    /// Opens a streaming call (any kind: the generated client decides how many messages go
    /// each way).
    func openStream(method: MethodDescriptor, options: CallOptions) async throws -> any ClientCallStream
}

extension ClientTransport {
    /// Encodes `request`, calls `method`, decodes the response (INTERNAL if it is not valid).
    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: MethodDescriptor,
        request: Request,
        responseType: Response.Type = Response.self,
        options: CallOptions = CallOptions()
    ) async throws -> ClientResponse<Response> {
        let raw = try await unary(method: method, request: request.serializedBytes(), options: options)
        do {
            let message = try Response(serializedBytes: raw.message)
            return ClientResponse(message: message, headers: raw.headers, trailers: raw.trailers)
        } catch {
            throw RPCError(code: .internalError, message: "response is not a valid \(Response.self) message: \(error)")
        }
    }
}
