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

    package init(label: String, format: LogFormat, sink: LogSink) {
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
        sink.write(line.finish(source: event.source), format: format)
    }

    /// Writes one line of `level` whose fields `appendFields` appends in ascending key order: the
    /// path of per-call lines (the access log, the audit line), with no metadata dictionary to
    /// build, merge and sort. Returns false, writing nothing, when the line must go through `log`
    /// instead: this handler carries metadata of its own to merge into it.
    /// `whatever the level`: written even below `logLevel` (the audit trail's lines: the contract
    /// puts every Reprocess call in the server's log, and `--log-level` tunes diagnostics only).
    package func writeLine(
        level: Logger.Level, message: String, source: String, whateverTheLevel: Bool = false,
        appendFields: (inout LogLine) -> Void
    ) -> Bool {
        guard metadata.isEmpty else { return false }
        guard whateverTheLevel || level >= logLevel else { return true }
        var line = LogLine(format: format, level: level, label: label, message: message)
        appendFields(&line)
        sink.write(line.finish(source: source), format: format)
        return true
    }
}
