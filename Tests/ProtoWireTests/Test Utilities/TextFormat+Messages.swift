import EntitlementAPI
import ProtoWire

extension TextFormat {
    /// Enums by name when known, by number otherwise (`protoName` gives exactly that).
    mutating func enumValue(_ name: String, _ protoName: String) {
        text += "\(name): \(protoName)\n"
    }
}

extension Timestamp: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if seconds != 0 { t.int("seconds", seconds) }
        if nanos != 0 { t.int("nanos", nanos) }
    }
}

extension Subject: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !id.isEmpty { t.string("id", id) }
        if !displayName.isEmpty { t.string("display_name", displayName) }
        if !principalName.isEmpty { t.string("principal_name", principalName) }
    }
}

extension ResourceDelivery: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !resourceId.isEmpty { t.string("resource_id", resourceId) }
        if !displayName.isEmpty { t.string("display_name", displayName) }
        if !resourceType.isEmpty { t.string("resource_type", resourceType) }
        if state.rawValue != 0 { t.enumValue("state", state.protoName) }
        if !error.isEmpty { t.string("error", error) }
        if attempts != 0 { t.int("attempts", attempts) }
    }
}

extension AccessPackageRequest: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !id.isEmpty { t.string("id", id) }
        if !accessPackageId.isEmpty { t.string("access_package_id", accessPackageId) }
        if !catalogId.isEmpty { t.string("catalog_id", catalogId) }
        if let requestor { t.message("requestor", requestor) }
        if state.rawValue != 0 { t.enumValue("state", state.protoName) }
        if let createdAt { t.message("created_at", createdAt) }
        if let completedAt { t.message("completed_at", completedAt) }
        for r in resources { t.message("resources", r) }
        if reprocessCount != 0 { t.int("reprocess_count", reprocessCount) }
        if let lastReprocessedAt { t.message("last_reprocessed_at", lastReprocessedAt) }
    }
}

extension ListRequestsRequest: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !accessPackageId.isEmpty { t.string("access_package_id", accessPackageId) }
        for s in states { t.enumValue("states", s.protoName) }
        if pageSize != 0 { t.int("page_size", pageSize) }
        if !pageToken.isEmpty { t.string("page_token", pageToken) }
    }
}

extension ListRequestsResponse: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        for r in requests { t.message("requests", r) }
        if !nextPageToken.isEmpty { t.string("next_page_token", nextPageToken) }
    }
}

extension ReprocessRequest: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !accessPackageId.isEmpty { t.string("access_package_id", accessPackageId) }
        for id in requestIds { t.string("request_ids", id) }
    }
}

extension ReprocessResult: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !requestId.isEmpty { t.string("request_id", requestId) }
        if outcome.rawValue != 0 { t.enumValue("outcome", outcome.protoName) }
        if !detail.isEmpty { t.string("detail", detail) }
        if let request { t.message("request", request) }
    }
}

extension ReprocessResponse: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        for r in results { t.message("results", r) }
    }
}

extension HealthCheckRequest: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !service.isEmpty { t.string("service", service) }
    }
}

extension HealthCheckResponse: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if status.rawValue != 0 { t.enumValue("status", status.protoName) }
    }
}

extension Nested: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if value != 0 { t.int("value", value) }
        if !name.isEmpty { t.string("name", name) }
    }
}

extension Recursive: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if let child { t.message("child", child) }
        if depth != 0 { t.int("depth", depth) }
    }
}

extension Keywords: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !self.default.isEmpty { t.string("default", self.default) }
        if self.class != 0 { t.int("class", self.class) }
        if kind.rawValue != 0 { t.enumValue("kind", kind.protoName) }
        for s in self.in { t.string("in", s) }
    }
}

extension Scalars: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if int32Value != 0 { t.int("int32_value", int32Value) }
        if int64Value != 0 { t.int("int64_value", int64Value) }
        if uint32Value != 0 { t.int("uint32_value", uint32Value) }
        if uint64Value != 0 { t.int("uint64_value", uint64Value) }
        if sint32Value != 0 { t.int("sint32_value", sint32Value) }
        if sint64Value != 0 { t.int("sint64_value", sint64Value) }
        if boolValue { t.bool("bool_value", boolValue) }
        if enumValue.rawValue != 0 { t.enumValue("enum_value", enumValue.protoName) }
        if fixed32Value != 0 { t.int("fixed32_value", fixed32Value) }
        if fixed64Value != 0 { t.int("fixed64_value", fixed64Value) }
        if sfixed32Value != 0 { t.int("sfixed32_value", sfixed32Value) }
        if sfixed64Value != 0 { t.int("sfixed64_value", sfixed64Value) }
        if floatValue.bitPattern != 0 { t.float("float_value", floatValue) }
        if doubleValue.bitPattern != 0 { t.double("double_value", doubleValue) }
        if !stringValue.isEmpty { t.string("string_value", stringValue) }
        if !bytesValue.isEmpty { t.bytes("bytes_value", bytesValue) }
        for v in repeatedInt32 { t.int("repeated_int32", v) }
        for v in repeatedInt64 { t.int("repeated_int64", v) }
        for v in repeatedUint32 { t.int("repeated_uint32", v) }
        for v in repeatedUint64 { t.int("repeated_uint64", v) }
        for v in repeatedSint32 { t.int("repeated_sint32", v) }
        for v in repeatedSint64 { t.int("repeated_sint64", v) }
        for v in repeatedBool { t.bool("repeated_bool", v) }
        for v in repeatedEnum { t.enumValue("repeated_enum", v.protoName) }
        for v in repeatedFixed32 { t.int("repeated_fixed32", v) }
        for v in repeatedFixed64 { t.int("repeated_fixed64", v) }
        for v in repeatedSfixed32 { t.int("repeated_sfixed32", v) }
        for v in repeatedSfixed64 { t.int("repeated_sfixed64", v) }
        for v in repeatedFloat { t.float("repeated_float", v) }
        for v in repeatedDouble { t.double("repeated_double", v) }
        for v in repeatedString { t.string("repeated_string", v) }
        for v in repeatedBytes { t.bytes("repeated_bytes", v) }
        if let nested { t.message("nested", nested) }
        for v in nestedList { t.message("nested_list", v) }
        for (k, v) in stringToInt {
            t.message("string_to_int") {
                $0.string("key", k)
                $0.int("value", v)
            }
        }
        for (k, v) in intToNested {
            t.message("int_to_nested") {
                $0.int("key", k)
                $0.message("value", v)
            }
        }
        if let optionalInt32 { t.int("optional_int32", optionalInt32) }
        switch choice {
        case .choiceName(let v)?: t.string("choice_name", v)
        case .choiceNested(let v)?: t.message("choice_nested", v)
        case .choiceNumber(let v)?: t.int("choice_number", v)
        case nil: break
        }
        for v in unpackedInt32 { t.int("unpacked_int32", v) }
        if maxFieldNumber != 0 { t.int("max_field_number", maxFieldNumber) }
    }
}

extension RecordV2: TextFormatRepresentable {
    func writeText(to t: inout TextFormat) {
        if !id.isEmpty { t.string("id", id) }
        if level.rawValue != 0 { t.enumValue("level", level.protoName) }
        for v in levels { t.enumValue("levels", v.protoName) }
        if count != 0 { t.int("count", count) }
        if let extra { t.message("extra") { $0.string("note", extra.note) } }
        for v in codes { t.int("codes", v) }
        if ratio.bitPattern != 0 { t.double("ratio", ratio) }
        if delta != 0 { t.int("delta", delta) }
        if !blob.isEmpty { t.bytes("blob", blob) }
    }
}
