/// `grpc-message` percent-encoding: printable ASCII except `%` passes through, everything else
/// (including UTF-8 bytes) becomes `%XX`.
public enum PercentEncoding {
    public static func encode(_ message: String) -> String {
        var needsEncoding = false
        for byte in message.utf8 where !isUnreserved(byte) {
            needsEncoding = true
            break
        }
        if !needsEncoding { return message }
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count * 3)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in message.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` sequences; malformed sequences are kept as they are (the spec says so).
    public static func decode(_ value: String) -> String {
        guard value.utf8.contains(UInt8(ascii: "%")) else { return value }
        let bytes = Array(value.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let hi = bytes[i + 1].hexDigitValue,
                let lo = bytes[i + 2].hexDigitValue
            {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%")
    }
}

extension UInt8 {
    /// The value of this ASCII hex digit (either case), nil for any other byte.
    package var hexDigitValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
