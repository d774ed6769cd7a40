public import Logging
public import RPCCore

/// One access line per call: method, status, duration, peer, caller, bytes, and the W3C trace id
/// from the caller's `traceparent` (a new one when it sent none), so a call can be followed
/// across services. Never the token: only the caller's `oid` that authorization verified.
///
/// Health checks are not logged: probes every few seconds from every balancer would drown the
/// calls that matter (they are counted in the metrics).
public struct AccessLog: CallObserver {
    private let logger: Logger
    private let unlogged: Set<String>

    public init(logger: Logger, unloggedServices: Set<String> = ["grpc.health.v1.Health"]) {
        self.logger = logger
        self.unlogged = unloggedServices
    }

    public func callStarted(_ method: MethodDescriptor, kind: RPCKind) {}
    public func callShed(_ reason: ShedReason) {}
    public func bytesReceived(_ count: Int) {}
    public func bytesSent(_ count: Int) {}

    public func callFinished(_ summary: CallSummary) {
        guard logger.logLevel <= .info, !unlogged.contains(summary.method.service) else { return }
        var metadata: Logger.Metadata = [
            "grpc.method": .string(summary.method.path),
            "grpc.code": .string(summary.code.description),
            "duration_ms": .string(Self.milliseconds(summary.duration)),
            "peer": .string(summary.peer),
            "request_bytes": .stringConvertible(summary.requestBytes),
            "response_bytes": .stringConvertible(summary.responseBytes),
            "trace_id": .string(TraceContext.traceID(fromTraceparent: summary.traceparent) ?? TraceContext.newTraceID()),
        ]
        if summary.kind != .unary {
            metadata["messages_received"] = .stringConvertible(summary.messagesReceived)
            metadata["messages_sent"] = .stringConvertible(summary.messagesSent)
        }
        if let caller = summary.callerId { metadata["caller"] = .string(CallerText.clean(caller)) }
        logger.info("call", metadata: metadata)
    }

    static func milliseconds(_ duration: Duration) -> String {
        let micros = GRPCServerMetrics.nanoseconds(duration) / 1_000
        let whole = micros / 1_000
        let fraction = micros % 1_000
        return "\(whole)." + String(repeating: "0", count: 3 - String(fraction).count) + String(fraction)
    }
}

/// W3C Trace Context (`traceparent: 00-<trace id>-<parent id>-<flags>`).
public enum TraceContext {
    /// The 32-hex-digit trace id of a valid `traceparent`, or nil.
    public static func traceID(fromTraceparent header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16,
            parts[3].count == 2
        else { return nil }
        let id = parts[1]
        guard id.allSatisfy(\.isHexDigit), id.contains(where: { $0 != "0" }), parts[2].allSatisfy(\.isHexDigit) else {
            return nil
        }
        return id.lowercased()
    }

    /// A random trace id for a call that arrived without one.
    public static func newTraceID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex(high) + hex(low)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
