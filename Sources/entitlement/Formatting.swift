import EntitlementAPI
import ProtoWire

/// Human-readable output, and the small number/time formatting the CLI needs without Foundation.
enum Formatting {
    /// `2026-11-20T10:05:00Z`: the proto3 JSON form of `google.protobuf.Timestamp`, always UTC.
    static func rfc3339(_ timestamp: Timestamp) -> String {
        RFC3339.format(timestamp)
    }

    /// A request as a header line, a requestor line and one line per resource.
    static func lines(for request: AccessPackageRequest) -> String {
        var out = "\(request.id)  \(request.state.protoName)"
        out += "  created " + timestamp(request.createdAt?.seconds, request.createdAt?.nanos)
        out += "  completed " + timestamp(request.completedAt?.seconds, request.completedAt?.nanos)
        out += "  reprocessed \(request.reprocessCount)x"
        if let last = request.lastReprocessedAt { out += " (last " + rfc3339(last) + ")" }
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
    /// One line per watched change: id, state, each resource's state and attempts, count.
    static func changeLine(for request: AccessPackageRequest) -> String {
        var out = "\(request.id)  \(request.state.protoName)"
        let resources = request.resources.map { "\($0.resourceId)=\(shortState($0.state))/\($0.attempts)" }
        if !resources.isEmpty { out += "  resources " + resources.joined(separator: " ") }
        out += "  reprocessed \(request.reprocessCount)x"
        return out
    }

    /// `DELIVERED` of `RESOURCE_DELIVERY_STATE_DELIVERED`.
    static func shortState(_ state: ResourceDeliveryState) -> String {
        let name = state.protoName
        let prefix = "RESOURCE_DELIVERY_STATE_"
        return name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
    }

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
        return rfc3339(Timestamp(seconds: seconds, nanos: nanos ?? 0))
    }

    /// Caller text in quotes, escaped as JSON: a control character cannot reach the terminal.
    private static func quoted(_ text: String) -> String {
        var out = ""
        ProtoJSON.writeString(text, to: &out)
        return out
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(abs(value))
        let sign = value < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
