import CNGHTTP2
import NIOCore
import RPCCore

/// One outstanding call on a client connection: unary (a promise for the one response) or
/// streaming (message queues both ways). Lives on the connection's event loop.
final class ClientStream {
    /// The unary call's response; nil for a streaming call.
    let promise: EventLoopPromise<ClientResponse<[UInt8]>>?
    var requestBody: OutgoingBody
    /// A streaming call's queues; nil for a unary call.
    let buffers: StreamBuffers?
    /// A streaming call is closed (the handle may outlive the connection's record of it).
    var closed = false

    var httpStatus: Int?
    var responseEncoding: String?
    var headers = Metadata()
    var trailers = Metadata()
    var grpcStatus: Int?
    var grpcMessage: String?
    var headerBlocksSeen = 0
    var deframer = GRPCDeframer(limit: GRPCFraming.maxMessageSize, maxMessages: 1)
    var failure: RPCError?
    /// When the call's deadline passes (the connection's sweep ends it then).
    var deadline: NIODeadline?

    init(promise: EventLoopPromise<ClientResponse<[UInt8]>>, requestBody: OutgoingBody) {
        self.promise = promise
        self.requestBody = requestBody
        self.buffers = nil
    }

    init(streaming kind: RPCKind) {
        self.promise = nil
        self.requestBody = OutgoingBody()
        self.buffers = StreamBuffers(kind: kind, maxMessageSize: GRPCFraming.maxMessageSize)
    }

    /// A streaming response message's bytes, inflated if it is flagged compressed.
    func decodeMessage(_ message: FramedMessage) throws(RPCError) -> [UInt8] {
        guard message.compressed else { return message.bytes }
        guard let name = responseEncoding, let algorithm = CompressionAlgorithm(rawValue: name), algorithm != .identity else {
            throw RPCError(code: .internalError, message: "compressed response without a usable grpc-encoding")
        }
        do {
            return try Zlib.inflate(message.bytes, format: algorithm, limit: GRPCFraming.maxMessageSize)
        } catch {
            throw RPCError(code: .resourceExhausted, message: "response could not be decompressed: \(error)")
        }
    }

    /// How the call ended, from its status (nil: OK).
    func statusError(streamErrorCode: UInt32) -> RPCError? {
        if let failure { return failure }
        guard let grpcStatus else {
            if let httpStatus, httpStatus != 200 {
                return RPCError(code: Self.code(forHTTPStatus: httpStatus), message: "HTTP status \(httpStatus)")
            }
            if streamErrorCode != 0 {
                return RPCError(
                    code: Self.code(forResetCode: streamErrorCode),
                    message: "stream reset by server (HTTP/2 error \(String(cString: nghttp2_http2_strerror(streamErrorCode))))")
            }
            return RPCError(code: .internalError, message: "response ended without grpc-status")
        }
        let code = RPCError.Code(rawValue: grpcStatus)
        return code == .ok ? nil : RPCError(code: code, message: grpcMessage ?? "", metadata: trailers)
    }

    /// The status of a stream the server reset before its trailers, as gRPC maps HTTP/2 error
    /// codes (PROTOCOL-HTTP2.md, "Errors").
    static func code(forResetCode code: UInt32) -> RPCError.Code {
        switch code {
        case NGHTTP2_REFUSED_STREAM.rawValue: .unavailable
        case NGHTTP2_CANCEL.rawValue: .cancelled
        case NGHTTP2_ENHANCE_YOUR_CALM.rawValue: .resourceExhausted
        case NGHTTP2_INADEQUATE_SECURITY.rawValue: .permissionDenied
        default: .internalError
        }
    }

    /// Records one response header; the first block is headers, a later one trailers.
    func addHeader(name: String, value: String) {
        switch name {
        case ":status": httpStatus = Int(value)
        case "grpc-status": grpcStatus = Int(value)
        case "grpc-message": grpcMessage = PercentEncoding.decode(value)
        case "grpc-encoding": responseEncoding = value
        default:
            guard !Metadata.isReserved(name) else { return }
            let entry: Metadata.Value
            if name.hasSuffix("-bin") {
                guard let bytes = Base64.decode(value) else { return }
                entry = .binary(bytes)
            } else {
                entry = .string(value)
            }
            if headerBlocksSeen == 0 { headers.add(entry, forKey: name) } else { trailers.add(entry, forKey: name) }
        }
    }

    /// The call's outcome once the stream has closed.
    func result(streamErrorCode: UInt32) -> Result<ClientResponse<[UInt8]>, RPCError> {
        if let error = statusError(streamErrorCode: streamErrorCode) { return .failure(error) }
        let messages: [FramedMessage]
        do {
            messages = try deframer.finish()
        } catch {
            return .failure(RPCError(code: .internalError, message: "response body is malformed: \(error)"))
        }
        guard messages.count == 1, let message = messages.first else {
            return .failure(RPCError(code: .internalError, message: "unary response carried \(messages.count) messages"))
        }
        var bytes = message.bytes
        if message.compressed {
            guard let name = responseEncoding, let algorithm = CompressionAlgorithm(rawValue: name), algorithm != .identity else {
                return .failure(RPCError(code: .internalError, message: "compressed response without a usable grpc-encoding"))
            }
            do {
                bytes = try Zlib.inflate(message.bytes, format: algorithm, limit: GRPCFraming.maxMessageSize)
            } catch {
                return .failure(RPCError(code: .resourceExhausted, message: "response could not be decompressed: \(error)"))
            }
        }
        return .success(ClientResponse(message: bytes, headers: headers, trailers: trailers))
    }

    /// The gRPC spec's mapping for responses that carry no grpc-status.
    static func code(forHTTPStatus status: Int) -> RPCError.Code {
        switch status {
        case 400: .internalError
        case 401: .unauthenticated
        case 403: .permissionDenied
        case 404: .unimplemented
        case 429, 502, 503, 504: .unavailable
        default: .unknown
        }
    }
}

extension ClientStream {
    /// Whether the stream ended refused before the server saw it: REFUSED_STREAM with no
    /// response header (past a GOAWAY's last stream, or unsent when the GOAWAY came).
    func refusedUnseen(_ streamErrorCode: UInt32) -> Bool {
        streamErrorCode == NGHTTP2_REFUSED_STREAM.rawValue && headerBlocksSeen == 0
    }
}

/// The server refused a stream before processing it (`ClientStream.refusedUnseen`): the call had
/// no effect and may be sent again.
struct StreamRefused: Error {}
