import CNGHTTP2
import NIOCore
import RPCCore

/// A call's life on the server: checks on the headers, deadlines, stalled bodies, dispatch to the
/// handler task and its completion.
extension GRPCServerConnection {
    /// The least time a call must have left when it is dispatched to be worth running.
    static let minimumUsefulBudget = Duration.milliseconds(1)

    enum EarlyResponse {
        case http(status: Int, message: String)
        case grpc(RPCError, acceptEncoding: Bool)
    }

    func validateHeaders(_ stream: ServerStream) -> EarlyResponse? {
        switch stream.method {
        case .post: break
        case .missing: return .http(status: 405, message: "gRPC requires POST, got no method")
        case .other(let method): return .http(status: 405, message: "gRPC requires POST, got \(CallerText.clean(method))")
        }
        switch stream.contentType {
        case .grpc: break
        case .missing:
            return .http(status: 415, message: "content-type must be application/grpc or application/grpc+proto, got none")
        case .other(let value):
            return .http(
                status: 415, message: "content-type must be application/grpc or application/grpc+proto, got \(CallerText.clean(value))")
        }
        guard let path = stream.path else {
            return .grpc(Self.unimplemented(path: stream.path), acceptEncoding: false)
        }
        let route = route(for: path)
        if let unary = route.unary {
            stream.unaryHandler = unary
            stream.answersImmediately = route.answersImmediately
            stream.observed = (unary.method, .unary)
        } else if let streaming = route.streaming {
            stream.streamingHandler = streaming
            stream.observed = (streaming.method, streaming.kind)
        } else {
            return .grpc(Self.unimplemented(path: stream.path), acceptEncoding: false)
        }
        if let encoding = stream.encoding, CompressionAlgorithm(rawValue: encoding) == nil {
            let error = RPCError(
                code: .unimplemented,
                message: "grpc-encoding \"\(CallerText.clean(encoding))\" is not supported; use one of \(CompressionAlgorithm.acceptEncodingHeader)"
            )
            return .grpc(error, acceptEncoding: true)
        }
        return nil
    }

    /// What serves one `:path`: a unary handler, a streaming one, or neither (UNIMPLEMENTED).
    /// A class, so keeping and handing out the last one is a retain, not a copy of both handlers.
    final class Route {
        let path: String
        let unary: UnaryMethodHandler?
        let streaming: StreamingMethodHandler?
        /// The unary handler never suspends and no interceptor intercepts it: it is answered on
        /// the event loop, without a task.
        let answersImmediately: Bool

        init(path: String, unary: UnaryMethodHandler?, streaming: StreamingMethodHandler?, interceptors: [any ServerInterceptor]) {
            self.path = path
            self.unary = unary
            self.streaming = streaming
            answersImmediately = unary.map { unary in
                unary.answersImmediately && !interceptors.contains { $0.intercepts(unary.method) }
            } ?? false
        }
    }

    /// The handlers for `path`. A connection's calls mostly repeat one method, and `paths` hands
    /// back the same `String` for a repeated path, so the last lookup is kept: a repeat compares
    /// two references instead of hashing the path.
    func route(for path: String) -> Route {
        if let lastRoute, lastRoute.path == path { return lastRoute }
        let router = shared.router
        let route = Route(
            path: path, unary: router.handler(forPath: path), streaming: router.streamingHandler(forPath: path),
            interceptors: shared.interceptors)
        lastRoute = route
        return route
    }

    /// A peer that opens a call and never finishes its body would hold the stream (and the
    /// connection, which is not idle) forever; the call ends after `requestBodyTimeout`. One sweep
    /// timer per connection serves every stream, so a call costs no timer of its own.
    func awaitBody(of stream: ServerStream) {
        let deadline = NIODeadline.now() + shared.configuration.requestBodyTimeout
        stream.bodyDeadline = deadline
        scheduleBodySweep(at: deadline)
    }

