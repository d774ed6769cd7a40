import EntitlementAPI
import ServerLogging

/// The proto3 JSON mapping of the service's messages: lowerCamelCase names, enum value names,
/// RFC 3339 timestamps, and fields at their default value left out.
enum ProtoJSON {
    indirect enum Value {
        case object([(String, Value)])
        case array([Value])
        case string(String)
        case number(Int64)
    }

    static func value(_ response: ListRequestsResponse) -> Value {
        var fields: [(String, Value)] = []
        if !response.requests.isEmpty { fields.append(("requests", .array(response.requests.map(value)))) }
        if !response.nextPageToken.isEmpty { fields.append(("nextPageToken", .string(response.nextPageToken))) }
        return .object(fields)
    }

    static func value(_ response: ReprocessResponse) -> Value {
        var fields: [(String, Value)] = []
        if !response.results.isEmpty { fields.append(("results", .array(response.results.map(value)))) }
        return .object(fields)
    }

    static func value(_ result: ReprocessResult) -> Value {
        var fields: [(String, Value)] = []
        add(&fields, "requestId", result.requestId)
        if result.outcome != .unspecified { fields.append(("outcome", enumValue(result.outcome.protoName, result.outcome.rawValue))) }
        add(&fields, "detail", result.detail)
        if let request = result.request { fields.append(("request", value(request))) }
        return .object(fields)
    }

    static func value(_ request: AccessPackageRequest) -> Value {
        var fields: [(String, Value)] = []
        add(&fields, "id", request.id)
        add(&fields, "accessPackageId", request.accessPackageId)
        add(&fields, "catalogId", request.catalogId)
        if let requestor = request.requestor {
            var subject: [(String, Value)] = []
            add(&subject, "id", requestor.id)
            add(&subject, "displayName", requestor.displayName)
            add(&subject, "principalName", requestor.principalName)
            fields.append(("requestor", .object(subject)))
        }
        if request.state != .unspecified { fields.append(("state", enumValue(request.state.protoName, request.state.rawValue))) }
        if let t = request.createdAt { fields.append(("createdAt", .string(Formatting.rfc3339(t)))) }
        if let t = request.completedAt { fields.append(("completedAt", .string(Formatting.rfc3339(t)))) }
        if !request.resources.isEmpty { fields.append(("resources", .array(request.resources.map(value)))) }
        if request.reprocessCount != 0 { fields.append(("reprocessCount", .number(Int64(request.reprocessCount)))) }
        if let t = request.lastReprocessedAt {
            fields.append(("lastReprocessedAt", .string(Formatting.rfc3339(t))))
        }
        return .object(fields)
    }

    static func value(_ resource: ResourceDelivery) -> Value {
        var fields: [(String, Value)] = []
        add(&fields, "resourceId", resource.resourceId)
        add(&fields, "displayName", resource.displayName)
        add(&fields, "resourceType", resource.resourceType)
        if resource.state != .unspecified { fields.append(("state", enumValue(resource.state.protoName, resource.state.rawValue))) }
        add(&fields, "error", resource.error)
        if resource.attempts != 0 { fields.append(("attempts", .number(Int64(resource.attempts)))) }
        return .object(fields)
    }

    private static func add(_ fields: inout [(String, Value)], _ name: String, _ string: String) {
        if !string.isEmpty { fields.append((name, .string(string))) }
    }

    /// A known value by name; one this schema does not know by number, as the mapping requires.
    private static func enumValue(_ name: String, _ raw: Int32) -> Value {
        name == String(raw) ? .number(Int64(raw)) : .string(name)
    }

    /// On one line, as `--output json` prints each object.
    static func line(_ value: Value) -> String {
        var out = ""
        write(value, to: &out)
        return out
    }

    private static func write(_ value: Value, to out: inout String) {
        switch value {
        case .string(let s):
            writeString(s, to: &out)
        case .number(let n):
            out += String(n)
        case .array(let elements):
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                write(element, to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (name, field)) in fields.enumerated() {
                if i > 0 { out += "," }
                writeString(name, to: &out)
                out += ":"
                write(field, to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal, escaped as the server's log lines and audit.log escape theirs.
    static func writeString(_ s: String, to out: inout String) {
        var bytes: [UInt8] = []
        bytes.appendJSONString(s)
        out += String(decoding: bytes, as: UTF8.self)
    }
}
