import EntitlementAPI
import ProtoWire

/// Messages with known contents, shared by the compatibility, round-trip and fuzz tests.
enum Samples {
    static let nonASCII = "Zoë Ångström — 日本語テキスト, Ελληνικά, עברית, emoji 👩‍👩‍👧‍👦🚀, combining e\u{301}, NUL\u{0}end"
    static let fourKiB = String(repeating: "abcdefgh", count: 512)

    static func timestamp(_ seconds: Int64, _ nanos: Int32) -> Timestamp {
        Timestamp(seconds: seconds, nanos: nanos)
    }

    static func subject(_ index: Int) -> Subject {
        var s = Subject()
        s.id = "00000000-0000-0000-0000-\(String(repeating: "0", count: 12 - String(index).count))\(index)"
        s.displayName = index.isMultiple(of: 2) ? "Ada Lovelace" : nonASCII
        s.principalName = "user\(index)@contoso.example"
        return s
    }

    static func resource(_ index: Int, state: ResourceDeliveryState = .failed) -> ResourceDelivery {
        var r = ResourceDelivery()
        r.resourceId = "resource-\(index)"
        r.displayName = "Resource \(index) — Sales SharePoint"
        r.resourceType = ["SharePointOnline", "AadGroup", "AadApplication"][index % 3]
        r.state = state
        r.error = index.isMultiple(of: 2) ? "" : "provisioning failed: HTTP 503 (retry later)"
        r.attempts = Int32(index + 1)
        return r
    }

    /// An AccessPackageRequest with every field set (three resources).
    static func request(_ index: Int) -> AccessPackageRequest {
        var r = AccessPackageRequest()
        r.id = "req-\(index)"
        r.accessPackageId = "ap-7f3c9a52-1b6e-4f0d-9c2a-5e8b1d4f6a70"
        r.catalogId = "catalog-general"
        r.requestor = subject(index)
        r.state = RequestState.allKnownCases[index % RequestState.allKnownCases.count]
        r.createdAt = timestamp(1_700_000_000 + Int64(index) * 3600, 123_456_789)
        r.completedAt = timestamp(1_700_000_900 + Int64(index) * 3600, 1)
        r.resources = (0..<3).map { resource(index * 3 + $0, state: ResourceDeliveryState(rawValue: Int32($0 % 4))) }
        r.reprocessCount = Int32(index % 5)
        r.lastReprocessedAt = timestamp(1_700_100_000 + Int64(index), 999_999_999)
        return r
    }

    static func listResponse(count: Int) -> ListRequestsResponse {
        var response = ListRequestsResponse()
        response.requests = (0..<count).map(request)
        response.nextPageToken = "eyJjcmVhdGVkX2F0IjoxNzAwMDAwMDAwLCJpZCI6InJlcS00OSJ9.c2lnbmF0dXJl"
        return response
    }

    // MARK: Scalars fixture

    /// Every singular scalar set to `value` (converted per type), plus one element in each repeated field.
    static func scalars(
        int64 value: Int64,
        uint64 unsigned: UInt64,
        float: Float,
        double: Double,
        string: String,
        bytes: [UInt8]
    ) -> Scalars {
        var m = Scalars()
        m.int32Value = Int32(truncatingIfNeeded: value)
        m.int64Value = value
        m.uint32Value = UInt32(truncatingIfNeeded: unsigned)
        m.uint64Value = unsigned
        m.sint32Value = Int32(truncatingIfNeeded: value)
        m.sint64Value = value
        m.boolValue = value != 0
        m.enumValue = Color(rawValue: Int32(truncatingIfNeeded: value))
        m.fixed32Value = UInt32(truncatingIfNeeded: unsigned)
        m.fixed64Value = unsigned
        m.sfixed32Value = Int32(truncatingIfNeeded: value)
        m.sfixed64Value = value
        m.floatValue = float
        m.doubleValue = double
        m.stringValue = string
        m.bytesValue = bytes
        m.repeatedInt32 = [m.int32Value]
        m.repeatedInt64 = [value]
        m.repeatedUint32 = [m.uint32Value]
        m.repeatedUint64 = [unsigned]
        m.repeatedSint32 = [m.sint32Value]
        m.repeatedSint64 = [value]
        m.repeatedBool = [m.boolValue]
        m.repeatedEnum = [m.enumValue]
        m.repeatedFixed32 = [m.fixed32Value]
        m.repeatedFixed64 = [unsigned]
        m.repeatedSfixed32 = [m.sfixed32Value]
        m.repeatedSfixed64 = [value]
        m.repeatedFloat = [float]
        m.repeatedDouble = [double]
        m.repeatedString = [string]
        m.repeatedBytes = [bytes]
        m.unpackedInt32 = [m.int32Value]
        return m
    }

    static var allFieldsScalars: Scalars {
        var m = scalars(int64: -42, uint64: 42, float: 1.5, double: -2.25, string: nonASCII, bytes: [0, 1, 0xFF, 0x80])
        var nested = Nested()
        nested.value = -7
        nested.name = "nested ☃"
        m.nested = nested
        m.nestedList = [nested, Nested(), nested]
        m.stringToInt = ["ключ": -1]
        m.intToNested = [Int32.min: nested]
        m.optionalInt32 = 0
        m.choice = .choiceNested(nested)
        m.maxFieldNumber = 1
        return m
    }

    /// 1,000 elements in every repeated field.
    static var thousandElementScalars: Scalars {
        var m = Scalars()
        let range = 0..<1000
        m.repeatedInt32 = range.map { Int32($0) * (($0 % 2 == 0) ? 1 : -1) * 1_000_003 }
        m.repeatedInt64 = range.map { Int64($0) * -9_000_000_000_000_001 / 1000 }
        m.repeatedUint32 = range.map { UInt32($0) * 4_000_037 }
        m.repeatedUint64 = range.map { UInt64($0) &* 18_000_000_000_000_017 }
        m.repeatedSint32 = range.map { Int32($0 - 500) * 4_000_000 }
        m.repeatedSint64 = range.map { Int64($0 - 500) * 18_000_000_000_000_000 / 1000 }
        m.repeatedBool = range.map { $0 % 3 == 0 }
        m.repeatedEnum = range.map { Color(rawValue: Int32($0 % 5) - 1) }
        m.repeatedFixed32 = range.map { UInt32($0) &* 0x9E37_79B9 }
        m.repeatedFixed64 = range.map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        m.repeatedSfixed32 = range.map { Int32(truncatingIfNeeded: $0 &* -0x1234_567) }
        m.repeatedSfixed64 = range.map { Int64($0) &* -0x1234_5678_9ABC }
        m.repeatedFloat = range.map { Float($0) / 7 - 50 }
        m.repeatedDouble = range.map { Double($0) / 3 - 100 }
        m.repeatedString = range.map { $0 % 10 == 0 ? "" : "s\($0) é" }
        m.repeatedBytes = range.map { [UInt8(truncatingIfNeeded: $0), 0, 0xFF] }
        m.nestedList = range.map {
            var n = Nested()
            n.value = Int32($0)
            return n
        }
        m.unpackedInt32 = range.map { Int32($0) - 1 }
        return m
    }
}
