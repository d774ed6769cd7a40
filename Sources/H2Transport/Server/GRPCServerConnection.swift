import CNGHTTP2
import Logging
import NIOCore
import RPCCore

/// Asks a connection to stop taking new calls (GOAWAY) and close once its calls finish.
struct DrainConnectionEvent: Sendable {}

extension Scheduled: CancellableTimer {
    func cancelTimer() { cancel() }
}

/// One HTTP/2 connection of the gRPC server: bytes in through nghttp2, calls out to handler tasks,
/// responses back through nghttp2. Everything here runs on the channel's event loop.
///
/// Its stored properties (and `ServerStream`'s) skip the runtime's exclusivity checks, which cost
/// ~4% of a core on the call path (a thread-local access set per property touched; health
/// 1.07–1.09x faster without). Both classes are confined to one event loop, and the whole suite
/// ran with the checks on, every property, before they were turned off here: no access overlapped.
/// Keep it so: a callback from nghttp2 must not mutate a property its caller is mutating.
final class GRPCServerConnection: ChannelInboundHandler, NGHTTP2SessionDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let shared: GRPCServer.Shared
    @exclusivity(unchecked) var session: NGHTTP2Session?
    @exclusivity(unchecked) var streams = ServerStreamTable()
    @exclusivity(unchecked) var context: ChannelHandlerContext?
    @exclusivity(unchecked) var executor: EventLoopTaskExecutor?
    @exclusivity(unchecked) var peer = ""
    @exclusivity(unchecked) var reading = false
    @exclusivity(unchecked) var output = OutputBuffer()
    @exclusivity(unchecked) var flushScheduled = false
    @exclusivity(unchecked) var flushing = false
    @exclusivity(unchecked) var draining = false
    @exclusivity(unchecked) var idleTimer: Scheduled<Void>?
    /// Until the client's preface and SETTINGS arrive: a connection that says nothing (or half a
    /// preface) is closed after `prefaceTimeout`, not held as idle for 5 minutes with a slot.
    @exclusivity(unchecked) var prefaceTimer: Scheduled<Void>?
    /// The connection's closing notice is logged (it gets one).
    @exclusivity(unchecked) var noticedClosing = false
    /// The client's first bytes, until its preface is in.
    @exclusivity(unchecked) var firstBytes: [UInt8] = []
    static let firstBytesKept = 256
    @exclusivity(unchecked) var acceptEncodings = RepeatedHeaderValue<CompressionAlgorithm>()
    @exclusivity(unchecked) var paths = RepeatedHeaderValue<String>()
    @exclusivity(unchecked) var lastRoute: Route?
    @exclusivity(unchecked) var authorizations = RepeatedHeaderValue<String>()
    @exclusivity(unchecked) var compressors = ConnectionCompressors()
    @exclusivity(unchecked) var bodySweep: Scheduled<Void>?
    @exclusivity(unchecked) var bodySweepAt: NIODeadline?
    /// Request bytes held by calls not yet dispatched, across the connection's streams.
    @exclusivity(unchecked) var bufferedRequestBytes = 0
    @exclusivity(unchecked) var keepalive = KeepaliveState()
    @exclusivity(unchecked) var maxAgeTimer: Scheduled<Void>?

    init(shared: GRPCServer.Shared) {
        self.shared = shared
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.executor = EventLoopTaskExecutor(loop: context.eventLoop, lifetime: shared.loops)
        self.peer = context.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
        let limits = NGHTTP2Session.Limits(
            maxConcurrentStreams: UInt32(shared.configuration.maxConcurrentStreams),
            maxHeaderListSize: UInt32(shared.configuration.maxHeaderListSize),
            manualFlowControl: true
        )
        session = NGHTTP2Session(role: .server, limits: limits, delegate: self)
        if context.channel.isActive { channelActive(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        flush()
        armIdleTimer()
        armMaxAgeTimer()
        // Once: handlerAdded calls this for a channel already active, and the pipeline may again.
        guard prefaceTimer == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        prefaceTimer = context.eventLoop.scheduleTask(in: Self.prefaceTimeout) {
            let me = bound.value
            guard let context = me.context else { return }
            me.noticePeer(
                "closing a connection that sent no HTTP/2 preface and SETTINGS within \(Self.prefaceTimeout.nanoseconds / 1_000_000_000) s")
            context.close(promise: nil)
        }
    }

    static let prefaceTimeout = TimeAmount.seconds(10)

    func channelInactive(context: ChannelHandlerContext) {
        abandonStreams()
        cancelTimers()
        // Nothing more is written, and no timer armed: a read completed after a reset flushed a
        // pending reply, and its stream's close armed the idle timer again, whose cycle with the
        // connection (see `cancelTimers`) kept it, ~7 KiB, for good.
        self.context = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonStreams()
        cancelTimers()
        session = nil
        self.context = nil
    }

    /// Every timer holds the connection (its closure does, and the connection holds the timer: a
    /// cycle a cancel alone does not break), so each is cancelled and dropped when it goes.
    private func cancelTimers() {
        idleTimer?.cancel()
        idleTimer = nil
        prefaceTimer?.cancel()
        prefaceTimer = nil
        bodySweep?.cancel()
        bodySweep = nil
        keepalive.cancel()
        maxAgeTimer?.cancel()
        maxAgeTimer = nil
    }

    /// The connection is gone: its calls end as the client's reset would end them.
    private func abandonStreams() {
        for stream in streams.values { end(stream) }
        streams.removeAll()
    }

    /// A stream is over, answered or not: a call still running is reported (metrics and the
    /// access log count every call), its work is cancelled and its bytes go back to the
    /// process-wide budget.
    private func end(_ stream: ServerStream) {
        if !stream.responded { reportFinished(stream, code: Self.peerResetCode(deadline: stream.deadline)) }
        stream.cancelWork()
        releaseBuffer(of: stream)
        releaseResponse(of: stream)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        keepalive.peerWasHeard()
        let buffer = unwrapInboundIn(data)
        shared.observer?.bytesReceived(buffer.readableBytes)
        if prefaceTimer != nil, firstBytes.count < Self.firstBytesKept {
            // Until the preface is in, for the notice naming what a client spoke instead.
            firstBytes += buffer.readableBytesView.prefix(Self.firstBytesKept - firstBytes.count)
        }
        reading = true
        let ok = buffer.withUnsafeReadableBytes { session.receive($0) }
        reading = false
        if !ok {
            // nghttp2 (or a callback, through terminate) has queued a GOAWAY; send it, then close.
            if session.receiveFailedOnPreface {
                let spoke = firstBytes.withUnsafeBytes { WrongProtocol.guess(from: $0) }
                noticeClosing(
                    (spoke.map { "the client sent \($0), not HTTP/2" } ?? "the client did not open with the HTTP/2 preface")
                        + "; this port serves gRPC over HTTP/2 without TLS (h2c with prior knowledge)")
            } else {
                // Most protocol errors are told by the GOAWAY they send (`sessionSentErrorGoAway`);
                // these (an outbound flood, say) end the session without one.
                noticeClosing("HTTP/2 error: \(session.receiveErrorDescription ?? "unknown")")
            }
            flush()
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is DrainConnectionEvent {
            beginDrain()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Output

    /// Serializes everything nghttp2 has queued into one write and one flush.
    func flush() {
        // A failing write can re-enter through channelReadComplete while the buffer is in use.
        guard !flushing, let context, let session else { return }
        flushing = true
        let ok = output.flush(session, to: context)
        flushing = false
        if let observer = shared.observer, output.lastFlushBytes > 0 { observer.bytesSent(output.lastFlushBytes) }
        if !ok { context.close(promise: nil) }
    }

    /// Coalesces flushes requested by completed calls into one per event-loop turn.
    func scheduleFlush() {
        guard !reading, !flushScheduled, let context else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.flush()
        }
    }

    /// Graceful GOAWAY in two steps (RFC 9113 §6.8): first a notice naming no stream limit, so
    /// requests already on their way are still served; after a round trip's grace the final
    /// GOAWAY names the last stream processed. A proxy that raced a request onto the connection
    /// then gets it answered instead of refused (nginx turns a refused one into a 502).
    func beginDrain() {
        guard !draining, let session, let context else { return }
        draining = true
        session.submitShutdownNotice()
        flush()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.goAwayNoticeGrace) {
            let me = bound.value
            guard let session = me.session else { return }
            session.submitGoAway()
            me.flush()
        }
    }

    /// How long requests sent before the client saw the GOAWAY notice may still arrive.
    static let goAwayNoticeGrace: TimeAmount = .milliseconds(500)

    func armIdleTimer() {
        idleTimer?.cancel()
        guard let context, streams.isEmpty else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: shared.configuration.idleTimeout) {
            let me = bound.value
            guard me.streams.isEmpty, let context = me.context else { return }
            me.session?.submitGoAway()
            me.flush()
            context.close(promise: nil)
        }
    }

    // MARK: nghttp2 callbacks

    func sessionBeginHeaders(streamID: Int32) -> Bool {
        if streams[streamID] == nil {
            streams.add(ServerStream(id: streamID, maxMessageSize: shared.configuration.maxMessageSize))
            idleTimer?.cancel()
            idleTimer = nil
            armKeepalive()
        }
        return true
    }

    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        guard let stream = streams[streamID] else { return true }
        stream.headerListSize += name.count + value.count + 32
        if stream.headerListSize > shared.configuration.maxHeaderListSize {
            // Past the advertised SETTINGS_MAX_HEADER_LIST_SIZE: treat as abuse, GOAWAY and close.
            session?.terminate(errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
            noticeClosing("a header list over the \(shared.configuration.maxHeaderListSize) bytes it was told (SETTINGS_MAX_HEADER_LIST_SIZE)")
            return false
        }
        if stream.headersComplete { return true }  // request trailers carry nothing we use
        switch RequestHeader(name: name) {
        case .method:
            stream.method = RequestHeader.equal(value, "POST") ? .post : .other(String(decoding: value, as: UTF8.self))
        case .path: stream.path = paths.string(for: value)
        case .contentType: stream.contentType = ContentTypeCheck(value: value)
        // Content codings are case-insensitive (RFC 9110 §8.4.1), as grpc-accept-encoding is read.
        case .encoding: stream.encoding = String(decoding: value, as: UTF8.self).lowercased()
        case .acceptEncoding:
            let listed = acceptEncodings.meaning(of: value) { CompressionAlgorithm.preferred(fromAcceptEncoding: $0) }
            stream.responseCompression = CompressionAlgorithm.preferred(stream.responseCompression, listed)
        case .timeout:
            stream.timeout = GRPCTimeout.parse(bytes: value)
            if stream.timeout == nil { stream.malformedTimeout = String(decoding: value, as: UTF8.self) }
        case .authorization:
            if stream.authorization != nil { stream.authorizationRepeated = true }
            stream.authorization = authorizations.string(for: value)
        case .ignored: break
        case .custom:
            let key = String(decoding: name, as: UTF8.self)
            if Metadata.isReserved(key) { break }
            let text = String(decoding: value, as: UTF8.self)
            if key.hasSuffix("-bin") {
                if let bytes = Base64.decode(text) { stream.metadata.addBinary(bytes, forKey: key) }
            } else {
                stream.metadata.addString(text, forKey: key)
            }
        }
        return true
    }

    func sessionFrameReceived(streamID: Int32, type: UInt8, endStream: Bool) -> Bool {
        guard let stream = streams[streamID] else { return true }
        if type == UInt8(NGHTTP2_HEADERS.rawValue), !stream.headersComplete {
            stream.headersComplete = true
            // Refuse what can be refused from the headers alone, before the body is buffered.
            if let early = validateHeaders(stream) ?? startDeadline(stream) {
                respond(stream, with: early)
                return true
            }
            if let handler = stream.streamingHandler, handler.kind.streamsRequests {
                // Client and bidirectional streams start now and read their messages as they come.
                dispatchStreaming(stream, handler: handler)
            } else if !endStream {
                awaitBody(of: stream)
            }
        }
        if endStream {
            stream.bodyDeadline = nil
            if let call = stream.streaming, call.kind.streamsRequests {
                if !stream.responded { endStreamingRequests(stream, call: call) }
            } else {
                dispatch(stream)
            }
        }
        return true
    }

    /// A client that is going away finishes its calls; nothing changes here.
    func sessionGoAwayReceived() {}

    func sessionSettingsReceived() {
        prefaceTimer?.cancel()
        prefaceTimer = nil
        firstBytes = []  // the client speaks HTTP/2; no connection keeps them after that
    }

    func sessionRefusedPeer(reason: String) {
        noticeClosing(reason)
    }

    func sessionSentErrorGoAway(errorCode: UInt32, reason: String) {
        let code = String(cString: nghttp2_http2_strerror(errorCode))
        noticeClosing(reason.isEmpty ? "sent GOAWAY \(code)" : "\(CallerText.message(reason)) (GOAWAY \(code))")
    }

    /// The one notice of a connection this side ends over what its peer sent.
    func noticeClosing(_ reason: String) {
        guard !noticedClosing else { return }
        noticedClosing = true
        noticePeer("closing connection: \(reason)")
    }

    /// A notice about what one peer did, within the server's budget of such lines.
    func noticePeer(_ message: String, metadata extra: Logger.Metadata = [:]) {
        guard let suppressed = shared.peerNotices.admit() else { return }
        var metadata = extra
        metadata["peer"] = "\(peer)"
        if suppressed > 0 { metadata["notices_left_out"] = "\(suppressed)" }
        shared.logger.notice("\(message)", metadata: metadata)
    }

    func sessionData(streamID: Int32, bytes: UnsafeRawBufferPointer) -> Bool {
        guard let stream = streams[streamID], !stream.responded else {
            session?.consume(streamID: streamID, count: bytes.count)
            return true
        }
        if let call = stream.streaming, call.kind.streamsRequests {
            // Credit goes back as the handler takes messages: an unread stream stops its sender.
            receiveStreamingData(stream, call: call, bytes: bytes)
            return true
        }
        // A unary body is bounded by the budgets below, so its credit goes back at once.
        session?.consume(streamID: streamID, count: bytes.count)
        do throws(RPCError) {
            try reserveRequestBytes(bytes.count, for: stream)
            do {
                try stream.deframer.append(bytes)
            } catch {
                throw error.rpcError
            }
        } catch {
            // Answer now: nothing more of this body is worth buffering.
            respond(stream, with: .grpc(error, acceptEncoding: false))
        }
        return true
    }

    /// Counts `count` received request bytes against the connection's and the server's budgets
    /// (given back by `releaseBuffer` or as a stream's messages are taken).
    func reserveRequestBytes(_ count: Int, for stream: ServerStream) throws(RPCError) {
        if bufferedRequestBytes + count > shared.configuration.maxBufferedRequestBytes {
            throw RPCError(
                code: .resourceExhausted,
                message: "this connection holds more than \(shared.configuration.maxBufferedRequestBytes >> 20) MiB of unfinished requests")
        }
        guard shared.budget.reserveRequestBytes(count) else {
            shared.observer?.callShed(.requestBytes)
            throw RPCError(
                code: .resourceExhausted,
                message: "the server holds more than \(shared.budget.maxBufferedRequestBytes >> 20) MiB of unfinished requests; retry later")
        }
        stream.bufferedBytes += count
        bufferedRequestBytes += count
    }

    /// Gives a stream's request bytes back to the connection's and the server's budgets.
    func releaseBuffer(of stream: ServerStream) {
        bufferedRequestBytes -= stream.bufferedBytes
        shared.budget.releaseRequestBytes(stream.bufferedBytes)
        stream.bufferedBytes = 0
        stream.deframer = GRPCDeframer(limit: 0)
    }

    /// A closed stream's response bytes that were never sent go back to the server's budget.
    func releaseResponse(of stream: ServerStream) {
        shared.budget.releaseResponseBytes(stream.reservedResponseBytes)
        stream.reservedResponseBytes = 0
        stream.sendDeadline = nil
    }

    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.remove(streamID) else { return }
        end(stream)
        if streams.isEmpty {
            // The keepalive timer stays: it finds no call open and stops by itself, which is
            // cheaper than cancelling and rescheduling it on every burst of calls.
            if draining { scheduleFlush() } else { armIdleTimer() }
        }
    }

    /// How a call the client reset (or dropped with its connection) ended. Both ends time the deadline, the client from before it
    /// sent the call, so its reset at the deadline arrives around the server's own expiry: a reset
    /// within `peerDeadlineSlack` of the deadline is the deadline, any other is a cancellation.
    static func peerResetCode(deadline: ContinuousClock.Instant?) -> RPCError.Code {
        guard let deadline, ContinuousClock.now.advanced(by: peerDeadlineSlack) >= deadline else { return .cancelled }
        return .deadlineExceeded
    }

    static let peerDeadlineSlack = Duration.milliseconds(20)

    func sessionReadBody(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool)? {
        guard let stream = streams[streamID] else { return (0, true) }
        if let call = stream.streaming {
            let result = call.read(into: buffer)
            if let result, result.count > 0 { sendProgressed(stream, pending: call.queuedBytes > 0) }
            return result
        }
        let result = stream.body.read(into: buffer)
        if result.eof {
            sendProgressed(stream, pending: false)
            shared.budget.releaseResponseBytes(stream.reservedResponseBytes)
            stream.reservedResponseBytes = 0
        } else if result.count > 0 {
            sendProgressed(stream, pending: true)
        }
        return result
    }

    func sessionBodyEnded(streamID: Int32) {
        guard let stream = streams[streamID] else { return }
        session?.submitTrailers(streamID: streamID, trailers: stream.trailers)
    }

}
