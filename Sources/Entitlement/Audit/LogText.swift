/// Caller-supplied text made safe for logs and the audit table: control characters (a newline
/// could forge a log line) are escaped, and the length is bounded.
public enum LogText {
    /// The most UTF-8 bytes of one caller-supplied value that are kept.
    public static let maxBytes = 256

    public static func clean(_ text: String, maxBytes: Int = LogText.maxBytes) -> String {
        let needsEscaping = text.utf8.contains { $0 < 0x20 || $0 == 0x7F }
        if !needsEscaping && text.utf8.count <= maxBytes { return text }
        var out = ""
        out.reserveCapacity(min(text.utf8.count, maxBytes) + 8)
        for scalar in text.unicodeScalars {
            let piece = scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
            if out.utf8.count + piece.utf8.count > maxBytes {
                out += "…"
                break
            }
            out += piece
        }
        return out
    }
}
