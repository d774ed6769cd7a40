public import Logging

/// The server's swift-log handler: one line per event in `format`, through the buffered
/// `LogSink` (a line costs a copy, not a syscall).
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public let format: LogFormat
    public let label: String
    let sink: LogSink

    public init(label: String, format: LogFormat) {
        self.init(label: label, format: format, sink: .standardError)
    }

    init(label: String, format: LogFormat, sink: LogSink) {
        self.label = label
        self.format = format
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = LogLine(format: format, level: event.level, label: label, message: event.message.description)
        let extra = event.metadata ?? [:]
        let fields = metadata.isEmpty ? extra : metadata.merging(extra) { _, new in new }
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { line.append(key, value) }
        sink.write(line.finish(source: event.source))
    }

    /// A line of `level` whose fields the caller appends in key order, or nil when this handler
    /// would not log it. For per-call lines (the access log): no metadata dictionary to build,
    /// merge and sort. Lines of a handler that carries metadata of its own go through `log`.
    func startLine(level: Logger.Level, message: String) -> LogLine? {
        guard level >= logLevel, metadata.isEmpty else { return nil }
        return LogLine(format: format, level: level, label: label, message: message)
    }
}
