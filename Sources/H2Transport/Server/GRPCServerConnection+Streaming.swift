import CNGHTTP2
import NIOCore
import RPCCore

/// Streaming calls: server streaming starts once its one request message is in (like unary);
/// client and bidirectional streaming start at the request headers and read messages as they
/// arrive. Responses go out through a bounded queue that nghttp2 drains as the peer's window
/// allows; trailers follow when the handler returns.
extension GRPCServerConnection {
    func dispatchStreaming(_ stream: ServerStream, handler: StreamingMethodHandler) {
        guard !stream.responded, stream.streaming == nil, let context, let executor else { return }
        markStarted(stream)
        let request: StreamingRequest
        let call = StreamBuffers(kind: handler.kind, maxMessageSize: shared.configuration.maxMessageSize)
        if handler.kind.streamsRequests {
            request = .stream(ServerCallStream(connection: self, loop: context.eventLoop, streamID: stream.id))
        } else {
            do {
                let single = try decodeRequest(stream)
                stream.messagesReceived = 1
                stream.requestMessageBytes = single.count
                request = .single(single)
                releaseBuffer(of: stream)
            } catch {
                respond(stream, with: .grpc(error, acceptEncoding: false))
                return
            }
        }
        // Streams are counted, not shed here: a watch lives long, and its service caps watchers.
        guard admit(stream, limited: false) else { return }
        stream.streaming = call

        let callContext = makeContext(for: stream, method: handler.method)
        stream.responseMetadata = callContext.response
        let sink = ServerCallStream(connection: self, loop: context.eventLoop, streamID: stream.id)
        let interceptors = shared.interceptors
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let id = stream.id
        let loop = context.eventLoop
        let budget = shared.budget
        let lifetime = shared.loops
        stream.task = Task.immediate(executorPreference: executor) {
            defer { budget.finishCall(limited: false) }
            let failure: (any Error)?
            do {
                try await handler.handle(request: request, context: callContext, interceptors: interceptors, responses: sink)
                failure = nil
            } catch {
                failure = error
            }
            if loop.inEventLoop {
                bound.value.completeStreaming(streamID: id, failure: failure)
            } else if !lifetime.isStopped {
                loop.execute { bound.value.completeStreaming(streamID: id, failure: failure) }
            }
        }
    }

    /// The handler returned (OK) or threw: the trailers go out after what is queued.
    func completeStreaming(streamID: Int32, failure: (any Error)?) {
        guard let stream = streams[streamID], !stream.responded, let call = stream.streaming else { return }
        stream.task = nil
        stream.deadlineTimer?.cancelTimer()
        stream.deadlineTimer = nil
        var error = failure.map { RPCError(mapping: $0) }
        if error == nil, let deadline = stream.deadline, ContinuousClock.now >= deadline {
            error = Self.deadlineExceeded
        }
        if var error {
            for entry in stream.responseMetadata.trailers { error.metadata.add(entry.value, forKey: entry.key) }
            respond(stream, with: .grpc(error, acceptEncoding: false))
            scheduleFlush()
            return
        }
        var trailers = ResponseHeaders.okTrailers
        Self.add(stream.responseMetadata.trailers, to: &trailers)
        reportFinished(stream, code: .ok)
        endStreamingBody(stream, call: call, trailers: trailers)
        scheduleFlush()
    }

    /// Marks the body complete; nghttp2 sends what is queued, then `trailers` (END_STREAM).
    func endStreamingBody(_ stream: ServerStream, call: StreamBuffers, trailers: HeaderList) {
        stream.responded = true
        stream.trailers = trailers
        call.finished = true
        sendHeadersIfNeeded(stream, call: call)
        session?.resumeData(streamID: stream.id)
    }

    private func sendHeadersIfNeeded(_ stream: ServerStream, call: StreamBuffers) {
        guard !call.headersSent else { return }
        call.headersSent = true
        // The caller's accepted encoding is announced for the whole stream; each message is then
        // compressed or not (its flag says which), as it pays off.
        var headers = ResponseHeaders.success(compression: stream.responseCompression)
        Self.add(stream.responseMetadata.headers, to: &headers)
        session?.submitResponse(streamID: stream.id, headers: headers, hasBody: true)
    }

    /// The handler's early response headers, on the loop (see `ResponseStreamWriter.sendHeaders`).
    func sendResponseHeaders(streamID: Int32) {
        guard let stream = streams[streamID], !stream.responded, let call = stream.streaming else { return }
        sendHeadersIfNeeded(stream, call: call)
        scheduleFlush()
    }