    /// Makes sure a sweep runs by `deadline` (one timer per connection, moved earlier if needed).
    func scheduleBodySweep(at deadline: NIODeadline) {
        guard let context else { return }
        if bodySweep != nil, let at = bodySweepAt, at <= deadline { return }
        bodySweep?.cancel()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        bodySweepAt = deadline
        bodySweep = context.eventLoop.scheduleTask(deadline: deadline) { bound.value.sweepStalledBodies() }
    }

    /// Response bytes are waiting for the peer: it must take some before `responseSendTimeout`.
    func awaitSend(of stream: ServerStream) {
        guard stream.sendDeadline == nil else { return }
        let deadline = NIODeadline.now() + shared.configuration.responseSendTimeout
        stream.sendDeadline = deadline
        scheduleBodySweep(at: deadline)
    }

    /// The peer took response bytes (or all of them): its send deadline moves on (or goes).
    func sendProgressed(_ stream: ServerStream, pending: Bool) {
        stream.sendDeadline = pending ? .now() + shared.configuration.responseSendTimeout : nil
    }

    /// Ends calls whose request body stalls and calls whose peer stopped reading the response;
    /// one sweep per connection serves every stream.
    func sweepStalledBodies() {
        bodySweep = nil
        bodySweepAt = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        var stalledReaders: [ServerStream] = []
        for stream in streams.values {
            if let deadline = stream.sendDeadline {
                if deadline <= now {
                    stalledReaders.append(stream)
                } else {
                    next = min(next ?? deadline, deadline)
                }
            }
            guard let deadline = stream.bodyDeadline, !stream.responded else { continue }
            if deadline <= now {
                stream.bodyDeadline = nil
                let error = RPCError(code: .cancelled, message: "the request body did not arrive in time")
                respond(stream, with: .grpc(error, acceptEncoding: false))
            } else {
                next = min(next ?? deadline, deadline)
            }
        }
        for stream in stalledReaders {
            // The peer keeps its window shut: reset the stream rather than hold its response.
            // ENHANCE_YOUR_CALM is what gRPC clients report as RESOURCE_EXHAUSTED (the status a
            // reader too slow for its buffer gets, and trailers cannot pass a shut window).
            // Its access line says what the call ended with; an answer already complete stays OK there.
            noticePeer(
                "resetting a stream whose peer stopped reading its response",
                metadata: ["grpc.method": "\(CallerText.clean(stream.path ?? "-"))", "stream": "\(stream.id)"])
            stream.sendDeadline = nil
            shared.observer?.callShed(.stalledReader)
            reportFinished(stream, code: .resourceExhausted, error: Self.stoppedReading(after: shared.configuration.responseSendTimeout))
            stream.cancelWork()
            session?.resetStream(stream.id, errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        }
        if let next { scheduleBodySweep(at: next) }
        scheduleFlush()
    }

    static func stoppedReading(after timeout: TimeAmount) -> RPCError {
        RPCError(
            code: .resourceExhausted,
            message: "the caller took none of its response for \(timeout.nanoseconds / 1_000_000) ms; the stream was reset (ENHANCE_YOUR_CALM)")
    }

    /// The deadline runs from the request headers, so a slow or stalled body counts against it.
    func startDeadline(_ stream: ServerStream) -> EarlyResponse? {
        if let header = stream.malformedTimeout {
            return .grpc(RPCError(code: .internalError, message: "malformed grpc-timeout \"\(header)\""), acceptEncoding: false)
        }
        guard let timeout = stream.timeout, let context else { return nil }
        stream.deadline = ContinuousClock.now.advanced(by: timeout)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let id = stream.id
        stream.deadlineTimer = context.eventLoop.scheduleTask(in: TimeAmount(clamping: timeout)) {
            bound.value.deadlineExpired(streamID: id)
        }
        return nil
    }

    func dispatch(_ stream: ServerStream) {
        guard !stream.responded, let context, let executor else { return }
        if let streaming = stream.streamingHandler {
            dispatchStreaming(stream, handler: streaming)
            return
        }
        guard let handler = stream.unaryHandler else {
            respond(stream, with: .grpc(Self.unimplemented(path: stream.path), acceptEncoding: false))
            return
        }
        markStarted(stream)
        let request: [UInt8]
        do {
            request = try decodeRequest(stream)
            releaseBuffer(of: stream)
        } catch {
            respond(stream, with: .grpc(error, acceptEncoding: false))
            return
        }
        stream.messagesReceived = 1
        stream.requestMessageBytes = request.count
        // Health checks are never shed: a probe must see a busy server as alive.
        let limited = !handler.isExemptFromAdmission
        guard admit(stream, limited: limited) else { return }

        let callContext = makeContext(for: stream, method: handler.method)
        if stream.answersImmediately {
            // Never suspends, and no interceptor wants it (health checks): answered now, on the
            // loop, without the task (and its allocations) an async handler needs.
            let result = Result<OutgoingMessage, any Error> {
                try handler.handleImmediately(request: request, context: callContext)
            }
            complete(streamID: stream.id, result: result, response: callContext.response)
            shared.budget.finishCall(limited: limited)
            return
        }
        let interceptors = shared.interceptors
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let id = stream.id
        let loop = context.eventLoop
        let budget = shared.budget
        let lifetime = shared.loops
        // Starts inline: a handler that never suspends (health) completes without a job hop.
        stream.task = Task.immediate(executorPreference: executor) {
            // Every admitted call gives its slot back exactly once, however the handler ends;
            // shutdown waits for these before it stops the loops.
            defer { budget.finishCall(limited: limited) }
            let result: Result<OutgoingMessage, any Error>
            do {
                result = .success(try await handler.handle(request: request, context: callContext, interceptors: interceptors))
            } catch {
                result = .failure(error)
            }
            // The task prefers the loop's executor, so it usually ends on the loop already.
            if loop.inEventLoop {
                bound.value.complete(streamID: id, result: result, response: callContext.response)
            } else if !lifetime.isStopped {
                loop.execute { bound.value.complete(streamID: id, result: result, response: callContext.response) }
            }
            // Otherwise the loops are gone, and with them the connection this call answered on.
        }
    }

    /// The checks every call passes before its handler starts: time left, and a slot under the
    /// server's concurrency bound. False when the call has been answered instead.
    func admit(_ stream: ServerStream, limited: Bool) -> Bool {
        if let deadline = stream.deadline, ContinuousClock.now.advanced(by: Self.minimumUsefulBudget) > deadline {
            // Too late to be of use: clients round tiny deadlines up to the header's unit
            // (grpcio sends `1m` for 1 µs), so a call with under a millisecond left would answer
            // a caller that has already given up. Do not start the work.
            respond(stream, with: .grpc(Self.deadlineExceeded, acceptEncoding: false))
            return false
        }

        guard shared.budget.admitCall(limited: limited) else {
            shared.observer?.callShed(.concurrentCalls)
            // Admission control: past the bound, shed at once (the caller retries with backoff)
            // rather than queue work that would only answer after the caller gave up.
            let error = RPCError(
                code: .resourceExhausted,
                message: "the server is at its limit of \(shared.budget.maxConcurrentCalls) concurrent calls; retry with backoff")
            respond(stream, with: .grpc(error, acceptEncoding: false))
            return false
        }
        return true
    }

    /// The context a handler sees; the stream keeps its annotations for the access log.
    func makeContext(for stream: ServerStream, method: MethodDescriptor) -> ServerContext {
        let context = ServerContext(
            method: method,
            metadata: stream.metadata,
            authorization: stream.authorization,
            authorizationRepeated: stream.authorizationRepeated,
            peer: peer,
            deadline: stream.deadline,
            annotations: shared.observer == nil ? nil : CallAnnotations()
        )
        stream.context = context
        return context
    }

    /// The call of a known method starts now (metrics count it, the access log times it).
    func markStarted(_ stream: ServerStream) {
        guard let observer = shared.observer, stream.startedAt == nil, let observed = stream.observed else { return }
        stream.startedAt = .now
        observer.callStarted(observed.method, kind: observed.kind)
    }

    /// The call was answered with `code`: reported once, for calls of known methods.
    /// - Parameter error: what the caller was sent, when the call failed with a status of its own.
    func reportFinished(_ stream: ServerStream, code: RPCError.Code, error: RPCError? = nil) {
        guard !stream.reported, let observed = stream.observed, let observer = shared.observer else { return }
        markStarted(stream)
        stream.reported = true
        if let call = stream.streaming, observed.kind.streamsRequests {
            // Counted as the handler took them; a message handed to a waiting reader is taken too.
            stream.messagesReceived = call.messagesTaken
            stream.requestMessageBytes = call.messageBytesTaken
        }
        observer.callFinished(
            CallSummary(
                method: observed.method, kind: observed.kind, code: code,
                duration: ContinuousClock.now - (stream.startedAt ?? .now),
                messagesReceived: stream.messagesReceived, messagesSent: stream.messagesSent,
                requestBytes: stream.requestMessageBytes, responseBytes: stream.responseMessageBytes,
                peer: peer, traceparent: stream.metadata["traceparent"], callerId: stream.context?.annotations?.callerId,
                error: error, forwardedFor: stream.metadata.joinedStrings(forKey: "x-forwarded-for")))
    }

    /// Splits the body into exactly one message and inflates it if needed (bounded by the limit).
    func decodeRequest(_ stream: ServerStream) throws(RPCError) -> [UInt8] {
        let messages: [FramedMessage]
        do {
            messages = try stream.deframer.finish()
        } catch {
            throw error.rpcError
        }
        guard messages.count == 1, let message = messages.first else {
            throw RPCError(
                code: .unimplemented,
                message:
                    "a unary or server-streaming call carries exactly one request message, got \(messages.count == 0 ? "none" : "more than one")"
            )
        }
        return try decodeMessage(message, of: stream)
    }

    /// A request message's bytes, inflated if it is flagged compressed (bounded by the limit).
    func decodeMessage(_ message: FramedMessage, of stream: ServerStream) throws(RPCError) -> [UInt8] {
        guard message.compressed else { return message.bytes }
        guard let name = stream.encoding, let algorithm = CompressionAlgorithm(rawValue: name), algorithm != .identity else {
            throw RPCError(code: .internalError, message: "message is flagged compressed but the call has no grpc-encoding")
        }
        do {
            return try compressors.inflater(for: algorithm).inflate(message.bytes, limit: shared.configuration.maxMessageSize)
        } catch {
            throw error.rpcError
        }
    }

    func deadlineExpired(streamID: Int32) {
        guard let stream = streams[streamID], !stream.responded else { return }
        stream.deadlineTimer = nil
        stream.cancelWork()
        respond(stream, with: .grpc(Self.deadlineExceeded(stream), acceptEncoding: false))
        scheduleFlush()
    }

    func complete(streamID: Int32, result: Result<OutgoingMessage, any Error>, response: ResponseMetadata) {
        guard let stream = streams[streamID], !stream.responded else { return }
        stream.task = nil
        stream.deadlineTimer?.cancelTimer()
        stream.deadlineTimer = nil
        if let deadline = stream.deadline, ContinuousClock.now >= deadline,
            !(stream.context?.isIrrevocable == true && result.isSuccess)
        {
            // The timer has not run yet, but the caller has already given up. (A change that
            // committed is answered as it is: it was made, and "deadline exceeded" would hide it.)
            respond(stream, with: .grpc(Self.deadlineExceeded(stream), acceptEncoding: false))
            scheduleFlush()
            return
        }
        switch result {
        case .success(let message):
            respond(stream, message: message, response: response)
        case .failure(let error):
            var rpcError = RPCError(mapping: error)
            for entry in response.trailers { rpcError.metadata.add(entry.value, forKey: entry.key) }
            respond(stream, with: .grpc(rpcError, acceptEncoding: false))
        }
        scheduleFlush()
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { true } else { false }
    }
}
