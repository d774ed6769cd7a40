import ProtoWire
import Testing

@Suite("RFC 3339")
struct RFC3339Tests {
    @Test(
        "valid forms parse",
        arguments: [
            ("1970-01-01T00:00:00Z", Timestamp(seconds: 0)),
            ("2026-11-20T10:00:00Z", Timestamp(seconds: 1_795_168_800)),
            ("2026-11-20T10:00:00.123Z", Timestamp(seconds: 1_795_168_800, nanos: 123_000_000)),
            ("2026-11-20T10:00:00.000000001z", Timestamp(seconds: 1_795_168_800, nanos: 1)),
            ("2026-11-20T11:30:00+01:30", Timestamp(seconds: 1_795_168_800)),
            ("2026-11-20t05:00:00-05:00", Timestamp(seconds: 1_795_168_800)),
            ("2024-02-29T00:00:00Z", Timestamp(seconds: 1_709_164_800)),
            ("1969-12-31T23:59:59Z", Timestamp(seconds: -1)),
        ])
    func parses(text: String, expected: Timestamp) {
        #expect(RFC3339.parse(text) == expected)
    }

    @Test(
        "invalid forms are refused",
        arguments: [
            "", "2026-11-20", "2026-11-20T10:00:00", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
            "2026-11-20T24:00:00Z", "2026-11-20T10:00:00.Z", "2026-11-20T10:00:00.1234567890Z",
            "2026-11-20T10:00:00+0100",
            "2026-11-20T10:00:00Z ", "20261120T100000Z", "2026-11-20 10:00:00Z",
        ])
    func refuses(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test(
        "format and parse round-trip",
        arguments: [
            Timestamp(seconds: 0), Timestamp(seconds: 1_795_168_800, nanos: 5_000_000),
            Timestamp(seconds: -86_401, nanos: 7),
        ])
    func roundTrip(timestamp: Timestamp) {
        #expect(RFC3339.parse(RFC3339.format(timestamp)) == timestamp)
    }

    @Test(
        "format writes UTC with 0, 3, 6 or 9 fraction digits",
        arguments: [
            (Timestamp(seconds: 0), "1970-01-01T00:00:00Z"),
            (Timestamp(seconds: 1_795_168_800, nanos: 5_000_000), "2026-11-20T10:00:00.005Z"),
            (Timestamp(seconds: 1_795_168_800, nanos: 120_000), "2026-11-20T10:00:00.000120Z"),
            (Timestamp(seconds: -86_401, nanos: 7), "1969-12-30T23:59:59.000000007Z"),
            (Timestamp(seconds: 253_402_300_799, nanos: 999_999_999), "9999-12-31T23:59:59.999999999Z"),
            (Timestamp(seconds: -62_135_596_800), "0001-01-01T00:00:00Z"),
            (Timestamp(seconds: 253_402_300_800, nanos: 10), "10000-01-01T00:00:00.000000010Z"),
            (Timestamp(seconds: -62_198_755_200), "-0001-01-01T00:00:00Z"),
        ])
    func formats(timestamp: Timestamp, expected: String) {
        #expect(RFC3339.format(timestamp) == expected)
    }

    @Test("isValid is the range 0001-01-01T00:00:00Z...9999-12-31T23:59:59.999999999Z")
    func validRange() {
        #expect(RFC3339.parse("0001-01-01T00:00:00Z")!.isValid)
        #expect(RFC3339.parse("9999-12-31T23:59:59.999999999Z")!.isValid)
        #expect(!RFC3339.parse("0001-01-01T00:59:59+01:00")!.isValid)
        #expect(!RFC3339.parse("9999-12-31T23:00:00-01:00")!.isValid)
        #expect(!Timestamp(seconds: 0, nanos: -1).isValid)
    }
}
