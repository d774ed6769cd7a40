import CNGHTTP2
import NIOCore
import RPCCore

/// The client side of one HTTP/2 connection: submits calls, collects responses. Event-loop bound.
final class GRPCClientConnection: ChannelInboundHandler, NGHTTP2SessionDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let authority: String
    private var session: NGHTTP2Session?
    private var streams: [Int32: ClientStream] = [:]
    private var context: ChannelHandlerContext?
    private var reading = false
    private var output = OutputBuffer()
    private var flushScheduled = false
    /// Calls started since the last flush (see `start`).
    private var unflushedStarts = 0
    /// Past this many started calls, a turn's requests are written at once rather than at its end.
    private static let flushAfterStarts = 16
    private var flushing = false
    /// One timer per connection ends every call whose deadline has passed (a timer per call cost
    /// a scheduled task and its cancellation on every call); it is due at `deadlineSweepAt`.
    private var deadlineSweep: Scheduled<Void>?
    private var deadlineSweepAt: NIODeadline?
    /// Shared with `GRPCClient`, which reads it without hopping to this connection's event loop.
    private let usability: ConnectionUsability
    private var isUsable: Bool {
        get { usability.isUsable }
        set { if !newValue { usability.markUnusable() } }
    }

    /// The server's SETTINGS arrived: it speaks HTTP/2 (see `ClientCallStream.wasAnswered`).
    private(set) var peerSpokeHTTP2 = false
    /// What the server sent that made this side end the session (a flood).
    private var refusal: String?

    init(authority: String, usability: ConnectionUsability) {
        self.authority = authority
        self.usability = usability
    }

    /// The loop this connection lives on (set once the handler is added).
    private(set) var eventLoop: (any EventLoop)?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
        session = NGHTTP2Session(
            role: .client, limits: NGHTTP2Session.Limits(maxConcurrentStreams: 100, manualFlowControl: true), delegate: self)
        if context.channel.isActive { flush() }
    }

    func channelActive(context: ChannelHandlerContext) {
        flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlineSweep?.cancel()
        deadlineSweep = nil
        failAll(RPCError(code: .unavailable, message: "connection closed"))
        session = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        isUsable = false
        failAll(RPCError(code: .unavailable, message: "connection closed by peer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        isUsable = false
        failAll(RPCError(code: .unavailable, message: "connection error: \(error)"))
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        let buffer = unwrapInboundIn(data)
        reading = true
        let ok = buffer.withUnsafeReadableBytes { session.receive($0) }
        reading = false
        if !ok {
            isUsable = false
            let reason = refusal ?? session.receiveErrorDescription ?? "unknown"
            failAll(RPCError(code: .unavailable, message: "closed the connection to the server: \(reason)"))
            flush()
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
    }

    private func failAll(_ error: RPCError) {
        let pending = streams
        streams.removeAll()
        for stream in pending.values { end(stream, with: error) }
    }

    /// Ends a call that is over: the unary promise fails, or the streaming queues do.
    private func end(_ stream: ClientStream, with error: RPCError) {
        stream.closed = true
        stream.promise?.fail(error)
        stream.buffers?.fail(error)
    }

    private func flush() {
        // A failing write can re-enter through channelReadComplete while the buffer is in use.
        guard !flushing, let context, let session else { return }
        flushing = true
        unflushedStarts = 0
        let ok = output.flush(session, to: context)
        flushing = false
        if !ok {
            isUsable = false
            context.close(promise: nil)
        }
    }

    private func scheduleFlush() {
        guard !reading, !flushScheduled, let context else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.flush()
        }
    }

    // MARK: Calls

    /// Starts a call; the promise completes with the response or an `RPCError`.
    func start(
        path: String,
        request: [UInt8],
        options: CallOptions,
        promise: EventLoopPromise<ClientResponse<[UInt8]>>
    ) {
        guard isUsable, session != nil, context != nil else {
            promise.fail(RPCError(code: .unavailable, message: "connection is not usable"))
            return
        }
        var body: [UInt8]
        var compressed = false
        if options.compression != .identity {
            let deflated = request.withUnsafeBytes { try? Zlib.deflate($0, format: options.compression) }
            guard let deflated else {
                promise.fail(RPCError(code: .resourceExhausted, message: "cannot set up \(options.compression.rawValue) compression"))
                return
            }
            body = [UInt8](repeating: 0, count: GRPCFraming.headerSize) + deflated
            compressed = true
        } else {
            body = [UInt8](repeating: 0, count: GRPCFraming.headerSize) + request
        }
        let payloadCount = body.count - GRPCFraming.headerSize
        body.withUnsafeMutableBytes { GRPCFraming.writeHeader(compressed: compressed, length: payloadCount, to: $0.baseAddress!) }

        let stream = ClientStream(promise: promise, requestBody: OutgoingBody(body))
        switch submit(stream, path: path, options: options, compressed: compressed) {
        case .success:
            // When many calls start in one turn (callers resumed by one read), the first is
            // written at once and then every `flushAfterStarts`th, so the server works on them
            // while the rest are still being started (instead of both sides taking turns with
            // whole batches), at one write per several calls. The rest go at the turn's end.
            unflushedStarts += 1
            if !reading, !flushing, unflushedStarts == 1 || unflushedStarts >= Self.flushAfterStarts { flush() }
        case .failure(let error): promise.fail(error)
        }
    }

    /// Starts a streaming call; the promise completes with its stream id once submitted.
    func startStream(path: String, kind: RPCKind, options: CallOptions, promise: EventLoopPromise<ClientStreamHandle>) {
        guard isUsable, context != nil else {
            promise.fail(RPCError(code: .unavailable, message: "connection is not usable"))
            return
        }
        let stream = ClientStream(streaming: kind)
        switch submit(stream, path: path, options: options, compressed: false) {
        case .success(let id): promise.succeed(ClientStreamHandle(connection: self, stream: stream, streamID: id))
        case .failure(let error): promise.fail(error)
        }
    }

    private func submit(
        _ stream: ClientStream, path: String, options: CallOptions, compressed: Bool
    ) -> Result<Int32, RPCError> {
        guard let session, let context else { return .failure(RPCError(code: .unavailable, message: "connection is closed")) }
        var headers = HeaderList(capacity: 10 + options.metadata.count, bytes: 256 + path.utf8.count)
        headers.add(":method", "POST")
        headers.add(":scheme", "http")
        headers.add(":path", path)
        headers.add(":authority", authority)
        headers.add("content-type", "application/grpc")
        headers.add("te", "trailers")
        headers.add("user-agent", "entitlement-swift/1.0")
        if options.acceptsCompressedResponses {
            headers.add("grpc-accept-encoding", CompressionAlgorithm.acceptEncodingHeader)
        }
        if compressed { headers.add("grpc-encoding", options.compression.rawValue) }
        if let timeout = options.timeout { headers.add("grpc-timeout", GRPCTimeout.format(timeout)) }
        for entry in options.metadata where !Metadata.isReserved(entry.key) || entry.key == "authorization" {
            switch entry.value {
            case .string(let s): headers.add(entry.key, s)
            case .binary(let b): headers.add(entry.key, Base64.encode(b))
            }
        }
        let id = session.submitRequest(headers: headers, hasBody: true)
        guard id > 0 else {
            isUsable = false
            return .failure(RPCError(code: .unavailable, message: "could not start a stream (nghttp2 error \(id))"))
        }
        streams[id] = stream
        if let timeout = options.timeout {
            let deadline = NIODeadline.now() + TimeAmount(clamping: timeout)
            stream.deadline = deadline
            scheduleDeadlineSweep(at: deadline, on: context.eventLoop)
        }
        scheduleFlush()
        return .success(id)
    }

    /// Makes sure a sweep runs by `deadline`. Calls of one client mostly share a timeout, so a
    /// later call's deadline is later and needs no timer of its own.
    private func scheduleDeadlineSweep(at deadline: NIODeadline, on loop: any EventLoop) {
        if deadlineSweep != nil, let at = deadlineSweepAt, at <= deadline { return }
        deadlineSweep?.cancel()
        deadlineSweepAt = deadline
        let bound = NIOLoopBound(self, eventLoop: loop)
        deadlineSweep = loop.scheduleTask(deadline: deadline) { bound.value.sweepDeadlines() }
    }

    /// Ends the calls whose deadline has passed and schedules the next sweep, if any is due.
    private func sweepDeadlines() {
        deadlineSweep = nil
        deadlineSweepAt = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        var expired: [Int32] = []
        for (id, stream) in streams {
            guard let deadline = stream.deadline else { continue }
            if deadline <= now { expired.append(id) } else { next = min(next ?? deadline, deadline) }
        }
        for id in expired { cancel(streamID: id, error: RPCError(code: .deadlineExceeded, message: "deadline exceeded")) }
        if let next, let loop = eventLoop { scheduleDeadlineSweep(at: next, on: loop) }
    }

    /// Abandons a call (deadline or task cancellation): RST_STREAM CANCEL and fail the call.
    func cancel(streamID: Int32, error: RPCError) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        session?.resetStream(streamID, errorCode: NGHTTP2_CANCEL.rawValue)
        end(stream, with: error)
        scheduleFlush()
    }

    /// Finds the stream a promise belongs to (for cancellation by the caller's task).
    func streamID(for promise: EventLoopPromise<ClientResponse<[UInt8]>>) -> Int32? {
        streams.first { $0.value.promise?.futureResult === promise.futureResult }?.key
    }

    // MARK: Streaming calls (on the loop, from ClientStreamHandle)

    func enqueueSend(_ stream: ClientStream, streamID: Int32, framed: [UInt8], writer: CheckedContinuation<Void, any Error>) {
        guard let buffers = stream.buffers, !stream.closed, !buffers.finished else {
            writer.resume(throwing: RPCError(code: .cancelled, message: "the call has ended or was half-closed"))
            return
        }
        buffers.enqueue(framed, writer: writer)
        session?.resumeData(streamID: streamID)
        scheduleFlush()
    }

    func closeSend(_ stream: ClientStream, streamID: Int32) {
        guard let buffers = stream.buffers, !stream.closed, !buffers.finished else { return }
        buffers.finished = true
        session?.resumeData(streamID: streamID)
        scheduleFlush()
    }

    func take(_ stream: ClientStream, streamID: Int32, reader: CheckedContinuation<[UInt8]?, any Error>) {
        guard let buffers = stream.buffers else {
            reader.resume(returning: nil)
            return
        }
        let credit = buffers.take(reader: reader)
        if credit > 0, !stream.closed {
            session?.consume(streamID: streamID, count: credit)
            scheduleFlush()
        }
    }

    // MARK: nghttp2 callbacks

    func sessionBeginHeaders(streamID: Int32) -> Bool { true }

    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        streams[streamID]?.addHeader(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
        return true
    }

    func sessionFrameReceived(streamID: Int32, type: UInt8, endStream: Bool) -> Bool {
        if type == UInt8(NGHTTP2_HEADERS.rawValue) { streams[streamID]?.headerBlocksSeen += 1 }
        return true
    }

    func sessionSettingsReceived() { peerSpokeHTTP2 = true }

    func sessionRefusedPeer(reason: String) { refusal = "the server sent \(reason)" }

    func sessionSentErrorGoAway(errorCode: UInt32, reason: String) {}

    static let refusedUnseen = RPCError(
        code: .unavailable,
        message: "the server refused the call before processing it (REFUSED_STREAM, after a GOAWAY); it had no effect, retry")

    /// A graceful GOAWAY (a proxy's request limit, the server's connection age or shutdown):
    /// calls already taken finish here, new ones go to a new connection.
    func sessionGoAwayReceived() { isUsable = false }

    func sessionData(streamID: Int32, bytes: UnsafeRawBufferPointer) -> Bool {
        guard let stream = streams[streamID], stream.failure == nil else {
            session?.consume(streamID: streamID, count: bytes.count)
            return true
        }
        if let buffers = stream.buffers {
            // Credit goes back as the caller takes messages: an unread stream stops the server.
            do throws(RPCError) {
                let credit = try buffers.receive(bytes) { message throws(RPCError) in try stream.decodeMessage(message) }
                session?.consume(streamID: streamID, count: credit)
            } catch {
                stream.failure = error
                session?.consume(streamID: streamID, count: buffers.unconsumedBytes)
                cancel(streamID: streamID, error: error)
            }
            return true
        }
        session?.consume(streamID: streamID, count: bytes.count)
        do {
            try stream.deframer.append(bytes)
        } catch {
            stream.failure = RPCError(code: .resourceExhausted, message: "response message too large: \(error)")
        }
        return true
    }

    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        stream.closed = true
        if let buffers = stream.buffers {
            // Messages already received are still read; then the status.
            let error = stream.refusedUnseen(errorCode) ? Self.refusedUnseen : stream.statusError(streamErrorCode: errorCode)
            buffers.stopSending(error ?? RPCError(code: .cancelled, message: "the call has ended"))
            buffers.endIncoming(error: error)
            return
        }
        if stream.refusedUnseen(errorCode) {
            // Safe to send again, on another connection.
            stream.promise?.fail(StreamRefused())
            return
        }
        switch stream.result(streamErrorCode: errorCode) {
        case .success(let response): stream.promise?.succeed(response)
        case .failure(let error): stream.promise?.fail(error)
        }
    }

    func sessionReadBody(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool)? {
        guard let stream = streams[streamID] else { return (0, true) }
        if let buffers = stream.buffers { return buffers.read(into: buffer) }
        return stream.requestBody.read(into: buffer)
    }

    func sessionBodyEnded(streamID: Int32) {}
}
