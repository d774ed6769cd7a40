import RPCCore

/// What a client that did not open with the HTTP/2 preface most likely spoke, for the notice an
/// operator reads: a proxy sending HTTP/1.1 upstream, a client trying TLS, or a PROXY protocol
/// header are set-up mistakes, and naming them saves a packet capture.
enum WrongProtocol {
    private static let http1Methods = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"]

    /// nil when the bytes look like none of these.
    static func guess(from bytes: UnsafeRawBufferPointer) -> String? {
        if bytes.count >= 2, bytes[0] == 0x16, bytes[1] == 0x03 {
            return "a TLS handshake"
        }
        let head = bytes.prefix(256)
        let line = String(decoding: head.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        if line.hasPrefix("PROXY ") {
            return "a PROXY protocol header (\"\(CallerText.clean(line, maxBytes: 64))\"); turn proxy_protocol off towards this server"
        }
        if let method = line.split(separator: " ", maxSplits: 1).first, http1Methods.contains(String(method)),
            line.contains(" HTTP/1.")
        {
            return "an HTTP/1.x request (\"\(CallerText.clean(line, maxBytes: 100))\")"
        }
        return nil
    }
}
