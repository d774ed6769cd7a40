extension Timestamp {
    /// The seconds a valid Timestamp may hold: 0001-01-01T00:00:00Z through 9999-12-31T23:59:59Z.
    /// Outside it, standard clients refuse the message (and RFC 3339 cannot write it).
    public static let validSeconds: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    /// Whether standard clients accept this value.
    public var isValid: Bool { Self.validSeconds.contains(seconds) && (0..<1_000_000_000).contains(nanos) }
}

/// RFC 3339 timestamps as the proto3 JSON mapping writes them: `2026-11-20T10:00:00Z`,
/// optional fractional seconds (up to 9 digits), `Z` or a `±hh:mm` offset. The date and time are
/// joined by `T` (or `t`), as RFC 3339's grammar and proto3 JSON parsers have it; a space, which
/// its prose allows "for readability", is refused like other text protoc would not read.
public enum RFC3339 {
    /// Parses a timestamp; nil if the text is not a valid RFC 3339 date-time.
    public static func parse(_ text: String) -> Timestamp? {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ count: Int) -> Int? {
            guard i + count <= b.count else { return nil }
            var value = 0
            for k in i..<(i + count) {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[k]) else { return nil }
                value = value * 10 + Int(b[k] - UInt8(ascii: "0"))
            }
            i += count
            return value
        }
        func expect(_ chars: String) -> Bool {
            guard i < b.count, chars.utf8.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            expect("Tt"), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"),
            let second = digits(2)
        else { return nil }
        var nanos = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) {
                guard count < 9 else { return nil }
                nanos = nanos * 10 + Int(b[i] - UInt8(ascii: "0"))
                count += 1
                i += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<9 { nanos *= 10 }
        }
        var offset = 0
        if expect("Zz") {
            offset = 0
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(":"), let om = digits(2), oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count, year >= 1, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        return Timestamp(seconds: seconds, nanos: Int32(nanos))
    }

    /// Formats a timestamp as UTC with nanosecond precision trimmed to 0, 3, 6 or 9 digits.
    public static func format(_ timestamp: Timestamp) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(30)
        append(timestamp, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `format(timestamp)`'s UTF-8 to `text`.
    public static func append(_ timestamp: Timestamp, to text: inout [UInt8]) {
        let days = Int(floorDiv(timestamp.seconds, 86_400))
        let secondOfDay = Int(timestamp.seconds - Int64(days) * 86_400)
        let (year, month, day) = civilFromDays(days)
        // Written digit by digit: Reprocess details and audit lines format a time per request,
        // and interpolating padded parts cost a string each.
        func append(_ value: Int, width: Int) {
            if value < 0 { text.append(UInt8(ascii: "-")) }
            let magnitude = value.magnitude
            var divisor: UInt = 1
            var count = 1
            while magnitude / divisor >= 10 {
                divisor *= 10
                count += 1
            }
            for _ in count..<max(width, count) { text.append(UInt8(ascii: "0")) }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(magnitude / divisor % 10))
                divisor /= 10
            }
        }
        func appendTwo(_ value: Int) {
            text.append(UInt8(ascii: "0") + UInt8(value / 10))
            text.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        if (0...9999).contains(year) {
            appendTwo(year / 100)
            appendTwo(year % 100)
        } else {
            append(year, width: 4)
        }
        text.append(UInt8(ascii: "-"))
        appendTwo(month)
        text.append(UInt8(ascii: "-"))
        appendTwo(day)
        text.append(UInt8(ascii: "T"))
        appendTwo(secondOfDay / 3600)
        text.append(UInt8(ascii: ":"))
        appendTwo(secondOfDay / 60 % 60)
        text.append(UInt8(ascii: ":"))
        appendTwo(secondOfDay % 60)
        var nanos = Int(min(max(timestamp.nanos, 0), 999_999_999))
        if nanos != 0 {
            var width = 9
            while width > 3, nanos % 1_000 == 0 {
                nanos /= 1_000
                width -= 3
            }
            text.append(UInt8(ascii: "."))
            append(nanos, width: width)
        }
        text.append(UInt8(ascii: "Z"))
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
