import Glibc
public import Logging
import Synchronization

/// Human-readable log lines (`time level label: key=value … [source] message`, as swift-log's
/// stream handler writes them) through the buffered `LogSink`.
public struct TextLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = Self.timestamp() + " \(event.level) \(label):"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        line += " [\(event.source)] \(event.message)\n"
        LogSink.standardError.write(line)
    }

    /// The formatted time of the current second, reused by every line of that second.
    private static let lastSecond = Mutex<(time_t, String)>((0, ""))

    static func timestamp() -> String {
        var now = time(nil)
        if let cached = lastSecond.withLock({ $0.0 == now ? $0.1 : nil }) { return cached }
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let text = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        lastSecond.withLock { $0 = (now, text) }
        return text
    }
}
