public import CoreMetrics
public import RPCCore
import Synchronization

/// The gRPC ecosystem's server metrics (go-grpc-prometheus names and labels, so existing
/// dashboards work) plus the server's own: shed calls and bytes. Each series is made once and
/// kept, so a call costs a dictionary lookup and a few atomic adds.
public final class GRPCServerMetrics: CallObserver {
    private let factory: any MetricsFactory

    /// The series of one method; `handled` by status code, made on first use.
    private final class MethodSeries: Sendable {
        let started: Counter
        let received: Counter
        let sent: Counter
        let handling: Timer
        /// By code; made on first use. Indexed by the code's number (`RPCError.Code` holds only
        /// 0–16), not hashed.
        let handled: Mutex<[Counter?]>
        let labels: [(String, String)]

        init(_ method: MethodDescriptor, kind: RPCKind, factory: any MetricsFactory) {
            labels = [
                ("grpc_type", GRPCServerMetrics.typeLabel(kind)), ("grpc_service", method.service),
                ("grpc_method", method.method),
            ]
            started = Counter(label: "grpc_server_started_total", dimensions: labels, factory: factory)
            received = Counter(label: "grpc_server_msg_received_total", dimensions: labels, factory: factory)
            sent = Counter(label: "grpc_server_msg_sent_total", dimensions: labels, factory: factory)
            handling = Timer(label: "grpc_server_handling_seconds", dimensions: labels, factory: factory)
            handled = Mutex(Array(repeating: nil, count: 17))
        }

        func handled(_ code: RPCError.Code, factory: any MetricsFactory) -> Counter {
            handled.withLock { counters in
                if let counter = counters[code.rawValue] { return counter }
                let counter = Counter(
                    label: "grpc_server_handled_total",
                    dimensions: labels + [("grpc_code", GRPCServerMetrics.codeLabel(code))], factory: factory)
                counters[code.rawValue] = counter
                return counter
            }
        }
    }

    /// Each method's series by path, and the last one looked up: calls mostly repeat a method,
    /// and a call's path is the registered string, so comparing with it skips hashing.
    private struct SeriesTable {
        var byPath: [String: MethodSeries] = [:]
        var last: (path: String, series: MethodSeries)?
    }

    private let series = Mutex(SeriesTable())
    private let shed: [ShedReason: Counter]
    private let bytesIn: Counter
    private let bytesOut: Counter

    public init(factory: any MetricsFactory) {
        self.factory = factory
        var shed: [ShedReason: Counter] = [:]
        for reason in ShedReason.allCases {
            shed[reason] = Counter(label: "entitlement_shed_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.shed = shed
        bytesIn = Counter(label: "entitlement_bytes_received_total", factory: factory)
        bytesOut = Counter(label: "entitlement_bytes_sent_total", factory: factory)
    }

    private func series(for method: MethodDescriptor, kind: RPCKind) -> MethodSeries {
        series.withLock { state in
            if let last = state.last, last.path == method.path { return last.series }
            let found: MethodSeries
            if let known = state.byPath[method.path] {
                found = known
            } else {
                found = MethodSeries(method, kind: kind, factory: factory)
                state.byPath[method.path] = found
            }
            state.last = (method.path, found)
            return found
        }
    }

    public func callStarted(_ method: MethodDescriptor, kind: RPCKind) {
        series(for: method, kind: kind).started.increment()
    }

    public func callFinished(_ summary: CallSummary) {
        let method = series(for: summary.method, kind: summary.kind)
        method.handled(summary.code, factory: factory).increment()
        if summary.messagesReceived > 0 { method.received.increment(by: summary.messagesReceived) }
        if summary.messagesSent > 0 { method.sent.increment(by: summary.messagesSent) }
        method.handling.recordNanoseconds(Self.nanoseconds(summary.duration))
    }

    public func callShed(_ reason: ShedReason) {
        shed[reason]?.increment()
    }

    public func bytesReceived(_ count: Int) { bytesIn.increment(by: count) }
    public func bytesSent(_ count: Int) { bytesOut.increment(by: count) }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }

    /// go-grpc-prometheus's `grpc_type` values.
    static func typeLabel(_ kind: RPCKind) -> String {
        switch kind {
        case .unary: "unary"
        case .clientStreaming: "client_stream"
        case .serverStreaming: "server_stream"
        case .bidirectionalStreaming: "bidi_stream"
        }
    }

    /// grpc-go's code names (`codes.Code.String()`), as dashboards expect them in `grpc_code`.
    static func codeLabel(_ code: RPCError.Code) -> String {
        switch code.rawValue {
        case 0: "OK"
        case 1: "Canceled"
        case 2: "Unknown"
        case 3: "InvalidArgument"
        case 4: "DeadlineExceeded"
        case 5: "NotFound"
        case 6: "AlreadyExists"
        case 7: "PermissionDenied"
        case 8: "ResourceExhausted"
        case 9: "FailedPrecondition"
        case 10: "Aborted"
        case 11: "OutOfRange"
        case 12: "Unimplemented"
        case 13: "Internal"
        case 14: "Unavailable"
        case 15: "DataLoss"
        case 16: "Unauthenticated"
        default: "Unknown"
        }
    }
}

/// Both observers of a call: metrics and the access log.
public final class CallObservers: CallObserver {
    let observers: [any CallObserver]

    public init(_ observers: [any CallObserver]) {
        self.observers = observers
    }

    public func callStarted(_ method: MethodDescriptor, kind: RPCKind) {
        for observer in observers { observer.callStarted(method, kind: kind) }
    }

    public func callFinished(_ summary: CallSummary) {
        for observer in observers { observer.callFinished(summary) }
    }

    public func callShed(_ reason: ShedReason) {
        for observer in observers { observer.callShed(reason) }
    }

    public func bytesReceived(_ count: Int) {
        for observer in observers { observer.bytesReceived(count) }
    }

    public func bytesSent(_ count: Int) {
        for observer in observers { observer.bytesSent(count) }
    }
}
