import Crypto
import Entitlement
import EntitlementAPI
import RPCCore
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

    @Test("tokens for the longest id an import takes, and for the 3,011-byte ids stored before that cap, decode")
    func longestIds() throws {
        // Multi-byte characters: the import's cap counts UTF-8 bytes.
        let imported = ListingKey(
            createdSeconds: 1, createdNanos: 2, id: String(repeating: "é", count: Fixture.maxIdBytes / 2))
        let token = codec.encode(after: imported, accessPackageId: "ap-1", states: [])
        #expect(try codec.decode(token, accessPackageId: "ap-1", states: []) == imported)
        let older = ListingKey(createdSeconds: 1, createdNanos: 2, id: String(repeating: "r", count: 3_011))
        let olderToken = codec.encode(after: older, accessPackageId: "ap-1", states: [])
        #expect(olderToken.utf8.count == PageTokenCodec.maxTokenLength)
        #expect(try codec.decode(olderToken, accessPackageId: "ap-1", states: []) == older)
        let longer = ListingKey(createdSeconds: 1, createdNanos: 2, id: older.id + "x")
        #expect(throws: PageTokenError.malformed) {
            try codec.decode(
                codec.encode(after: longer, accessPackageId: "ap-1", states: []), accessPackageId: "ap-1", states: [])
        }
    }

    @Test("another spelling of a package is mismatched, also once its binding is remembered")
    func respelledPackage() throws {
        let token = codec.encode(after: cursor, accessPackageId: "ap-\u{E9}", states: [])
        for _ in 0..<2 {
            #expect(throws: PageTokenError.mismatched) { try codec.decode(token, accessPackageId: "ap-e\u{301}", states: []) }
            #expect(try codec.decode(token, accessPackageId: "ap-\u{E9}", states: []) == cursor)
        }
        let other = codec.encode(after: cursor, accessPackageId: "ap-e\u{301}", states: [])
        #expect(throws: PageTokenError.mismatched) { try codec.decode(other, accessPackageId: "ap-\u{E9}", states: []) }
    }

    @Test("states bind as a set: order and repeats do not matter, another set is mismatched")
    func statesAsASet() throws {
        let token = codec.encode(after: cursor, accessPackageId: "ap-1", states: [.denied, .delivered, .denied])
        #expect(try codec.decode(token, accessPackageId: "ap-1", states: [.delivered, .denied]) == cursor)
        #expect(throws: PageTokenError.mismatched) {
            try codec.decode(token, accessPackageId: "ap-1", states: [.delivered])
        }
    }

    @Test("bindings stay right for packages past the codec's memo: more of them than it keeps, and ids too long to keep")
    func bindingsPastTheMemo() throws {
        let long = String(repeating: "p", count: 10_000)
        let packages = (0..<1_500).map { "ap-\($0)" } + [long, long + "q"]
        let tokens = packages.map { codec.encode(after: cursor, accessPackageId: $0, states: [.delivered]) }
        for (package, token) in zip(packages, tokens).reversed() {
            #expect(try codec.decode(token, accessPackageId: package, states: [.delivered]) == cursor)
            #expect(throws: PageTokenError.mismatched) {
                try codec.decode(token, accessPackageId: package + "x", states: [.delivered])
            }
        }
        let manyStates = Array(repeating: RequestState.delivered, count: 100) + [.denied]
        let token = codec.encode(after: cursor, accessPackageId: "ap-1", states: manyStates)
        #expect(try codec.decode(token, accessPackageId: "ap-1", states: [.denied, .delivered]) == cursor)
    }

    @Test("the format is version, binding, cursor and id, HMAC-SHA256-signed (tokens issued earlier stay valid)")
    func format() {
        let key = Array(repeating: UInt8(7), count: 32)
        var binding = Array("ap-1".utf8) + [0]
        for raw in [RequestState.delivered.rawValue, RequestState.denied.rawValue].sorted() {
            binding += withUnsafeBytes(of: UInt32(bitPattern: raw).bigEndian, Array.init)
        }
        var body: [UInt8] = [1] + Array(SHA256.hash(data: binding)).prefix(16)
        body += withUnsafeBytes(of: UInt64(bitPattern: cursor.createdSeconds).bigEndian, Array.init)
        body += withUnsafeBytes(of: UInt32(bitPattern: cursor.createdNanos).bigEndian, Array.init)
        body += Array(cursor.id.utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: key))
        let expected = Base64.encodeURL(body + Array(mac))
        #expect(codec.encode(after: cursor, accessPackageId: "ap-1", states: [.denied, .delivered]) == expected)
    }
}
