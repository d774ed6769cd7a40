import NIOCore
import RPCCore

/// One request stream on a server connection, from HEADERS to stream close. Lives on the
/// connection's event loop only.
final class ServerStream {
    let id: Int32
    var method = RequestMethod.missing
    var path: String?
    var contentType = ContentTypeCheck.missing
    var encoding: String?
    /// What the response may be compressed with, from `grpc-accept-encoding`.
    var responseCompression = CompressionAlgorithm.identity
    var timeout: Duration?
    /// The raw `grpc-timeout` value when it could not be parsed.
    var malformedTimeout: String?
    var authorization: String?
    var metadata = Metadata()
    var headerListSize = 0
    var headersComplete = false

    var deframer: GRPCDeframer
    var responded = false

    var task: Task<Void, Never>?
    /// From `grpc-timeout`, counted from when the request headers arrived.
    var deadline: ContinuousClock.Instant?
    var deadlineTimer: (any CancellableTimer)?
    /// When the request body must have arrived (slow or stalled peers); nil once it has.
    var bodyDeadline: NIODeadline?
    /// Request bytes received and still held for this call (counted against the connection's budget).
    var bufferedBytes = 0
    /// When the peer must next have taken response bytes (it stops reading: the stream is reset);
    /// nil while nothing is waiting to be sent.
    var sendDeadline: NIODeadline?
    /// Response bytes of this call counted against the server's budget until sent.
    var reservedResponseBytes = 0

    /// The framed response body, taken by nghttp2 piece by piece.
    var body = OutgoingBody()
    var trailers = HeaderList()

    /// The method and kind once `:path` resolved (for metrics and the access log).
    var observed: (method: MethodDescriptor, kind: RPCKind)?
    /// When the call started, once it did; nil until then.
    var startedAt: ContinuousClock.Instant?
    var reported = false
    var messagesReceived = 0
    var messagesSent = 0
    var requestMessageBytes = 0
    var responseMessageBytes = 0
    /// The call's context, once dispatched (its annotations name the caller).
    var annotations: CallAnnotations?

    /// Set at the headers when `:path` names a streaming method.
    var streamingHandler: StreamingMethodHandler?
    /// The unary method's handler, found once when the headers are checked.
    var unaryHandler: UnaryMethodHandler?
    /// The running streaming call, once dispatched.
    var streaming: StreamBuffers?
    /// Response metadata of a streaming call's handler (headers go out with the first message).
    var responseMetadata = ResponseMetadata()

    init(id: Int32, maxMessageSize: Int) {
        self.id = id
        self.deframer = GRPCDeframer(limit: maxMessageSize, maxMessages: 1)
    }

    func cancelWork() {
        task?.cancel()
        task = nil
        streaming?.fail(CancellationError())
        deadlineTimer?.cancelTimer()
        deadlineTimer = nil
    }
}

enum RequestMethod {
    case missing
    case post
    case other(String)
}

/// A scheduled timer that can be cancelled (NIO's `Scheduled`, erased).
protocol CancellableTimer {
    func cancelTimer()
}
