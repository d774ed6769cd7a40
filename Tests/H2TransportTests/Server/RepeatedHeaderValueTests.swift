@testable import H2Transport
import Testing

@Suite("A connection's repeated header values")
struct RepeatedHeaderValueTests {
    private func string(_ cache: inout RepeatedHeaderValue<String>, _ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { cache.string(for: $0) }
    }

    @Test("a repeat gives the same text; a different value its own")
    func repeats() {
        var cache = RepeatedHeaderValue<String>()
        let token = "Bearer " + String(repeating: "abc.", count: 150)
        #expect(string(&cache, Array(token.utf8)) == token)
        #expect(string(&cache, Array(token.utf8)) == token)
        #expect(string(&cache, Array("Bearer other".utf8)) == "Bearer other")
        // Same length, different bytes.
        #expect(string(&cache, Array("Bearer othex".utf8)) == "Bearer othex")
        #expect(string(&cache, []) == "")
        #expect(string(&cache, []) == "")
        #expect(string(&cache, Array("/a/B".utf8)) == "/a/B")
    }

    @Test("invalid UTF-8 is repaired every time and never mistaken for a repeat")
    func invalidUTF8() {
        var cache = RepeatedHeaderValue<String>()
        let bad: [UInt8] = [0x2F, 0xFF, 0x61]
        let repaired = String(decoding: bad, as: UTF8.self)
        #expect(string(&cache, bad) == repaired)
        #expect(string(&cache, bad) == repaired)
        // The repaired text's own bytes are a different value, and get their own conversion.
        #expect(string(&cache, Array(repaired.utf8)) == repaired)
        #expect(string(&cache, bad) == repaired)
    }

    @Test("values past the kept size are converted each time, correctly")
    func long() {
        var cache = RepeatedHeaderValue<String>()
        let long = String(repeating: "x", count: RepeatedHeaderValue<String>.maxKeptBytes + 1)
        #expect(string(&cache, Array(long.utf8)) == long)
        #expect(string(&cache, Array(long.utf8)) == long)
        #expect(string(&cache, Array("short".utf8)) == "short")
    }

    @Test("what a value means is worked out once per change of value")
    func meaningOncePerChange() {
        var cache = RepeatedHeaderValue<Int>()
        var interpreted = 0
        func meaning(_ text: String) -> Int {
            Array(text.utf8).withUnsafeBytes { bytes in
                cache.meaning(of: bytes) { value in
                    interpreted += 1
                    return value.count
                }
            }
        }
        #expect(meaning("gzip, deflate") == 13)
        #expect(meaning("gzip, deflate") == 13)
        #expect(interpreted == 1)
        #expect(meaning("identity") == 8)
        #expect(meaning("gzip, deflate") == 13)
        #expect(interpreted == 3)
    }
}
