import RPCCore

/// A strict JSON (RFC 8259) parser that builds `JSONValue`s and says where a text breaks
/// ("line 3, column 7: expected ':' after the key").
///
/// It can hand over the elements of one array of the root object one at a time
/// (`parseObject(_:streaming:element:)`), so an import of a large file never holds its whole
/// document as a tree: only the file's bytes and one element at a time. Duplicate keys in an
/// object are refused (a second value would silently win otherwise).
struct JSONParser {
    static let maxDepth = 512

    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    private var depth = 0

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// A whole document.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(ImportError) -> JSONValue {
        var parser = JSONParser(bytes)
        return try parser.document { parser throws(Failure) in try parser.value() }
    }

    /// A document whose root must be an object; if the value of `key` is an array, each element
    /// goes to `element` (with its index) as soon as it is parsed, and the key maps to an empty
    /// array in the result. Any other root, or another type under `key`, is returned whole, for
    /// the caller to report.
    static func parseObject(
        _ bytes: UnsafeRawBufferPointer, streaming key: String, element: (JSONValue, Int) -> Void
    ) throws(ImportError) -> JSONValue {
        var parser = JSONParser(bytes)
        return try parser.document { parser throws(Failure) in
            parser.skipWhitespace()
            guard parser.peek == UInt8(ascii: "{") else { return try parser.value() }
            return try parser.object(streaming: key, element: element)
        }
    }

    // MARK: Grammar

    /// Where and why the text is not JSON.
    private struct Failure: Error {
        let offset: Int
        let reason: String
    }

    private mutating func document(_ root: (inout JSONParser) throws(Failure) -> JSONValue) throws(ImportError)
        -> JSONValue
    {
        do throws(Failure) {
            let value = try root(&self)
            skipWhitespace()
            guard offset == bytes.count else { throw fail("unexpected text after the end of the document") }
            return value
        } catch {
            throw ImportError(path: "", message: "not valid JSON at \(position(of: error.offset)): \(error.reason)")
        }
    }

    private var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private func fail(_ reason: String, at position: Int? = nil) -> Failure {
        Failure(offset: position ?? offset, reason: reason)
    }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
    }

    private mutating func value() throws(Failure) -> JSONValue {
        skipWhitespace()
        guard let byte = peek else { throw fail("unexpected end of file; expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try object(streaming: nil, element: { _, _ in })
        case UInt8(ascii: "["): return .array(try array())
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character \(Self.describe(byte)); expected a value")
        }
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
        offset += 1
    }

    private mutating func object(
        streaming streamedKey: String?, element: (JSONValue, Int) -> Void
    ) throws(Failure) -> JSONValue {
        try enter()
        var fields: [String: JSONValue] = [:]
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            offset += 1
            depth -= 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            let keyStart = offset
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a quoted key") }
            let key = try string()
            guard fields[key] == nil else { throw fail("duplicate key \"\(CallerText.clean(key))\"", at: keyStart) }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after the key") }
            offset += 1
            skipWhitespace()
            if key == streamedKey, peek == UInt8(ascii: "[") {
                try streamArray(to: element)
                fields[key] = .array([])
            } else {
                fields[key] = try value()
            }
            if try endOfContainer(close: UInt8(ascii: "}")) { return .object(fields) }
        }
    }

    private mutating func array() throws(Failure) -> [JSONValue] {
        var elements: [JSONValue] = []
        try streamArray { value, _ in elements.append(value) }
        return elements
    }

    private mutating func streamArray(to element: (JSONValue, Int) -> Void) throws(Failure) {
        try enter()
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            offset += 1
            depth -= 1
            return
        }
        var index = 0
        while true {
            element(try value(), index)
            index += 1
            if try endOfContainer(close: UInt8(ascii: "]")) { return }
        }
    }

    /// After a member: true at the closing bracket (consumed), false after a comma.
    private mutating func endOfContainer(close: UInt8) throws(Failure) -> Bool {
        skipWhitespace()
        let expected = "expected ',' or '\(Character(Unicode.Scalar(close)))'"
        guard let byte = peek else { throw fail("unexpected end of file; \(expected)") }
        offset += 1
        if byte == close {
            depth -= 1
            return true
        }
        guard byte == UInt8(ascii: ",") else {
            offset -= 1
            throw fail(expected)
        }
        return false
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) throws(Failure) -> JSONValue {
        let start = offset
        let text = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for expected in text {
            guard peek == expected else { throw fail("expected '\(word)'", at: start) }
            offset += 1
        }
        return value
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? — an integer when it has neither fraction
    /// nor exponent and fits 64 bits (proto3 JSON keeps integers exact), a double otherwise.
    private mutating func number() throws(Failure) -> JSONValue {
        let start = offset
        func digits(_ parser: inout JSONParser) -> Int {
            let first = parser.offset
            while let byte = parser.peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { parser.offset += 1 }
            return parser.offset - first
        }
        if peek == UInt8(ascii: "-") { offset += 1 }
        let leadingZero = peek == UInt8(ascii: "0")
        let integerDigits = digits(&self)
        var valid = integerDigits > 0 && !(leadingZero && integerDigits > 1)
        var integral = true
        if peek == UInt8(ascii: ".") {
            offset += 1
            integral = false
            valid = valid && digits(&self) > 0
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            offset += 1
            integral = false
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { offset += 1 }
            valid = valid && digits(&self) > 0
        }
        // Take the rest of a malformed token too, so the message quotes all of it.
        while let byte = peek, "+-0123456789.eE".utf8.contains(byte) {
            offset += 1
            valid = false
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        guard valid else { throw fail("malformed number '\(CallerText.clean(text))'", at: start) }
        if integral, let integer = Int64(text) { return .integer(integer) }
        guard let double = Double(text), double.isFinite else {
            throw fail("number '\(CallerText.clean(text))' is out of range", at: start)
        }
        return .double(double)
    }

    private mutating func string() throws(Failure) -> String {
        let start = offset
        offset += 1
        let contentStart = offset
        // The common case: no escapes, so the bytes are the string.
        while let byte = peek, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { offset += 1 }
        guard let byte = peek else { throw fail("unterminated string", at: start) }
        if byte < 0x20 { throw fail("control character inside a string") }
        if byte == UInt8(ascii: "\"") {
            offset += 1
            guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[contentStart..<(offset - 1)]), as: UTF8.self)
            else { throw fail("a string is not valid UTF-8", at: start) }
            return text
        }
        var decoded = Array(UnsafeRawBufferPointer(rebasing: bytes[contentStart..<offset]))
        while true {
            guard let byte = peek else { throw fail("unterminated string", at: start) }
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                guard let text = String(validating: decoded, as: UTF8.self) else {
                    throw fail("a string is not valid UTF-8", at: start)
                }
                return text
            case UInt8(ascii: "\\"):
                try escape(into: &decoded)
            case 0..<0x20:
                throw fail("control character inside a string")
            default:
                decoded.append(byte)
                offset += 1
            }
        }
    }

    private mutating func escape(into decoded: inout [UInt8]) throws(Failure) {
        let start = offset
        offset += 1
        guard let byte = peek else { throw fail("unterminated escape", at: start) }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(byte)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hexQuad(escapeAt: start)
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard peek == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u") else {
                    throw fail("a \\u escape is half of a surrogate pair", at: start)
                }
                offset += 2
                let low = try hexQuad(escapeAt: start)
                guard (0xDC00..<0xE000).contains(low) else {
                    throw fail("a \\u escape is half of a surrogate pair", at: start)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw fail("a \\u escape is half of a surrogate pair", at: start)
            }
            decoded += String(Character(Unicode.Scalar(scalar)!)).utf8
        default:
            throw fail("invalid escape \\\(Character(Unicode.Scalar(byte))) in a string", at: start)
        }
    }

    private mutating func hexQuad(escapeAt start: Int) throws(Failure) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek, let digit = byte.hexDigitValue else {
                throw fail("a \\u escape needs four hex digits", at: start)
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    private static func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    /// "line L, column C" of a byte offset; columns count characters, not UTF-8 bytes.
    private func position(of target: Int) -> String {
        var line = 1
        var column = 1
        for byte in bytes[..<min(target, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return "line \(line), column \(column)"
    }
}
