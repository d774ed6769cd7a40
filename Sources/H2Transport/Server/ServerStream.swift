import NIOCore
import RPCCore

/// One request stream on a server connection, from HEADERS to stream close. Lives on the
/// connection's event loop only (hence no runtime exclusivity checks: see GRPCServerConnection).
final class ServerStream {
    let id: Int32
    @exclusivity(unchecked) var method = RequestMethod.missing
    @exclusivity(unchecked) var path: String?
    @exclusivity(unchecked) var contentType = ContentTypeCheck.missing
    @exclusivity(unchecked) var encoding: String?
    /// What the response may be compressed with, from `grpc-accept-encoding`.
    @exclusivity(unchecked) var responseCompression = CompressionAlgorithm.identity
    @exclusivity(unchecked) var timeout: Duration?
    /// The raw `grpc-timeout` value when it could not be parsed.
    @exclusivity(unchecked) var malformedTimeout: String?
    @exclusivity(unchecked) var authorization: String?
    /// A second `authorization` header arrived (the interceptor refuses the call).
    @exclusivity(unchecked) var authorizationRepeated = false
    @exclusivity(unchecked) var metadata = Metadata()
    @exclusivity(unchecked) var headerListSize = 0
    @exclusivity(unchecked) var headersComplete = false

    @exclusivity(unchecked) var deframer: GRPCDeframer
    @exclusivity(unchecked) var responded = false

    @exclusivity(unchecked) var task: Task<Void, Never>?
    /// From `grpc-timeout`, counted from when the request headers arrived.
    @exclusivity(unchecked) var deadline: ContinuousClock.Instant?
    @exclusivity(unchecked) var deadlineTimer: (any CancellableTimer)?
    /// When the request body must have arrived (slow or stalled peers); nil once it has.
    @exclusivity(unchecked) var bodyDeadline: NIODeadline?
    /// Request bytes received and still held for this call (counted against the connection's budget).
    @exclusivity(unchecked) var bufferedBytes = 0
    /// When the peer must next have taken response bytes (it stops reading: the stream is reset);
    /// nil while nothing is waiting to be sent.
    @exclusivity(unchecked) var sendDeadline: NIODeadline?
    /// Response bytes of this call counted against the server's budget until sent.
    @exclusivity(unchecked) var reservedResponseBytes = 0

    /// The framed response body, taken by nghttp2 piece by piece.
    @exclusivity(unchecked) var body = OutgoingBody()
    @exclusivity(unchecked) var trailers = HeaderList()

    /// The method and kind once `:path` resolved (for metrics and the access log).
    @exclusivity(unchecked) var observed: (method: MethodDescriptor, kind: RPCKind)?
    /// When the call started, once it did; nil until then.
    @exclusivity(unchecked) var startedAt: ContinuousClock.Instant?
    @exclusivity(unchecked) var reported = false
    @exclusivity(unchecked) var messagesReceived = 0
    @exclusivity(unchecked) var messagesSent = 0
    @exclusivity(unchecked) var requestMessageBytes = 0
    @exclusivity(unchecked) var responseMessageBytes = 0
    /// The call's context, once dispatched: its annotations name the caller, and its handler
    /// marks an irrevocable change under way.
    @exclusivity(unchecked) var context: ServerContext?

    /// Set at the headers when `:path` names a streaming method.
    @exclusivity(unchecked) var streamingHandler: StreamingMethodHandler?
    /// The unary method's handler, found once when the headers are checked.
    @exclusivity(unchecked) var unaryHandler: UnaryMethodHandler?
    /// The unary handler is run on the loop, without a task (`Route.answersImmediately`).
    @exclusivity(unchecked) var answersImmediately = false
    /// The running streaming call, once dispatched.
    @exclusivity(unchecked) var streaming: StreamBuffers?
    /// Response metadata of a streaming call's handler (headers go out with the first message).
    @exclusivity(unchecked) var responseMetadata = ResponseMetadata()

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
