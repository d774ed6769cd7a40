import RPCCore
import Testing

@Suite("grpc-message percent-encoding")
struct PercentEncodingTests {
    @Test("printable ASCII passes, % and non-ASCII are escaped")
    func encodes() {
        #expect(PercentEncoding.encode("plain text: ok") == "plain text: ok")
        #expect(PercentEncoding.encode("100%") == "100%25")
        #expect(PercentEncoding.encode("ünï\n") == "%C3%BCn%C3%AF%0A")
    }

    @Test("decoding inverts encoding and keeps malformed escapes", arguments: ["a%b", "%", "%zz", "x%4"])
    func decodesMalformed(text: String) {
        #expect(PercentEncoding.decode(text) == text)
    }

    @Test("round trip", arguments: ["", "hello", "100% sure", "日本語", "tab\there"])
    func roundTrip(text: String) {
        #expect(PercentEncoding.decode(PercentEncoding.encode(text)) == text)
    }
}
