import Glibc
package import Logging
import Synchronization

/// How log lines look: swift-log's stream style for people, one JSON object for pipelines.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `time level label: key=value … [source] message`
    case text
    /// `{"time":…,"level":…,"label":…,"message":…,"key":"value",…}`, values escaped.
    case json
}

/// One log line built as UTF-8 bytes in one buffer: the handler's path for every line, and the
/// per-call lines' directly (the access log and the audit line append their fields already in key
/// order, with no metadata dictionary; `LineLogHandler.writeLine`).
/// Fields must be appended in ascending key order; `LineLogHandler` sorts swift-log metadata first.
package struct LogLine {
    private(set) var bytes: [UInt8] = []
    private let format: LogFormat
    /// The text format puts the message after the fields.
    private let message: String

    package init(format: LogFormat, level: Logger.Level, label: String, message: String) {
        self.format = format
        self.message = message
        // An access line with a caller is ~330 bytes: one buffer, never regrown on the way.
        bytes.reserveCapacity(512)
        switch format {
        case .text:
            bytes += LogTimestamp.local()
            bytes.append(UInt8(ascii: " "))
            bytes.appendUTF8(level.rawValue)
            bytes.append(UInt8(ascii: " "))
            bytes.appendUTF8(label)
            bytes.append(UInt8(ascii: ":"))
        case .json:
            bytes += #"{"time":""#.utf8
            bytes += LogTimestamp.utcMilliseconds()
            bytes += #"","level":""#.utf8
            bytes += level.rawValue.utf8
            bytes += #"","label":"#.utf8
            bytes.appendJSONString(label)
            bytes += #","message":"#.utf8
            bytes.appendJSONString(message)
        }
    }

    /// A text field; JSON gets it as a string (as every metadata value is).
    package mutating func append(_ key: String, _ value: String) {
        startField(key)
        switch format {
        case .text: appendTextValue(value)
        case .json: bytes.appendJSONString(value)
        }
    }

    /// A text-format value as it is, or quoted (logfmt: `"…"`, escaped as a JSON string) when it
    /// is empty or holds a space, `=`, `"`, `\` or a control character: caller text such as
    /// `x audit.decision=allowed` must not read as fields of its own.
    private mutating func appendTextValue(_ value: String) {
        if Self.isPlainText(value) { return bytes.appendUTF8(value) }
        // Inside the quotes `"` and `\` are escaped, and control characters as in JSON, so a
        // value can end neither the field nor the line.
        bytes.append(UInt8(ascii: "\""))
        bytes.appendJSONEscaped(value)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Several values as one comma-separated field (`a,b,c`; in JSON one string), as a swift-log
    /// string value holding them joined would be written, without making that string.
    /// A comma inside a value is written `\,` (callers' backslashes reach here escaped already,
    /// as `\\`), so `a,b` and the one id "a,b" read apart.
    package mutating func append(_ key: String, joining values: [String]) {
        startField(key)
        if values.contains(where: { $0.utf8.contains(UInt8(ascii: ",")) }) {
            let escaped = values.map { $0.split(separator: ",", omittingEmptySubsequences: false).joined(separator: "\\,") }
            return appendJoined(escaped)
        }
        appendJoined(values)
    }

    private mutating func appendJoined(_ values: [String]) {
        switch format {
        case .text:
            // Joined only when some value must be quoted (rare): the usual ids go straight in.
            if !values.isEmpty, values.allSatisfy(Self.isPlainText) {
                for (i, value) in values.enumerated() {
                    if i > 0 { bytes.append(UInt8(ascii: ",")) }
                    bytes.appendUTF8(value)
                }
            } else {
                appendTextValue(values.joined(separator: ","))
            }
        case .json:
            bytes.append(UInt8(ascii: "\""))
            for (i, value) in values.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.appendJSONEscaped(value)
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    /// A number, written as decimal digits (a JSON string, like the handler's other values).
    package mutating func append(_ key: String, _ value: Int) {
        startField(key)
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
    }

    /// `whole.fff`, for durations in milliseconds with microsecond precision.
    package mutating func append(_ key: String, thousandths value: Int) {
        startField(key)
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
        let magnitude = value.magnitude
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(magnitude / 1_000)
        bytes.append(UInt8(ascii: "."))
        let fraction = Int(magnitude % 1_000)
        bytes.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10))
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
    }

    /// 16 bytes as 32 lowercase hex digits (a trace id).
    package mutating func append(_ key: String, hex value: (UInt64, UInt64)) {
        startField(key)
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
        appendHex(value.0)
        appendHex(value.1)
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
    }

    /// A swift-log metadata value, rendered as swift-log renders it (text) or as JSON.
    package mutating func append(_ key: String, _ value: Logger.MetadataValue) {
        startField(key)
        switch format {
        case .text: appendTextValue(value.description)
        case .json: appendJSON(value)
        }
    }

    /// Whether a text-format value goes in unquoted: not empty, and no space, `=`, `"`, `\` or
    /// control character.
    private static func isPlainText(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { utf8 in
            !utf8.isEmpty && !utf8.contains { $0 <= 0x20 || $0 == 0x7F || $0 == 0x3D || $0 == 0x22 || $0 == 0x5C }
        }
    }

    /// The finished line, with its newline.
    /// Mutating, not consuming: a consumed copy of the line shared its buffer, so appending the
    /// tail copied the whole line once more.
    package mutating func finish(source: String) -> [UInt8] {
        switch format {
        case .text:
            bytes += " [".utf8
            bytes.appendUTF8(source)
            bytes += "] ".utf8
            bytes.appendUTF8(message)
        case .json:
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private mutating func startField(_ key: String) {
        switch format {
        case .text:
            bytes.append(UInt8(ascii: " "))
            bytes.appendUTF8(key)
            bytes.append(UInt8(ascii: "="))
        case .json:
            bytes.append(UInt8(ascii: ","))
            bytes.appendJSONString(key)
            bytes.append(UInt8(ascii: ":"))
        }
    }

    /// 16 lowercase hex digits, made in a stack buffer and appended at once (an append per digit
    /// checked the array's capacity and uniqueness 32 times per trace id).
    private mutating func appendHex(_ value: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { digits in
            for i in 0..<16 {
                let digit = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * i) & 0xF)
                digits[i] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") - 10 + digit
            }
            bytes.append(contentsOf: digits)
        }
    }

    /// Decimal digits of `value`, written in place (no String per number).
    private mutating func appendDecimal(_ value: UInt) {
        var divisor: UInt = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        } while divisor > 0
    }

    private mutating func appendJSON(_ value: Logger.MetadataValue) {
        switch value {
        case .string(let string): bytes.appendJSONString(string)
        case .stringConvertible(let convertible): bytes.appendJSONString(convertible.description)
        case .array(let values):
            bytes.append(UInt8(ascii: "["))
            for (i, element) in values.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                appendJSON(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            bytes.append(UInt8(ascii: "{"))
            for (i, (key, element)) in dictionary.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.appendJSONString(key)
                bytes.append(UInt8(ascii: ":"))
                appendJSON(element)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}

/// The time at the start of a line. The local-time text of the current second is formatted once
/// and reused by every line of that second.
enum LogTimestamp {
    private static let lastSecond = Mutex<(time_t, [UInt8])>((0, []))

    /// `2026-12-02T10:31:07+0000` (local time with its offset), as swift-log's stream handler.
    static func local() -> [UInt8] {
        var now = time(nil)
        if let cached = lastSecond.withLock({ $0.0 == now ? $0.1 : nil }) { return cached }
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let text = buffer[0..<count].map { UInt8(bitPattern: $0) }
        lastSecond.withLock { $0 = (now, text) }
        return text
    }

    /// `2026-12-02T10:31:07.123Z`.
    static func utcMilliseconds() -> [UInt8] {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text: [UInt8] = []
        text.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        text.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        text.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec) / 1_000_000, 3)
        text.append(UInt8(ascii: "Z"))
        return text
    }
}
