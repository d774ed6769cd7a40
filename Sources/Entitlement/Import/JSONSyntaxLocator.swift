/// Finds where a JSON text first breaks, as "line L, column C: what was expected", because
/// Foundation's decoder on Linux does not say where. Only runs after decoding has failed.
struct JSONSyntaxLocator {
    private let bytes: [UInt8]
    private var offset = 0
    private var depth = 0
    private static let maxDepth = 512

    static func describeFirstError(in bytes: [UInt8]) -> String? {
        var locator = JSONSyntaxLocator(bytes: bytes)
        guard let reason = locator.firstError() else { return nil }
        return "\(locator.position): \(reason)"
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private var position: String {
        var line = 1
        var column = 1
        for byte in bytes[..<min(offset, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {  // count characters, not UTF-8 continuation bytes
                column += 1
            }
        }
        return "line \(line), column \(column)"
    }

    private mutating func firstError() -> String? {
        if let error = value() { return error }
        skipWhitespace()
        return offset < bytes.count ? "unexpected text after the end of the document" : nil
    }

    private mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
    }

    private mutating func value() -> String? {
        skipWhitespace()
        guard offset < bytes.count else { return "unexpected end of file; expected a value" }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return container(close: UInt8(ascii: "}"), keyed: true)
        case UInt8(ascii: "["): return container(close: UInt8(ascii: "]"), keyed: false)
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
        default: return "unexpected character '\(Character(Unicode.Scalar(bytes[offset])))'; expected a value"
        }
    }

    private mutating func container(close: UInt8, keyed: Bool) -> String? {
        depth += 1
        guard depth <= Self.maxDepth else { return "nested deeper than \(Self.maxDepth) levels" }
        offset += 1
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == close {
            offset += 1
            depth -= 1
            return nil
        }
        while true {
            if keyed {
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { return "expected a quoted key" }
                if let error = string() { return error }
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { return "expected ':' after the key" }
                offset += 1
            }
            if let error = value() { return error }
            skipWhitespace()
            guard offset < bytes.count else { return "unexpected end of file; expected ',' or '\(Character(Unicode.Scalar(close)))'" }
            if bytes[offset] == close {
                offset += 1
                depth -= 1
                return nil
            }
            guard bytes[offset] == UInt8(ascii: ",") else {
                return "expected ',' or '\(Character(Unicode.Scalar(close)))'"
            }
            offset += 1
        }
    }

    private mutating func string() -> String? {
        let start = offset
        offset += 1
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "\""):
                offset += 1
                return nil
            case UInt8(ascii: "\\"):
                offset += 2
            case 0..<0x20:
                return "control character inside a string"
            default:
                offset += 1
            }
        }
        offset = start  // point at the opening quote, which is where the reader must look
        return "unterminated string"
    }

    private mutating func literal(_ word: String) -> String? {
        for expected in word.utf8 {
            guard offset < bytes.count, bytes[offset] == expected else { return "expected '\(word)'" }
            offset += 1
        }
        return nil
    }

    private mutating func number() -> String? {
        let start = offset
        while offset < bytes.count, "+-0123456789.eE".utf8.contains(bytes[offset]) { offset += 1 }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if Double(text) == nil {
            offset = start
            return "malformed number '\(text)'"
        }
        return nil
    }
}
