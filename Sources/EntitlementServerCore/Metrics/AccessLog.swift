public import Logging
public import RPCCore
import Glibc
import ServerLogging
import Synchronization

/// One access line per call: method, status, duration, peer (and the client a proxy in front
/// names in `x-forwarded-for`), caller, bytes, and the W3C trace id
/// from the caller's `traceparent` (a new one when it sent none), so a call can be followed
/// across services. A failed call adds the message it was sent and the error underneath it.
/// Never the token: only the caller's `oid` that authorization verified.
///
/// Health checks are not logged: probes every few seconds from every balancer would drown the
/// calls that matter (they are counted in the metrics).
public final class AccessLog: CallObserver {
    private let logger: Logger
    /// The logger's handler when lines can go straight into it (cast once, not per call).
    private let lineHandler: LineLogHandler?
    /// A handful of names, compared rather than hashed: comparing a call's service name with the
    /// same string is a length and storage check, hashing it was 1% of a health check.
    private let unlogged: [String]

    public init(logger: Logger, unloggedServices: Set<String> = ["grpc.health.v1.Health"]) {
        self.logger = logger
        self.lineHandler = logger.handler as? LineLogHandler
        self.unlogged = Array(unloggedServices)
    }

    public func callStarted(_ method: MethodDescriptor, kind: RPCKind) {}
    public func callShed(_ reason: ShedReason) {}
    public func bytesReceived(_ count: Int) {}
    public func bytesSent(_ count: Int) {}

    public func callFinished(_ summary: CallSummary) {
        guard !unlogged.contains(summary.method.service), logger.logLevel <= .info else { return }
        if let handler = lineHandler,
            handler.writeLine(
                level: .info, message: "call", source: "EntitlementServerCore",
                appendFields: { line in write(summary, to: &line) })
        {
            return
        }
        logger.info("call", metadata: Self.metadata(summary))
    }

    /// The call's fields, in key order (the order `LineLogHandler` would sort them into).
    private func write(_ summary: CallSummary, to line: inout LogLine) {
        if let caller = summary.callerId { line.append("caller", CallerText.clean(caller)) }
        if let cause = Self.cause(of: summary) { line.append("cause", cause) }
        line.append("duration_ms", thousandths: Int(GRPCServerMetrics.nanoseconds(summary.duration) / 1_000))
        if let forwarded = summary.forwardedFor { line.append("forwarded_for", Self.forwardedFor(forwarded)) }
        line.append("grpc.code", summary.code.description)
        if let message = Self.message(of: summary) { line.append("grpc.message", message) }
        line.append("grpc.method", summary.method.path)
        if summary.kind != .unary {
            line.append("messages_received", summary.messagesReceived)
            line.append("messages_sent", summary.messagesSent)
        }
        line.append("peer", summary.peer)
        line.append("request_bytes", summary.requestBytes)
        line.append("response_bytes", summary.responseBytes)
        if let traced = TraceContext.traceID(fromTraceparent: summary.traceparent) {
            line.append("trace_id", traced)
        } else {
            line.append("trace_id", hex: TraceContext.newTraceIDBits())
        }
    }

    /// The same fields as swift-log metadata, for a logger with some other handler.
    static func metadata(_ summary: CallSummary) -> Logger.Metadata {
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
        if let forwarded = summary.forwardedFor { metadata["forwarded_for"] = .string(Self.forwardedFor(forwarded)) }
        if let message = Self.message(of: summary) { metadata["grpc.message"] = .string(message) }
        if let cause = Self.cause(of: summary) { metadata["cause"] = .string(cause) }
        return metadata
    }

    /// `x-forwarded-for` cleaned like any caller text, but clipped from the front when too long:
    /// proxies append, so the last entry is the one the nearest proxy vouches for, and a client
    /// must not push it out with entries of its own.
    static func forwardedFor(_ header: String) -> String {
        let cleaned = CallerText.clean(header, maxBytes: 16 * 1024)
        var bytes = cleaned.utf8.count
        guard bytes > CallerText.maxBytes else { return cleaned }
        let ellipsis = "…"
        var start = cleaned.startIndex
        while bytes > CallerText.maxBytes - ellipsis.utf8.count {
            bytes -= cleaned[start].utf8.count
            start = cleaned.index(after: start)
        }
        return ellipsis + cleaned[start...]
    }

    /// The message a failed call was sent.
    static func message(of summary: CallSummary) -> String? {
        summary.error.map { CallerText.message($0.message) }
    }

    /// What lay under a failed call's status (a store's SQLite error, say): the caller gets only
    /// the status and its message, so this line is where an operator finds out. Cleaned like any
    /// text a caller may have shaped.
    static func cause(of summary: CallSummary) -> String? {
        guard let cause = summary.error?.cause else { return nil }
        return CallerText.message(String(describing: cause))
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
        let (high, low) = newTraceIDBits()
        return hex(high) + hex(low)
    }

    /// The 128 random bits of a new trace id, from a pool refilled by one `getrandom` per 256
    /// ids (a syscall per call was a visible cost of every logged call).
    static func newTraceIDBits() -> (UInt64, UInt64) {
        randomPool.withLock { pool in (pool.next(), pool.next()) }
    }

    private static let randomPool = Mutex(RandomPool())

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// Random 64-bit words from the kernel's generator, read 512 at a time from `/dev/urandom`
/// (word by word from the system generator if that cannot be read).
struct RandomPool {
    private var words = [UInt64](repeating: 0, count: 512)
    private var position = 512

    mutating func next() -> UInt64 {
        if position == words.count {
            refill()
            position = 0
        }
        defer { position += 1 }
        return words[position]
    }

    private mutating func refill() {
        let wanted = words.count * MemoryLayout<UInt64>.size
        let got = words.withUnsafeMutableBytes { raw -> Int in
            let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return 0 }
            defer { close(descriptor) }
            var filled = 0
            while filled < raw.count {
                let count = read(descriptor, raw.baseAddress! + filled, raw.count - filled)
                if count <= 0 { break }
                filled += count
            }
            return filled
        }
        if got < wanted {
            var generator = SystemRandomNumberGenerator()
            for i in words.indices { words[i] = generator.next() }
        }
    }
}
