import Synchronization

/// What a server reports about its calls, for metrics and access logs. Called on the
/// connection's event loop: implementations must be quick and must not block. Class-bound, so
/// handing one around the per-call path is a retain, not a copy of its fields.
public protocol CallObserver: AnyObject, Sendable {
    /// A call of a known method is about to run (or be answered before it runs).
    func callStarted(_ method: MethodDescriptor, kind: RPCKind)
    /// The call was answered; once per started call.
    func callFinished(_ summary: CallSummary)
    /// A call or connection was refused by one of the server's limits.
    func callShed(_ reason: ShedReason)
    /// Bytes read from or written to a connection.
    func bytesReceived(_ count: Int)
    func bytesSent(_ count: Int)
}

/// One finished call, as the access log and the metrics see it.
public struct CallSummary: Sendable {
    public var method: MethodDescriptor
    public var kind: RPCKind
    public var code: RPCError.Code
    public var duration: Duration
    public var messagesReceived: Int
    public var messagesSent: Int
    /// Request and response message bytes (framed, before compression on the way out).
    public var requestBytes: Int
    public var responseBytes: Int
    public var peer: String
    /// The `x-forwarded-for` a proxy in front sent (the client it served), if any, several fields
    /// joined with ", ": as received, so only as trustworthy as whatever sets it.
    public var forwardedFor: String?
    /// The W3C `traceparent` the caller sent, if any.
    public var traceparent: String?
    /// The verified caller, when authorization set one.
    public var callerId: String?
    /// The error the call ended with (its message as sent, and its cause for the log); nil when
    /// it succeeded or the peer reset it.
    public var error: RPCError?

    public init(
        method: MethodDescriptor, kind: RPCKind, code: RPCError.Code, duration: Duration, messagesReceived: Int,
        messagesSent: Int, requestBytes: Int, responseBytes: Int, peer: String, traceparent: String?, callerId: String?,
        error: RPCError? = nil, forwardedFor: String? = nil
    ) {
        self.method = method
        self.kind = kind
        self.code = code
        self.duration = duration
        self.messagesReceived = messagesReceived
        self.messagesSent = messagesSent
        self.requestBytes = requestBytes
        self.responseBytes = responseBytes
        self.peer = peer
        self.forwardedFor = forwardedFor
        self.traceparent = traceparent
        self.callerId = callerId
        self.error = error
    }
}

/// Which limit refused work.
public enum ShedReason: String, Sendable, CaseIterable {
    case concurrentCalls = "concurrent_calls"
    case requestBytes = "request_bytes"
    case responseBytes = "response_bytes"
    case connections
    /// A stream reset because its reader took nothing of its response for the send timeout.
    case stalledReader = "stalled_reader"
}

/// Facts about a call that interceptors learn and the access log reports (who called). A
/// reference, so it survives the context being copied through interceptors.
public final class CallAnnotations: Sendable {
    private let caller = Mutex<String?>(nil)

    public init() {}

    public var callerId: String? {
        get { caller.withLock { $0 } }
        set { caller.withLock { $0 = newValue } }
    }
}
