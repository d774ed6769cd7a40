public import ProtoWire

/// A unary method's type-erased entry point: request bytes in, the encoded response out.
public struct UnaryMethodHandler: Sendable {
    public let method: MethodDescriptor
    /// Never shed by admission control (health checks): set with `MethodRouter.exemptFromAdmission`.
    public internal(set) var isExemptFromAdmission = false
    @usableFromInline let run: @Sendable ([UInt8], ServerContext, [any ServerInterceptor]) async throws -> OutgoingMessage
    /// The same work without suspending, for methods registered with `registerImmediateUnary`.
    @usableFromInline let runImmediately: (@Sendable ([UInt8], ServerContext) throws -> OutgoingMessage)?

    @usableFromInline
    init(
        method: MethodDescriptor,
        run: @escaping @Sendable ([UInt8], ServerContext, [any ServerInterceptor]) async throws -> OutgoingMessage,
        runImmediately: (@Sendable ([UInt8], ServerContext) throws -> OutgoingMessage)? = nil
    ) {
        self.method = method
        self.run = run
        self.runImmediately = runImmediately
    }

    /// Whether the handler answers without suspending (`MethodRouter.registerImmediateUnary`).
    public var answersImmediately: Bool { runImmediately != nil }

    /// Decodes the request and runs the handler on the caller's thread, with no interceptors:
    /// for a transport that knows none of its interceptors intercepts this method.
    /// - Precondition: `answersImmediately`.
    public func handleImmediately(request: [UInt8], context: ServerContext) throws -> OutgoingMessage {
        guard let runImmediately else { preconditionFailure("\(method) does not answer immediately") }
        return try runImmediately(request, context)
    }

    /// Decodes the request, runs the interceptors and the handler; throws `RPCError` (or any error,
    /// which the transport maps with `RPCError(mapping:)`).
    public func handle(
        request: [UInt8],
        context: ServerContext,
        interceptors: [any ServerInterceptor]
    ) async throws -> OutgoingMessage {
        try await run(request, context, interceptors)
    }
}

/// Maps `:path` to handlers. Services register into it; the transport looks calls up here.
public struct MethodRouter: Sendable {
    // Two tables, so the unary lookup on the hot path stays one dictionary probe of one type.
    @usableFromInline var handlers: [String: UnaryMethodHandler] = [:]
    @usableFromInline var streamingHandlers: [String: StreamingMethodHandler] = [:]

    public init() {}

    public var methods: [MethodDescriptor] { handlers.values.map(\.method) + streamingHandlers.values.map(\.method) }

    /// Every registered service name, sorted (for server reflection's `list_services`).
    public var services: [String] { Array(Set(methods.map(\.service))).sorted() }

    public func handler(forPath path: String) -> UnaryMethodHandler? { handlers[path] }

    public func streamingHandler(forPath path: String) -> StreamingMethodHandler? { streamingHandlers[path] }

    /// Marks every unary method of `service` as never shed by admission control.
    public mutating func exemptFromAdmission(service: String) {
        for (path, handler) in handlers where handler.method.service == service {
            handlers[path]?.isExemptFromAdmission = true
        }
    }

    /// Whether any method serves `path`.
    public func serves(path: String) -> Bool { handlers[path] != nil || streamingHandlers[path] != nil }

    /// Registers a unary method; a later registration of the same path replaces the earlier one.
    /// Inlinable so the generated code that calls it gets a version specialized for its messages.
    @inlinable
    public mutating func registerUnary<Input: ProtoMessage, Output: ProtoMessage>(
        _ method: MethodDescriptor,
        input: Input.Type = Input.self,
        output: Output.Type = Output.self,
        handler: @escaping @Sendable (Input, ServerContext) async throws -> Output
    ) {
        handlers[method.path] = UnaryMethodHandler(method: method) { bytes, context, interceptors in
            // Decoded here rather than with `ServerRequest.decoding`: calling that from this
            // closure grew its async frame (384 → 544 bytes), one more task slab per call.
            let decoded: Result<Input, RPCError>
            do {
                decoded = .success(try Input(serializedBytes: bytes))
            } catch {
                decoded = .failure(ServerRequest<Input>.invalid(error))
            }
            let request = ServerRequest(metadata: context.metadata, decoded: decoded)
            return OutgoingMessage(
                try await Self.runChain(interceptors[...], request: request, context: context, handler: handler))
        }
    }

    /// Registers a unary method whose handler never suspends: it answers from memory, with no
    /// I/O and no locks held for long (health checks). When no interceptor intercepts the method
    /// (`ServerInterceptor.intercepts`), a transport may run it on its event loop directly,
    /// without the task an async handler needs; otherwise it runs like any unary method.
    @inlinable
    public mutating func registerImmediateUnary<Input: ProtoMessage, Output: ProtoMessage>(
        _ method: MethodDescriptor,
        input: Input.Type = Input.self,
        output: Output.Type = Output.self,
        handler: @escaping @Sendable (Input, ServerContext) throws -> Output
    ) {
        handlers[method.path] = UnaryMethodHandler(
            method: method,
            run: { bytes, context, interceptors in
                let request = ServerRequest<Input>.decoding(bytes, metadata: context.metadata)
                let response = try await Self.runChain(interceptors[...], request: request, context: context) {
                    request, context in try handler(request, context)
                }
                return OutgoingMessage(response)
            },
            runImmediately: { bytes, context in
                OutgoingMessage(try handler(try ServerRequest<Input>.decoding(bytes, metadata: context.metadata).message, context))
            })
    }

    @inlinable
    static func runChain<Input: Sendable, Output: Sendable>(
        _ interceptors: ArraySlice<any ServerInterceptor>,
        request: ServerRequest<Input>,
        context: ServerContext,
        handler: @escaping @Sendable (Input, ServerContext) async throws -> Output
    ) async throws -> Output {
        guard let first = interceptors.first else {
            return try await handler(try request.message, context)
        }
        let rest = interceptors.dropFirst()
        return try await first.intercept(request: request, context: context) { request, context in
            try await runChain(rest, request: request, context: context, handler: handler)
        }
    }
}
