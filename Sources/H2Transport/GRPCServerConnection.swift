import CNGHTTP2
import Logging
import NIOCore
import ProtoWire
import RPCCore

/// Asks a connection to stop taking new calls (GOAWAY) and close once its calls finish.
struct DrainConnectionEvent: Sendable {}

extension Scheduled: CancellableTimer {
    func cancelTimer() { cancel() }
}

/// One HTTP/2 connection of the gRPC server: bytes in through nghttp2, calls out to handler tasks,
/// responses back through nghttp2. Everything here runs on the channel's event loop.
final class GRPCServerConnection: ChannelInboundHandler, NGHTTP2SessionDelegate {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let shared: GRPCServer.Shared
    private var session: NGHTTP2Session?
    private var streams: [Int32: ServerStream] = [:]
    private var context: ChannelHandlerContext?
    private var executor: EventLoopTaskExecutor?
    private var peer = ""
    private var reading = false
    private var output = OutputBuffer()
    private var flushScheduled = false
    private var draining = false
    private var idleTimer: Scheduled<Void>?
    private var controlFrames = ControlFrameBudget()
    private var acceptEncodings = AcceptEncodingCache()
    /// One compressor per algorithm, made on first use and reset between responses.
    private var deflaters: [Deflater] = []
    private var bodySweep: Scheduled<Void>?
    /// Request bytes held by calls not yet dispatched, across the connection's streams.
    private var bufferedRequestBytes = 0

