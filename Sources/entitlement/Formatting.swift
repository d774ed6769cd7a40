import EntitlementAPI

/// Human-readable output, and the small number/time formatting the CLI needs without Foundation.
enum Formatting {
    /// `2026-11-20T10:05:00Z`, with 3, 6 or 9 fraction digits when there are nanoseconds (the proto3
    /// JSON form of `google.protobuf.Timestamp`). Always UTC.
    static func rfc3339(seconds: Int64, nanos: Int32) -> String {
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        var out = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        out += "T" + pad(secondOfDay / 3_600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        let nanos = Int64(max(0, min(nanos, 999_999_999)))
        if nanos != 0 {
            if nanos % 1_000_000 == 0 {
                out += "." + pad(nanos / 1_000_000, 3)
            } else if nanos % 1_000 == 0 {
                out += "." + pad(nanos / 1_000, 6)
            } else {
                out += "." + pad(nanos, 9)
            }
        }
        return out + "Z"
    }

    /// A request as a header line, a requestor line and one line per resource.
    static func lines(for request: AccessPackageRequest) -> String {
        var out = "\(request.id)  \(request.state.protoName)"
        out += "  created " + timestamp(request.createdAt?.seconds, request.createdAt?.nanos)
        out += "  completed " + timestamp(request.completedAt?.seconds, request.completedAt?.nanos)
        out += "  reprocessed \(request.reprocessCount)x"
        if let last = request.lastReprocessedAt { out += " (last " + rfc3339(seconds: last.seconds, nanos: last.nanos) + ")" }
        if let requestor = request.requestor {
            out += "\n    requestor \(requestor.id)"
            if !requestor.displayName.isEmpty { out += " " + quoted(requestor.displayName) }
            if !requestor.principalName.isEmpty { out += " <\(requestor.principalName)>" }
        }
        for resource in request.resources {
            out += "\n    resource  \(resource.resourceId)"
            if !resource.resourceType.isEmpty { out += " (\(resource.resourceType))" }
            out += "  \(resource.state.protoName)  attempts \(resource.attempts)"
            if !resource.error.isEmpty { out += "  error " + quoted(resource.error) }
        }
        return out
    }

    /// One reprocess result: id, outcome, resulting state and reprocess count, detail.
    static func line(for result: ReprocessResult) -> String {
        var out = "\(result.requestId)  \(result.outcome.protoName)"
        if let request = result.request {
            out += "  state \(request.state.protoName)  reprocessed \(request.reprocessCount)x"
        } else {
            out += "  state -"
        }
        if !result.detail.isEmpty { out += "  " + quoted(result.detail) }
        return out
    }

    /// `value` with `digits` decimals, rounded half away from zero.
    static func decimal(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return String(value) }
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int64((abs(value) * Double(scale)).rounded())
        var out = value < 0 && scaled != 0 ? "-" : ""
        out += String(scaled / scale)
        if digits > 0 { out += "." + pad(scaled % scale, digits) }
        return out
    }

    private static func timestamp(_ seconds: Int64?, _ nanos: Int32?) -> String {
        guard let seconds else { return "-" }
        return rfc3339(seconds: seconds, nanos: nanos ?? 0)
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out + "\""
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(abs(value))
        let sign = value < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// Proleptic Gregorian date for a day count from 1970-01-01 (H. Hinnant's `civil_from_days`).
    private static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
