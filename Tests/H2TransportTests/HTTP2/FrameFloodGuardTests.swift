@testable import H2Transport
import Testing

@Suite("FrameFloodGuard")
struct FrameFloodGuardTests {
    static let second: UInt64 = 1_000_000_000

    @Test("PING/SETTINGS: 500 in a second pass, the 501st does not, and the next second starts afresh")
    func controlFrames() {
        var guardian = FrameFloodGuard()
        let start = 10 * Self.second
        for i in 0..<FrameFloodGuard.maxControlFramesPerSecond {
            do { let admitted = guardian.admit(.control, now: start + UInt64(i)); #expect(admitted, "frame \(i)") }
        }
        do { let admitted = guardian.admit(.control, now: start + Self.second / 2); #expect(!admitted) }
        do { let admitted = guardian.admit(.control, now: start + Self.second); #expect(admitted) }
    }

    @Test("frames that do no work: a burst of 1,000, then the refill rate, kind by kind alike", arguments: [
        FrameFloodGuard.Frame.acknowledgement, .priority, .windowUpdate, .emptyData,
    ])
    func idleBurst(frame: FrameFloodGuard.Frame) {
        var guardian = FrameFloodGuard()
        let start = 10 * Self.second
        for i in 0..<FrameFloodGuard.idleBurst {
            do { let admitted = guardian.admit(frame, now: start); #expect(admitted, "frame \(i)") }
        }
        do { let admitted = guardian.admit(frame, now: start); #expect(!admitted) }
        // A tenth of a second earns 33 frames, no more.
        let later = start + Self.second / 10
        for i in 0..<33 { do { let admitted = guardian.admit(frame, now: later); #expect(admitted, "refilled frame \(i)") } }
        do { let admitted = guardian.admit(frame, now: later); #expect(!admitted) }
    }

    @Test("a sustained rate under the refill is never refused; control frames do not spend idle tokens")
    func sustainedRate() {
        var guardian = FrameFloodGuard()
        var now = 10 * Self.second
        for i in 0..<5_000 {
            now += Self.second / 300
            do { let admitted = guardian.admit(.windowUpdate, now: now); #expect(admitted, "frame \(i)") }
            do { let admitted = guardian.admit(.control, now: now); #expect(admitted) }
        }
    }

    @Test("each DATA frame sent and each stream opened earns two frames, kept apart from the burst up to its own cap")
    func credit() {
        var guardian = FrameFloodGuard()
        let now = 10 * Self.second
        func spend() -> Int {
            var admitted = 0
            while guardian.admit(.windowUpdate, now: now) { admitted += 1 }
            return admitted
        }
        #expect(spend() == FrameFloodGuard.idleBurst)
        for _ in 0..<10 { guardian.dataFrameSent() }
        for _ in 0..<5 { guardian.streamOpened() }
        #expect(spend() == 30)
        // A receiver acknowledging a 16 MiB window of 16 KiB frames, frame by frame, owes 2,048.
        for _ in 0..<1_024 { guardian.dataFrameSent() }
        #expect(spend() == 2_048)
        for _ in 0..<100_000 { guardian.dataFrameSent() }
        #expect(spend() == FrameFloodGuard.maxCredit, "credit is capped")
    }
}

@Suite("PeerStreamIDs")
struct PeerStreamIDsTests {
    @Test("a HEADERS on an id the client skipped is refused; on ids it used, or higher ones, it is not")
    func skippedIDs() {
        var ids = PeerStreamIDs()
        do { let admitted = ids.headersBegin(on: 5); #expect(admitted) }
        do { let admitted = ids.headersBegin(on: 3); #expect(!admitted, "3 was skipped when 5 opened") }
        do { let admitted = ids.headersBegin(on: 1); #expect(!admitted) }
        do { let admitted = ids.headersBegin(on: 5); #expect(admitted, "trailers on the stream just opened") }
        do { let admitted = ids.headersBegin(on: 7); #expect(admitted) }
        do { let admitted = ids.headersBegin(on: 11); #expect(admitted) }
        do { let admitted = ids.headersBegin(on: 5); #expect(admitted, "5 was opened") }
        do { let admitted = ids.headersBegin(on: 7); #expect(admitted, "7 was opened") }
        do { let admitted = ids.headersBegin(on: 9); #expect(!admitted, "9 was skipped") }
        do { let admitted = ids.headersBegin(on: 3); #expect(!admitted) }
        #expect(ids.highest == 11)
    }

    @Test("ids more than 64 streams back are not known and pass; even and zero ids are left to nghttp2")
    func window() {
        var ids = PeerStreamIDs()
        for id in stride(from: Int32(1), through: 301, by: 2) { do { let admitted = ids.headersBegin(on: id); #expect(admitted) } }
        do { let admitted = ids.headersBegin(on: 301 - 2 * 64); #expect(admitted, "the oldest remembered id was opened") }
        do { let admitted = ids.headersBegin(on: 301 - 2 * 65); #expect(admitted, "beyond the window: not known") }
        do { let admitted = ids.headersBegin(on: 1_001); #expect(admitted, "a jump empties the window") }
        do { let admitted = ids.headersBegin(on: 999); #expect(!admitted) }
        do { let admitted = ids.headersBegin(on: 301); #expect(admitted, "301 is more than 64 streams back now") }
        do { let admitted = ids.headersBegin(on: 2); #expect(admitted) }
        do { let admitted = ids.headersBegin(on: 0); #expect(admitted) }
    }
}

@Suite("WrongProtocol")
struct WrongProtocolTests {
    static func guess(_ text: [UInt8]) -> String? {
        text.withUnsafeBytes { WrongProtocol.guess(from: $0) }
    }

    @Test("HTTP/1.x, TLS and PROXY protocol openings are named; anything else is not")
    func guesses() {
        let http1 = Self.guess(Array("POST /entitlement.v1.AccessRequests/ListRequests HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(http1 == "an HTTP/1.x request (\"POST /entitlement.v1.AccessRequests/ListRequests HTTP/1.1\")")
        #expect(Self.guess([0x16, 0x03, 0x01, 0x02, 0x00]) == "a TLS handshake")
        let proxy = Self.guess(Array("PROXY TCP4 10.0.0.1 10.0.0.2 5000 50051\r\nPRI".utf8))
        #expect(proxy?.hasPrefix("a PROXY protocol header (\"PROXY TCP4 10.0.0.1 10.0.0.2 5000 50051\")") == true)
        #expect(Self.guess(Array("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".utf8)) == nil)
        #expect(Self.guess(Array("GET\u{1b}[2J HTTP/1.1".utf8)) == nil, "not a method followed by a space")
        #expect(Self.guess([]) == nil)
        let escaped = Self.guess(Array("GET /\u{1b}[2J HTTP/1.1\r\n".utf8))
        #expect(escaped?.contains("\u{1b}") == false, "caller bytes are escaped")
    }
}
