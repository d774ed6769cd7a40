/// Caller-supplied text made safe for `grpc-message`, logs and the audit table, in one place:
/// control characters (a newline could forge a log line), the line and paragraph separators some
/// readers also break lines at (U+0085, U+2028, U+2029), bidi controls (they reorder what a reader
/// sees) and the backslash (so an escaped newline and a typed `\n` differ) are escaped, and the
/// length is bounded
/// (a 4 MiB request id must not become a 4 MiB header, which HTTP/2 peers reset, or log line).
public enum CallerText {
    /// The most UTF-8 bytes of one caller-supplied value kept in an id-like field.
    public static let maxBytes = 256
    /// The most UTF-8 bytes of a whole message (an error's text, a log line's reason).
    public static let maxMessageBytes = 1024

    public static func clean(_ text: String, maxBytes: Int = CallerText.maxBytes) -> String {
        escape(text, maxBytes: maxBytes, backslashes: true)
    }

    /// A whole message (an error's text, a reason) made safe as `clean` makes a value, except that
    /// backslashes are left alone: the caller's values in it were cleaned already, and escaping
    /// their escapes again would show `\\n` for a newline. Running it twice changes nothing.
    public static func message(_ text: String, maxBytes: Int = CallerText.maxMessageBytes) -> String {
        escape(text, maxBytes: maxBytes, backslashes: false)
    }

    private static func escape(_ text: String, maxBytes: Int, backslashes: Bool) -> String {
        if text.utf8.count <= maxBytes, !needsEscaping(text) { return text }
        var out = ""
        out.reserveCapacity(min(text.utf8.count, maxBytes) + 8)
        for scalar in text.unicodeScalars {
            let escaped = scalar == "\\" ? backslashes : Self.isEscaped(scalar)
            let piece = escaped ? scalar.escaped(asASCII: true) : String(scalar)
            if out.utf8.count + piece.utf8.count > maxBytes {
                out += "…"
                break
            }
            out += piece
        }
        return out
    }

    /// A caller's id quoted for a message, with its code points spelled out when it is not
    /// ASCII: "é" and "e" + U+0301 print alike, and an id that differs from a stored one only so
    /// would read as that id in "no request …" (ids are compared byte for byte).
    public static func quotedId(_ id: String) -> String {
        let quoted = "\"" + clean(id) + "\""
        if id.utf8.allSatisfy({ $0 < 0x80 }) { return quoted }
        // Printable ASCII, its own backslashes escapes already: only clipped.
        let spelled = codePoints(id)
        let clipped = spelled.utf8.count <= maxBytes ? spelled : String(decoding: spelled.utf8.prefix(maxBytes), as: UTF8.self) + "…"
        return quoted + " (" + clipped + ")"
    }

    /// `text` with every character other than printable ASCII, `"` and `\` as `\u{…}`.
    public static func codePoints(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.isASCII, scalar.value >= 0x20, scalar.value != 0x7F, scalar != "\"", scalar != "\\" {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
        }
        return out
    }

    private static func isEscaped(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        // Bidi embeddings, overrides and isolates too: they reorder what a reader sees.
        case 0..<0x20, 0x7F, 0x5C, 0x85, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Whether `text` may hold something `clean` escapes. Called for every id a caller sends and
    /// every logged call: native strings are scanned as one buffer, not byte by byte through the
    /// view. Bytes that may begin U+0085 (0xC2) or U+2028/U+2029 (0xE2) send the text to the
    /// scalar-by-scalar pass, which tells.
    private static func needsEscaping(_ text: String) -> Bool {
        func mayNeed(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7F || byte == 0x5C || byte == 0xC2 || byte == 0xE2 }
        if let found = text.utf8.withContiguousStorageIfAvailable({ $0.contains(where: mayNeed) }) {
            return found
        }
        return text.utf8.contains(where: mayNeed)
    }
}