    init(shared: GRPCServer.Shared) {
        self.shared = shared
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.executor = EventLoopTaskExecutor(loop: context.eventLoop)
        self.peer = context.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
        let limits = NGHTTP2Session.Limits(
            maxConcurrentStreams: UInt32(shared.configuration.maxConcurrentStreams),
            maxHeaderListSize: UInt32(shared.configuration.maxHeaderListSize)
        )
        session = NGHTTP2Session(role: .server, limits: limits, delegate: self)
        if context.channel.isActive { channelActive(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        flush()
        armIdleTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        for stream in streams.values { stream.cancelWork() }
        streams.removeAll()
        idleTimer?.cancel()
        bodySweep?.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        for stream in streams.values { stream.cancelWork() }
        streams.removeAll()
        session = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        let buffer = unwrapInboundIn(data)
        reading = true
        let ok = buffer.withUnsafeReadableBytes { session.receive($0) }
        reading = false
        if !ok {
            // nghttp2 (or a callback, through terminate) has queued a GOAWAY; send it, then close.
            shared.logger.debug("closing connection after HTTP/2 protocol error", metadata: ["peer": "\(peer)"])
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
    private func flush() {
        guard let context, let session else { return }
        var buffer = output.take(allocator: context.channel.allocator)
        let ok = session.drainOutput { bytes in buffer.writeBytes(bytes) }
        if buffer.readableBytes > 0 {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        output.keep(buffer)
        if !ok || !session.wantsIO {
            context.close(promise: nil)
        }
    }

    /// Coalesces flushes requested by completed calls into one per event-loop turn.
    private func scheduleFlush() {
        guard !reading, !flushScheduled, let context else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.flush()
        }
    }

    private func beginDrain() {
        guard !draining, let session else { return }
        draining = true
        session.submitGoAway()
        flush()
    }

    private func armIdleTimer() {
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
            streams[streamID] = ServerStream(id: streamID, maxMessageSize: shared.configuration.maxMessageSize)
            idleTimer?.cancel()
            idleTimer = nil
        }
        return true
    }

    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        guard let stream = streams[streamID] else { return true }
        stream.headerListSize += name.count + value.count + 32
        if stream.headerListSize > shared.configuration.maxHeaderListSize {
            // Past the advertised SETTINGS_MAX_HEADER_LIST_SIZE: treat as abuse, GOAWAY and close.
            session?.terminate(errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
            return false
        }
        if stream.headersComplete { return true }  // request trailers carry nothing we use
        switch RequestHeader(name: name) {
        case .method:
            stream.method = RequestHeader.equal(value, "POST") ? .post : .other(String(decoding: value, as: UTF8.self))
        case .path: stream.path = String(decoding: value, as: UTF8.self)
        case .contentType: stream.contentType = ContentTypeCheck(value: value)
        case .encoding: stream.encoding = String(decoding: value, as: UTF8.self)
        case .acceptEncoding: stream.responseCompression = acceptEncodings.preferred(for: value)
        case .timeout:
            stream.timeout = GRPCTimeout.parse(bytes: value)
            if stream.timeout == nil { stream.malformedTimeout = String(decoding: value, as: UTF8.self) }
        case .authorization: stream.authorization = String(decoding: value, as: UTF8.self)
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
            if !endStream { awaitBody(of: stream) }
        }
        if endStream {
            stream.bodyDeadline = nil
            dispatch(stream)
        }
        return true
    }

    func sessionControlFrame(type: UInt8) -> Bool {
        if controlFrames.admit(now: .now()) { return true }
        shared.logger.notice("closing connection: PING/SETTINGS flood", metadata: ["peer": "\(peer)"])
        return false
    }

    func sessionData(streamID: Int32, bytes: UnsafeRawBufferPointer) -> Bool {
        guard let stream = streams[streamID], !stream.responded else { return true }
        if bufferedRequestBytes + bytes.count > shared.configuration.maxBufferedRequestBytes {
            let error = RPCError(
                code: .resourceExhausted,
                message: "this connection holds more than \(shared.configuration.maxBufferedRequestBytes >> 20) MiB of unfinished requests")
            respond(stream, with: .grpc(error, acceptEncoding: false))
            return true
        }
        do {
            try stream.deframer.append(bytes)
            stream.bufferedBytes += bytes.count
            bufferedRequestBytes += bytes.count
        } catch {
            // Answer now: nothing more of this body is worth buffering.
            respond(stream, with: .grpc(error.rpcError, acceptEncoding: false))
        }
        return true
    }

    private func deflater(for algorithm: CompressionAlgorithm) -> Deflater {
        if let existing = deflaters.first(where: { $0.format == algorithm }) { return existing }
        let made = Deflater(format: algorithm)
        deflaters.append(made)
        return made
    }

    /// Gives a stream's request bytes back to the connection's budget.
    private func releaseBuffer(of stream: ServerStream) {
        bufferedRequestBytes -= stream.bufferedBytes
        stream.bufferedBytes = 0
        stream.deframer = GRPCDeframer(limit: 0)
    }

    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        stream.cancelWork()
        releaseBuffer(of: stream)
        if streams.isEmpty {
            if draining { scheduleFlush() } else { armIdleTimer() }
        }
    }

    func sessionReadBody(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool)? {
        guard let stream = streams[streamID] else { return (0, true) }
        let count = min(buffer.count, stream.body.count - stream.bodyOffset)
        stream.body.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + stream.bodyOffset, byteCount: count)
        }
        stream.bodyOffset += count
        let eof = stream.bodyOffset == stream.body.count
        if eof { stream.body = [] }
        return (count, eof)
    }

    func sessionBodyEnded(streamID: Int32) {
        guard let stream = streams[streamID] else { return }
        session?.submitTrailers(streamID: streamID, trailers: stream.trailers)
    }

    // MARK: Calls

    private enum EarlyResponse {
        case http(status: Int, message: String)
        case grpc(RPCError, acceptEncoding: Bool)
    }

    private func validateHeaders(_ stream: ServerStream) -> EarlyResponse? {
        switch stream.method {
        case .post: break
        case .missing: return .http(status: 405, message: "gRPC requires POST, got no method")
        case .other(let method): return .http(status: 405, message: "gRPC requires POST, got \(method)")
        }
        switch stream.contentType {
        case .grpc: break
        case .missing:
            return .http(status: 415, message: "content-type must be application/grpc or application/grpc+proto, got none")
        case .other(let value):
            return .http(status: 415, message: "content-type must be application/grpc or application/grpc+proto, got \(value)")
        }
        guard let path = stream.path, shared.router.handler(forPath: path) != nil else {
            return .grpc(Self.unimplemented(path: stream.path), acceptEncoding: false)
        }
        if let encoding = stream.encoding, CompressionAlgorithm(rawValue: encoding) == nil {
            let error = RPCError(
                code: .unimplemented,
                message: "grpc-encoding \"\(encoding)\" is not supported; use one of \(CompressionAlgorithm.acceptEncodingHeader)"
            )
            return .grpc(error, acceptEncoding: true)
        }
        return nil
    }

