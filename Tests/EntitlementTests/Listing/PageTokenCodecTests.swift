import Entitlement
import EntitlementAPI
import Testing

@Suite("Page tokens")
struct PageTokenCodecTests {
    let codec = PageTokenCodec(key: Array(repeating: 7, count: 32))
    let cursor = ListingKey(createdSeconds: -5, createdNanos: 999_999_999, id: "req-ünïcode/1")

    @Test("a token round-trips its cursor")
    func roundTrip() throws {
        let token = codec.encode(after: cursor, accessPackageId: "ap-1", states: [.delivered, .deliveryFailed])
        #expect(!token.contains("=") && !token.contains("+") && !token.contains("/"))
        let decoded = try codec.decode(token, accessPackageId: "ap-1", states: [.deliveryFailed, .delivered])
        #expect(decoded == cursor)
    }

    @Test("every single-character change is caught")
    func everyByteSigned() {
        let token = Array(codec.encode(after: cursor, accessPackageId: "ap-1", states: []).utf8)
        for i in token.indices {
            var changed = token
            changed[i] = changed[i] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
            #expect(throws: PageTokenError.self) {
                try codec.decode(String(decoding: changed, as: UTF8.self), accessPackageId: "ap-1", states: [])
            }
        }
    }

    @Test("another key's token is tampered; another binding is mismatched")
    func errors() {
        let other = PageTokenCodec(key: Array(repeating: 8, count: 32))
        let token = other.encode(after: cursor, accessPackageId: "ap-1", states: [])
        #expect(throws: PageTokenError.tampered) { try codec.decode(token, accessPackageId: "ap-1", states: []) }
        let mine = codec.encode(after: cursor, accessPackageId: "ap-1", states: [])
        #expect(throws: PageTokenError.mismatched) { try codec.decode(mine, accessPackageId: "ap-10", states: []) }
        #expect(throws: PageTokenError.malformed) { try codec.decode("", accessPackageId: "ap-1", states: []) }
    }
}