    /// A response message from the handler's task, on the loop: queued, and the writer resumed
    /// once there is room.
    func enqueueResponse(streamID: Int32, message: OutgoingMessage, writer: CheckedContinuation<Void, any Error>) {
        guard let stream = streams[streamID], !stream.responded, let call = stream.streaming else {
            writer.resume(throwing: RPCError(code: .cancelled, message: "the call has ended"))
            return
        }
        sendHeadersIfNeeded(stream, call: call)
        stream.messagesSent += 1
        stream.responseMessageBytes += message.messageSize
        call.enqueue(compressedFrame(of: message, with: stream.responseCompression) ?? message.framed, writer: writer)
        awaitSend(of: stream)
        session?.resumeData(streamID: streamID)
        scheduleFlush()
    }

    /// The handler asks for the next request message, on the loop.
    func takeRequest(streamID: Int32, reader: CheckedContinuation<[UInt8]?, any Error>) {
        guard let stream = streams[streamID], let call = stream.streaming else {
            reader.resume(throwing: RPCError(code: .cancelled, message: "the call has ended"))
            return
        }
        let credit = call.take(reader: reader)
        stream.messagesReceived = call.messagesTaken
        releaseTakenRequestBytes(of: stream, call: call)
        if credit > 0 {
            session?.consume(streamID: streamID, count: credit)
            scheduleFlush()
        }
    }

    /// Request DATA of a client- or bidirectional-streaming call. Returns false if the call failed.
    func receiveStreamingData(_ stream: ServerStream, call: StreamBuffers, bytes: UnsafeRawBufferPointer) {
        do throws(RPCError) {
            // Held request bytes count against the same budgets as unary bodies: credit for a
            // partial message goes back at once, so flow control alone would not bound them.
            try reserveRequestBytes(bytes.count, for: stream)
            let credit = try call.receive(bytes) { message throws(RPCError) in try decodeMessage(message, of: stream) }
            releaseTakenRequestBytes(of: stream, call: call)
            session?.consume(streamID: stream.id, count: credit)
        } catch {
            session?.consume(streamID: stream.id, count: call.unconsumedBytes)
            stream.cancelWork()
            respond(stream, with: .grpc(error, acceptEncoding: false))
        }
    }

    /// Taken messages' wire bytes leave the connection's and the server's budgets.
    private func releaseTakenRequestBytes(of stream: ServerStream, call: StreamBuffers) {
        let freed = min(call.takeFreedWireBytes(), stream.bufferedBytes)
        guard freed > 0 else { return }
        stream.bufferedBytes -= freed
        bufferedRequestBytes -= freed
        shared.budget.releaseRequestBytes(freed)
    }

    /// The caller half-closed a client- or bidirectional-streaming call.
    func endStreamingRequests(_ stream: ServerStream, call: StreamBuffers) {
        do throws(RPCError) {
            try call.endRequests()
        } catch {
            stream.cancelWork()
            respond(stream, with: .grpc(error, acceptEncoding: false))
        }
    }
}

/// The handler's end of one streaming call: response sink and request source. Every operation
/// hops to the connection's event loop (a no-op hop when the task already runs there, as it does
/// by preference).
struct ServerCallStream: ResponseStreamSink, RequestStreamSource {
    let bound: NIOLoopBound<GRPCServerConnection>
    let loop: any EventLoop
    let streamID: Int32
    let maxMessageSize: Int

    init(connection: GRPCServerConnection, loop: any EventLoop, streamID: Int32) {
        self.bound = NIOLoopBound(connection, eventLoop: loop)
        self.loop = loop
        self.streamID = streamID
        self.maxMessageSize = connection.shared.configuration.maxMessageSize
    }

    func write(_ message: OutgoingMessage) async throws {
        let size = message.messageSize
        guard size <= maxMessageSize else {
            throw RPCError(code: .resourceExhausted, message: "response of \(size) bytes exceeds the 4 MiB message limit")
        }
        try await withCheckedThrowingContinuation { (writer: CheckedContinuation<Void, any Error>) in
            if loop.inEventLoop {
                bound.value.enqueueResponse(streamID: streamID, message: message, writer: writer)
            } else {
                let bound = self.bound
                let id = streamID
                loop.execute { bound.value.enqueueResponse(streamID: id, message: message, writer: writer) }
            }
        }
    }

    func sendHeaders() async {
        if loop.inEventLoop {
            bound.value.sendResponseHeaders(streamID: streamID)
        } else {
            let bound = self.bound
            let id = streamID
            loop.execute { bound.value.sendResponseHeaders(streamID: id) }
        }
    }

    func next() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (reader: CheckedContinuation<[UInt8]?, any Error>) in
            if loop.inEventLoop {
                bound.value.takeRequest(streamID: streamID, reader: reader)
            } else {
                let bound = self.bound
                let id = streamID
                loop.execute { bound.value.takeRequest(streamID: id, reader: reader) }
            }
        }
    }
}