    /// A peer that opens a call and never finishes its body would hold the stream (and the
    /// connection, which is not idle) forever; the call ends after `requestBodyTimeout`. One sweep
    /// timer per connection serves every stream, so a call costs no timer of its own.
    private func awaitBody(of stream: ServerStream) {
        stream.bodyDeadline = .now() + shared.configuration.requestBodyTimeout
        if bodySweep == nil { scheduleBodySweep(at: stream.bodyDeadline!) }
    }

    private func scheduleBodySweep(at deadline: NIODeadline) {
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        bodySweep = context.eventLoop.scheduleTask(deadline: deadline) { bound.value.sweepStalledBodies() }
    }

    private func sweepStalledBodies() {
        bodySweep = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        for stream in streams.values {
            guard let deadline = stream.bodyDeadline, !stream.responded else { continue }
            if deadline <= now {
                stream.bodyDeadline = nil
                let error = RPCError(code: .cancelled, message: "the request body did not arrive in time")
                respond(stream, with: .grpc(error, acceptEncoding: false))
            } else {
                next = min(next ?? deadline, deadline)
            }
        }
        if let next { scheduleBodySweep(at: next) }
        scheduleFlush()
    }

    /// The deadline runs from the request headers, so a slow or stalled body counts against it.
    private func startDeadline(_ stream: ServerStream) -> EarlyResponse? {
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

    private func dispatch(_ stream: ServerStream) {
        guard !stream.responded, let context, let executor else { return }
        guard let path = stream.path, let handler = shared.router.handler(forPath: path) else {
            respond(stream, with: .grpc(Self.unimplemented(path: stream.path), acceptEncoding: false))
            return
        }
        let request: [UInt8]
        do {
            request = try decodeRequest(stream)
            releaseBuffer(of: stream)
        } catch {
            respond(stream, with: .grpc(error, acceptEncoding: false))
            return
        }

        if let deadline = stream.deadline, ContinuousClock.now >= deadline {
            // Already too late: do not start work the caller has given up on.
            respond(stream, with: .grpc(Self.deadlineExceeded, acceptEncoding: false))
            return
        }

        let callContext = ServerContext(
            method: handler.method,
            metadata: stream.metadata,
            authorization: stream.authorization,
            peer: peer,
            deadline: stream.deadline
        )
        let interceptors = shared.interceptors
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let id = stream.id
        let loop = context.eventLoop
        // Starts inline: a handler that never suspends (health) completes without a job hop.
        stream.task = Task.immediate(executorPreference: executor) {
            let result: Result<any ProtoMessage, any Error>
            do {
                result = .success(try await handler.handle(request: request, context: callContext, interceptors: interceptors))
            } catch {
                result = .failure(error)
            }
            // The task prefers the loop's executor, so it usually ends on the loop already.
            if loop.inEventLoop {
                bound.value.complete(streamID: id, result: result, response: callContext.response)
            } else {
                loop.execute { bound.value.complete(streamID: id, result: result, response: callContext.response) }
            }
        }
    }

    /// Splits the body into exactly one message and inflates it if needed (bounded by the limit).
    private func decodeRequest(_ stream: ServerStream) throws(RPCError) -> [UInt8] {
        let messages: [FramedMessage]
        do {
            messages = try stream.deframer.finish()
        } catch {
            throw error.rpcError
        }
        guard messages.count == 1, let message = messages.first else {
            throw RPCError(
                code: .unimplemented,
                message: "a unary call carries exactly one request message, got \(messages.count == 0 ? "none" : "more than one")"
            )
        }
        guard message.compressed else { return message.bytes }
        guard let name = stream.encoding, let algorithm = CompressionAlgorithm(rawValue: name), algorithm != .identity else {
            throw RPCError(code: .internalError, message: "message is flagged compressed but the call has no grpc-encoding")
        }
        do {
            return try Zlib.inflate(message.bytes, format: algorithm, limit: shared.configuration.maxMessageSize)
        } catch {
            throw error.rpcError
        }
    }

    private func deadlineExpired(streamID: Int32) {
        guard let stream = streams[streamID], !stream.responded else { return }
        stream.deadlineTimer = nil
        stream.cancelWork()
        respond(stream, with: .grpc(Self.deadlineExceeded, acceptEncoding: false))
        scheduleFlush()
    }

    private func complete(streamID: Int32, result: Result<any ProtoMessage, any Error>, response: ResponseMetadata) {
        guard let stream = streams[streamID], !stream.responded else { return }
        stream.task = nil
        stream.deadlineTimer?.cancelTimer()
        stream.deadlineTimer = nil
        if let deadline = stream.deadline, ContinuousClock.now >= deadline {
            // The timer has not run yet, but the caller has already given up.
            respond(stream, with: .grpc(Self.deadlineExceeded, acceptEncoding: false))
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

    private func respond(_ stream: ServerStream, message: any ProtoMessage, response: ResponseMetadata) {
        let headroom = GRPCFraming.headerSize
        var body = message.serializedBytes(headroom: headroom)
        let size = body.count - headroom
        guard size <= shared.configuration.maxMessageSize else {
            let error = RPCError(code: .resourceExhausted, message: "response of \(size) bytes exceeds the 4 MiB message limit")
            respond(stream, with: .grpc(error, acceptEncoding: false))
            return
        }
        var algorithm = stream.responseCompression
        if size < shared.configuration.compressionThreshold { algorithm = .identity }
        if algorithm != .identity {
            let compressed = body.withUnsafeBytes {
                deflater(for: algorithm).compress(UnsafeRawBufferPointer(rebasing: $0[headroom...]), headroom: headroom)
            }
            // Only when it pays off: a response that does not shrink goes out as it is.
            if compressed.count < body.count { body = compressed } else { algorithm = .identity }
        }
        let length = body.count - headroom
        body.withUnsafeMutableBytes {
            GRPCFraming.writeHeader(compressed: algorithm != .identity, length: length, to: $0.baseAddress!)
        }

        var headers = ResponseHeaders.success(compression: algorithm)
        Self.add(response.headers, to: &headers)
        var trailers = ResponseHeaders.okTrailers
        Self.add(response.trailers, to: &trailers)

        stream.responded = true
        stream.body = body
        stream.bodyOffset = 0
        stream.trailers = trailers
        session?.submitResponse(streamID: stream.id, headers: headers, hasBody: true)
    }

    /// Answers without a body: an HTTP error, or gRPC Trailers-Only (one HEADERS frame with END_STREAM).
    private func respond(_ stream: ServerStream, with early: EarlyResponse) {
        stream.responded = true
        stream.cancelWork()
        releaseBuffer(of: stream)
        var headers = HeaderList()
        switch early {
        case .http(let status, let message):
            headers.add(":status", String(status))
            headers.add("content-type", "text/plain")
            // gRPC clients map HTTP statuses themselves; the status fields help humans and proxies.
            headers.add("grpc-status", String(status == 415 ? RPCError.Code.internalError.rawValue : RPCError.Code.unimplemented.rawValue))
            headers.add("grpc-message", PercentEncoding.encode(message))
        case .grpc(let error, let acceptEncoding):
            headers.add(":status", "200")
            headers.add("content-type", "application/grpc")
            headers.add("grpc-status", String(error.code.rawValue))
            headers.add("grpc-message", PercentEncoding.encode(error.message))
            if acceptEncoding { headers.add("grpc-accept-encoding", CompressionAlgorithm.acceptEncodingHeader) }
            Self.add(error.metadata, to: &headers)
        }
        session?.submitResponse(streamID: stream.id, headers: headers, hasBody: false)
    }

    // MARK: Helpers

    private static func add(_ metadata: Metadata, to headers: inout HeaderList) {
        for entry in metadata where !Metadata.isReserved(entry.key) {
            switch entry.value {
            case .string(let s): headers.add(entry.key, s)
            case .binary(let b): headers.add(entry.key, Base64.encode(b))
            }
        }
    }

    private static let deadlineExceeded = RPCError(code: .deadlineExceeded, message: "deadline exceeded")

    private static func unimplemented(path: String?) -> RPCError {
        RPCError(code: .unimplemented, message: "unknown method \(path ?? "(no :path)")")
    }
}
