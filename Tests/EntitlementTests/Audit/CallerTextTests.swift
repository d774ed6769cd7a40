import RPCCore
import Entitlement
import ProtoWire
import Testing

@Suite("Caller text in logs and audit records")
struct CallerTextTests {
    @Test("control characters are escaped, so a caller cannot forge a log line")
    func escapes() {
        let forged = "ap-1\n2026-11-29T00:00:00+0000 notice audit.decision=allowed"
        let clean = CallerText.clean(forged)
        #expect(!clean.contains("\n"))
        #expect(clean.hasPrefix("ap-1\\n2026"))
    }

    @Test("line separators other readers break at, and the backslash, are escaped too; other text is not")
    func escapesSeparatorsAndBackslash() {
        #expect(CallerText.clean("a\u{2028}b\u{2029}c\u{85}d") == #"a\u{2028}b\u{2029}c\u{0085}d"#)
        // An escaped newline and a typed backslash-n read apart.
        #expect(CallerText.clean("evil\nid") != CallerText.clean(#"evil\nid"#))
        #expect(CallerText.clean(#"a\b"#) == #"a\\b"#)
        #expect(CallerText.clean("€ and \u{C2A0}é") == "€ and \u{C2A0}é", "the lead bytes alone change nothing")
    }

    @Test("long values are cut at a byte budget, on a character boundary")
    func clips() {
        let clean = CallerText.clean(String(repeating: "é", count: 1000), maxBytes: 64)
        #expect(clean.utf8.count <= 64 + "…".utf8.count)
        #expect(clean.hasSuffix("…"))
    }

    @Test("ordinary text is kept as it is")
    func keeps() {
        #expect(CallerText.clean("req-1-0005 ünïcödé") == "req-1-0005 ünïcödé")
    }

    @Test("audit records bound what any caller can make the store keep")
    func auditRecordIsBounded() {
        let record = AuditRecord(
            callerObjectId: nil, time: Timestamp(seconds: 1), accessPackageId: String(repeating: "p", count: 100_000),
            requestIds: Array(repeating: String(repeating: "i", count: 100_000), count: 500), decision: .denied,
            reason: "x")
        #expect(record.accessPackageId.utf8.count <= CallerText.maxBytes + 3)
        #expect(record.requestIds.count == AuditRecord.maxRequestIds)
        #expect(record.requestIds.allSatisfy { $0.utf8.count <= CallerText.maxBytes + 3 })
    }
}
