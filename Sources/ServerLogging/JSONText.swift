/// Text appended to a line under construction as UTF-8 bytes: the log lines' and audit.log's
/// one way to write strings and JSON string literals.
extension Array where Element == UInt8 {
    /// The string's bytes in one copy. `+= text.utf8` goes through the generic sequence append,
    /// which measured ~2% of the event loop under Reprocess (two log lines per call); a native
    /// string hands over its contiguous UTF-8 as it is.
    package mutating func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }

    /// `text` as a JSON string literal, with its quotes.
    package mutating func appendJSONString(_ text: String) {
        append(UInt8(ascii: "\""))
        appendJSONEscaped(text)
        append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string literal: quotes, backslashes, control characters and DEL
    /// escaped, so caller text cannot break the line; other bytes (UTF-8 included) as they are
    /// (UTF-8 never uses bytes below 0x80 inside a multi-byte character).
    package mutating func appendJSONEscaped(_ text: String) {
        var text = text
        // Most values (ids, methods, peers) need no escaping: copied whole, not byte by byte.
        let plain = text.withUTF8 { utf8 in
            guard !utf8.contains(where: JSONEscape.needsEscaping) else { return false }
            append(contentsOf: utf8)
            return true
        }
        if plain { return }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): self += #"\""#.utf8
            case UInt8(ascii: "\\"): self += #"\\"#.utf8
            case UInt8(ascii: "\n"): self += #"\n"#.utf8
            case UInt8(ascii: "\r"): self += #"\r"#.utf8
            case UInt8(ascii: "\t"): self += #"\t"#.utf8
            case 0..<0x20, 0x7F:
                self += #"\u00"#.utf8
                append(JSONEscape.hexDigits[Int(byte >> 4)])
                append(JSONEscape.hexDigits[Int(byte & 0xF)])
            default: append(byte)
            }
        }
    }
}

private enum JSONEscape {
    static let hexDigits = Array("0123456789abcdef".utf8)

    static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }
}
