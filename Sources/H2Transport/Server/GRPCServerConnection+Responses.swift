import NIOCore
import RPCCore

/// Responses: a message with headers and trailers, or a header-only (Trailers-Only or HTTP) error.
extension GRPCServerConnection {
    func respond(_ stream: ServerStream, message: OutgoingMessage, response: ResponseMetadata) {
        let size = message.messageSize
        guard size <= shared.configuration.maxMessageSize else {
            let error = RPCError(code: .resourceExhausted, message: "response of \(size) bytes exceeds the 4 MiB message limit")
            respond(stream, with: .grpc(error, acceptEncoding: false))
            return
        }
        let compressed = compressedFrame(of: message, with: stream.responseCompression)
        let body = compressed ?? message.framed
        let algorithm = compressed == nil ? CompressionAlgorithm.identity : stream.responseCompression
        if !shared.budget.reserveResponseBytes(body.count) {
            guard stream.context?.isIrrevocable == true else {
                let error = RPCError(
                    code: .resourceExhausted,
                    message: "the server holds more than \(shared.budget.maxQueuedResponseBytes >> 20) MiB of responses its callers have not read; retry later")
                shared.observer?.callShed(.responseBytes)
                respond(stream, with: .grpc(error, acceptEncoding: false))
                return
            }
            // The change was made: "retry later" would have the caller make it again.
            shared.budget.reserveResponseBytesRegardless(body.count)
        }
        stream.reservedResponseBytes = body.count
        awaitSend(of: stream)

        var headers = ResponseHeaders.success(compression: algorithm)
        Self.add(response.headers, to: &headers)
        var trailers = ResponseHeaders.okTrailers
        Self.add(response.trailers, to: &trailers)

        stream.responded = true
        stream.body = OutgoingBody(body)
        stream.trailers = trailers
        session?.submitResponse(streamID: stream.id, headers: headers, hasBody: true)
        stream.messagesSent = 1
        stream.responseMessageBytes = size
        reportFinished(stream, code: .ok)
    }

    /// `message` as a compressed frame, when the caller accepts `algorithm`, the message is at
    /// least the compression threshold and compressing it pays off; nil otherwise (it goes out as
    /// it is). Compression is an offer, not a duty: without a compressor the message goes out plain.
    func compressedFrame(of message: OutgoingMessage, with algorithm: CompressionAlgorithm) -> [UInt8]? {
        guard algorithm != .identity, message.messageSize >= shared.configuration.compressionThreshold,
            let deflater = try? compressors.deflater(for: algorithm)
        else { return nil }
        let headroom = GRPCFraming.headerSize
        var compressed = message.framed.withUnsafeBytes {
            deflater.compress(UnsafeRawBufferPointer(rebasing: $0[headroom...]), headroom: headroom)
        }
        guard compressed.count < message.framed.count else { return nil }
        let length = compressed.count - headroom
        compressed.withUnsafeMutableBytes { GRPCFraming.writeHeader(compressed: true, length: length, to: $0.baseAddress!) }
        return compressed
    }

    /// Answers without a body: an HTTP error, or gRPC Trailers-Only (one HEADERS frame with END_STREAM).
    func respond(_ stream: ServerStream, with early: EarlyResponse) {
        if let call = stream.streaming, call.headersSent, case .grpc(let error, _) = early {
            // Messages have gone out: the status can only come in the trailers now, after the
            // messages already queued.
            reportFinished(stream, code: error.code, error: error)
            call.close(with: error)
            stream.task?.cancel()
            stream.task = nil
            stream.deadlineTimer?.cancelTimer()
            stream.deadlineTimer = nil
            endStreamingBody(stream, call: call, trailers: Self.trailers(for: error))
            return
        }
        stream.responded = true
        stream.cancelWork()
        releaseBuffer(of: stream)
        // A call refused before it reached a method (not POST, not gRPC, an unknown path) is
        // reported too, under one "unknown" method: the access log shows it, and the metrics
        // count it without a series per path a caller makes up.
        if stream.observed == nil { stream.observed = (Self.unroutedCall, .unary) }
        switch early {
        case .grpc(let error, _):
            reportFinished(stream, code: error.code, error: error)
        case .http(let status, let message):
            let code: RPCError.Code = status == 415 ? .internalError : .unimplemented
            reportFinished(stream, code: code, error: RPCError(code: code, message: message))
        }
        var headers = HeaderList()
        switch early {
        case .http(let status, let message):
            headers.add(":status", String(status))
            headers.add("content-type", "text/plain")
            // gRPC clients map the HTTP status themselves (415 → INTERNAL, 405 → UNIMPLEMENTED);
            // the matching grpc-status and a message help clients that read them, and humans.
            headers.add("grpc-status", String(status == 415 ? RPCError.Code.internalError.rawValue : RPCError.Code.unimplemented.rawValue))
            headers.add("grpc-message", Self.grpcMessage(message))
        case .grpc(let error, let acceptEncoding):
            headers.add(":status", "200")
            headers.add("content-type", "application/grpc")
            headers.add("grpc-status", String(error.code.rawValue))
            headers.add("grpc-message", Self.grpcMessage(error.message))
            if acceptEncoding { headers.add("grpc-accept-encoding", CompressionAlgorithm.acceptEncodingHeader) }
            Self.add(error.metadata, to: &headers)
        }
        session?.submitResponse(streamID: stream.id, headers: headers, hasBody: false)
    }

    // MARK: Helpers

    /// The trailers of a call that ends with `error` after its response headers went out.
    static func trailers(for error: RPCError) -> HeaderList {
        var trailers = HeaderList()
        trailers.add("grpc-status", String(error.code.rawValue))
        trailers.add("grpc-message", grpcMessage(error.message))
        add(error.metadata, to: &trailers)
        return trailers
    }

    static func add(_ metadata: Metadata, to headers: inout HeaderList) {
        for entry in metadata where !Metadata.isReserved(entry.key) {
            switch entry.value {
            case .string(let s): headers.add(entry.key, s)
            case .binary(let b): headers.add(entry.key, Base64.encode(b))
            }
        }
    }

    /// Every `grpc-message` goes through here: messages may quote what the caller sent (a path, a
    /// header, an id of megabytes), and a header past the peer's limit gets the stream reset
    /// instead of the status delivered.
    static func grpcMessage(_ message: String) -> String {
        PercentEncoding.encode(CallerText.message(message))
    }

    static let deadlineExceeded = RPCError(code: .deadlineExceeded, message: "deadline exceeded")
    static let deadlineExceededMidChange = RPCError(
        code: .deadlineExceeded,
        message: "deadline exceeded while the call's change was being committed; it may have been applied: "
            + "list or watch before retrying")

    /// What a call whose deadline passed is told: whether its handler had begun a change.
    static func deadlineExceeded(_ stream: ServerStream) -> RPCError {
        stream.context?.isIrrevocable == true ? deadlineExceededMidChange : deadlineExceeded
    }

    static func unimplemented(path: String?) -> RPCError {
        RPCError(code: .unimplemented, message: "unknown method \(path.map { CallerText.clean($0) } ?? "(no :path)")")
    }

    /// What a call that reached no method is reported as.
    static let unroutedCall = MethodDescriptor(service: "unknown", method: "unknown")
}
