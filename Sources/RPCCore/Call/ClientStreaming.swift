public import ProtoWire

/// One open streaming call as a transport gives it to generated clients: encoded messages out
/// (each `send` waits for the server's flow-control window), encoded messages in, and the end.
public protocol ClientCallStream: Sendable {
    /// Sends one request message; throws once the call is over.
    func send(_ message: [UInt8]) async throws
    /// Half-closes: no more request messages.
    func closeSend() async
    /// The next response message; nil when the call ended OK. A non-OK end throws its `RPCError`.
    /// Taking a message returns its flow-control credit, so an unread stream stops the server.
    func receive() async throws -> [UInt8]?
    /// Ends the call from this side (RST_STREAM CANCEL); pending and later operations throw.
    func cancel()
    /// The response headers, once they arrived (empty before).
    func responseHeaders() async -> Metadata
    /// The response trailers, once the call ended (empty before).
    func responseTrailers() async -> Metadata
    /// Whether the peer answered at all: it spoke HTTP/2 on the connection (its SETTINGS), or
    /// sent this call's response headers. A call whose deadline passed with neither never reached
    /// a gRPC server (a port that accepts connections and says nothing, say).
    func wasAnswered() async -> Bool
}

extension ClientCallStream {
    public func wasAnswered() async -> Bool { true }
}

extension ClientTransport {
    /// Typed server streaming: sends `request`, half-closes, and yields the responses.
    public func serverStreaming<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: MethodDescriptor,
        request: Request,
        responseType: Response.Type = Response.self,
        options: CallOptions = CallOptions()
    ) async throws -> ResponseStream<Response> {
        let call = try await openStream(method: method, options: options)
        do {
            try await call.send(request.serializedBytes())
        } catch {
            call.cancel()
            throw error
        }
        await call.closeSend()
        return ResponseStream(call: call)
    }

    /// Typed client or bidirectional streaming: the call, ready to send on.
    public func streaming<Request: ProtoMessage, Response: ProtoMessage>(
        _ method: MethodDescriptor,
        requestType: Request.Type = Request.self,
        responseType: Response.Type = Response.self,
        options: CallOptions = CallOptions()
    ) async throws -> StreamingCall<Request, Response> {
        StreamingCall(call: try await openStream(method: method, options: options))
    }
}

/// Response messages of a streaming call, in order; iteration ends when the call ends OK and
/// throws its `RPCError` otherwise. Cancelling the iterating task cancels the call.
public struct ResponseStream<Message: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    public let call: any ClientCallStream

    public init(call: any ClientCallStream) {
        self.call = call
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let call: any ClientCallStream

        public mutating func next() async throws -> Message? {
            let call = self.call
            let bytes = try await withTaskCancellationHandler {
                try await call.receive()
            } onCancel: {
                call.cancel()
            }
            guard let bytes else { return nil }
            do {
                return try Message(serializedBytes: bytes)
            } catch {
                call.cancel()
                throw RPCError(code: .internalError, message: "response is not a valid \(Message.self) message: \(error)")
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(call: call) }

    /// Ends the call from the client side.
    public func cancel() { call.cancel() }
}

/// A client- or bidirectional-streaming call: send requests, then read the response(s).
public struct StreamingCall<Request: ProtoMessage, Response: ProtoMessage>: Sendable {
    public let call: any ClientCallStream

    public init(call: any ClientCallStream) {
        self.call = call
    }

    /// Sends one request; waits while the server's window is full.
    public func send(_ message: Request) async throws {
        try await call.send(message.serializedBytes())
    }

    /// No more requests.
    public func closeSend() async {
        await call.closeSend()
    }

    /// The responses (bidirectional streaming).
    public var responses: ResponseStream<Response> { ResponseStream(call: call) }

    /// Half-closes and waits for the one response (client streaming).
    public func finish() async throws -> Response {
        await call.closeSend()
        var responses = ResponseStream<Response>(call: call).makeAsyncIterator()
        guard let response = try await responses.next() else {
            throw RPCError(code: .internalError, message: "the call ended without a response message")
        }
        while try await responses.next() != nil {
            // A client-streaming call has one response; extra ones are a server fault.
            throw RPCError(code: .internalError, message: "the call returned more than one response message")
        }
        return response
    }

    public func cancel() { call.cancel() }
}
