public import ProtoWire

/// How a method streams (the `stream` keywords of its proto declaration).
public enum RPCKind: Sendable, Hashable {
    case unary
    case serverStreaming
    case clientStreaming
    case bidirectionalStreaming

    /// Whether the caller sends a stream of messages (rather than exactly one).
    public var streamsRequests: Bool { self == .clientStreaming || self == .bidirectionalStreaming }
}

/// Where a streaming handler's response messages go, encoded. The transport frames each message and
/// sends it as the peer's flow-control window allows: `write` suspends while the stream's bounded
/// buffer is full, so a slow reader slows the writer instead of growing memory.
public protocol ResponseStreamSink: Sendable {
    /// Sends one message; throws once the call is over (cancelled, reset, past its deadline).
    func write(_ message: OutgoingMessage) async throws
    /// Sends the response headers now, before any message (otherwise they go with the first).
    func sendHeaders() async
}

extension ResponseStreamSink {
    public func sendHeaders() async {}
}

/// Where a streaming handler's request messages come from: encoded messages, one at a time, in
/// order; nil once the caller has half-closed. Taking a message gives its bytes back to the
/// caller's flow-control window, so an unread stream stops the caller.
public protocol RequestStreamSource: Sendable {
    func next() async throws -> [UInt8]?
}

/// Typed response messages of a server- or bidirectional-streaming call.
public struct ResponseStreamWriter<Message: ProtoMessage>: Sendable {
    @usableFromInline let sink: any ResponseStreamSink

    public init(sink: any ResponseStreamSink) {
        self.sink = sink
    }

    @inlinable
    public func write(_ message: Message) async throws {
        try await sink.write(OutgoingMessage(message))
    }

    /// Tells the caller the call is under way before there is a message to send: a stream that
    /// may be quiet for long (a watch of a package nobody changes) otherwise shows a client and
    /// any proxy nothing at all, and a proxy's timeout for the response to begin ends it.
    public func sendHeaders() async {
        await sink.sendHeaders()
    }
}

/// Typed request messages of a client- or bidirectional-streaming call. A message that does not
/// decode ends the iteration with INVALID_ARGUMENT.
public struct RequestStream<Message: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    @usableFromInline let source: any RequestStreamSource

    public init(source: any RequestStreamSource) {
        self.source = source
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline let source: any RequestStreamSource

        @usableFromInline
        init(source: any RequestStreamSource) {
            self.source = source
        }

        @inlinable
        public mutating func next() async throws -> Message? {
            guard let bytes = try await source.next() else { return nil }
            do {
                return try Message(serializedBytes: bytes)
            } catch {
                throw RPCError(code: .invalidArgument, message: "request is not a valid \(Message.protoMessageName) message: \(error)")
            }
        }
    }

    @inlinable
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source) }
}

/// What a streaming method receives from the transport.
public enum StreamingRequest: Sendable {
    /// The one request message of a server-streaming call (complete before the handler starts).
    case single([UInt8])
    /// The request messages of a client- or bidirectional-streaming call, as they arrive.
    case stream(any RequestStreamSource)
}

/// A streaming method's type-erased entry point.
public struct StreamingMethodHandler: Sendable {
    public let method: MethodDescriptor
    public let kind: RPCKind
    @usableFromInline let run:
        @Sendable (StreamingRequest, ServerContext, [any ServerInterceptor], any ResponseStreamSink) async throws -> Void

    @usableFromInline
    init(
        method: MethodDescriptor,
        kind: RPCKind,
        run: @escaping @Sendable (StreamingRequest, ServerContext, [any ServerInterceptor], any ResponseStreamSink)
            async throws -> Void
    ) {
        self.method = method
        self.kind = kind
        self.run = run
    }

    /// Runs the interceptors and the handler; messages go to `responses`. Returning ends the call
    /// OK; throwing ends it with the error's status.
    public func handle(
        request: StreamingRequest,
        context: ServerContext,
        interceptors: [any ServerInterceptor],
        responses: any ResponseStreamSink
    ) async throws {
        try await run(request, context, interceptors, responses)
    }
}

extension MethodRouter {
    /// Registers a server-streaming method: one request message, a stream of responses.
    @inlinable
    public mutating func registerServerStreaming<Input: ProtoMessage, Output: ProtoMessage>(
        _ method: MethodDescriptor,
        input: Input.Type = Input.self,
        output: Output.Type = Output.self,
        handler: @escaping @Sendable (Input, ResponseStreamWriter<Output>, ServerContext) async throws -> Void
    ) {
        streamingHandlers[method.path] = StreamingMethodHandler(method: method, kind: .serverStreaming) {
            request, context, interceptors, sink in
            let bytes: [UInt8]
            switch request {
            case .single(let single): bytes = single
            case .stream: throw RPCError(code: .internalError, message: "\(method) takes one request message")
            }
            let decoded: Result<Input, RPCError>
            do {
                decoded = .success(try Input(serializedBytes: bytes))
            } catch {
                decoded = .failure(
                    RPCError(code: .invalidArgument, message: "request is not a valid \(Input.protoMessageName) message: \(error)"))
            }
            let writer = ResponseStreamWriter<Output>(sink: sink)
            try await Self.runChain(
                interceptors[...], request: ServerRequest(metadata: context.metadata, decoded: decoded), context: context
            ) { message, context in
                try await handler(message, writer, context)
            }
        }
    }

    /// Registers a client-streaming method: a stream of requests, one response message.
    @inlinable
    public mutating func registerClientStreaming<Input: ProtoMessage, Output: ProtoMessage>(
        _ method: MethodDescriptor,
        input: Input.Type = Input.self,
        output: Output.Type = Output.self,
        handler: @escaping @Sendable (RequestStream<Input>, ServerContext) async throws -> Output
    ) {
        streamingHandlers[method.path] = StreamingMethodHandler(method: method, kind: .clientStreaming) {
            request, context, interceptors, sink in
            let requests = try Self.requestStream(request, of: Input.self, method: method)
            let response = try await Self.runChain(
                interceptors[...], request: ServerRequest(metadata: context.metadata, decoded: .success(requests)),
                context: context, handler: handler)
            try await sink.write(OutgoingMessage(response))
        }
    }

    /// Registers a bidirectional-streaming method: streams both ways.
    @inlinable
    public mutating func registerBidirectionalStreaming<Input: ProtoMessage, Output: ProtoMessage>(
        _ method: MethodDescriptor,
        input: Input.Type = Input.self,
        output: Output.Type = Output.self,
        handler: @escaping @Sendable (RequestStream<Input>, ResponseStreamWriter<Output>, ServerContext) async throws
            -> Void
    ) {
        streamingHandlers[method.path] = StreamingMethodHandler(method: method, kind: .bidirectionalStreaming) {
            request, context, interceptors, sink in
            let requests = try Self.requestStream(request, of: Input.self, method: method)
            let writer = ResponseStreamWriter<Output>(sink: sink)
            try await Self.runChain(
                interceptors[...], request: ServerRequest(metadata: context.metadata, decoded: .success(requests)),
                context: context
            ) { requests, context in
                try await handler(requests, writer, context)
            }
        }
    }

    @inlinable
    static func requestStream<Input: ProtoMessage>(
        _ request: StreamingRequest, of: Input.Type, method: MethodDescriptor
    ) throws(RPCError) -> RequestStream<Input> {
        switch request {
        case .stream(let source): return RequestStream(source: source)
        case .single: throw RPCError(code: .internalError, message: "\(method) takes a stream of request messages")
        }
    }
}
