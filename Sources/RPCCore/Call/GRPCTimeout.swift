/// The `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
public enum GRPCTimeout {
    /// Parses a header value; nil when it is not a valid timeout.
    public static func parse(_ value: some StringProtocol) -> Duration? {
        parse(bytes: Array(value.utf8))
    }

    /// Parses the header's raw bytes.
    public static func parse(bytes utf8: some BidirectionalCollection<UInt8>) -> Duration? {
        guard utf8.count >= 2, utf8.count <= 9, let unit = utf8.last else { return nil }
        var amount: Int64 = 0
        for byte in utf8.dropLast() {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        switch unit {
        case UInt8(ascii: "H"): return .seconds(amount * 3600)
        case UInt8(ascii: "M"): return .seconds(amount * 60)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }

    /// Formats a duration for the header, choosing the finest unit that fits in 8 digits.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let totalNanos = max(0, seconds) &* 1_000_000_000 &+ max(0, attoseconds / 1_000_000_000)
        let units: [(Int64, Character)] = [(1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S")]
        for (divisor, unit) in units {
            let amount = (totalNanos + divisor - 1) / divisor
            if amount < 100_000_000 { return "\(amount)\(unit)" }
        }
        let minutes = (totalNanos / 60_000_000_000) + 1
        return minutes < 100_000_000 ? "\(minutes)M" : "99999999H"
    }
}
