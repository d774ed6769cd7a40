import RPCCore
import Testing

@Suite("Base64 for -bin metadata")
struct Base64Tests {
    @Test("RFC 4648 vectors", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test("base64url has the URL alphabet and no padding", arguments: [
        ([UInt8](), ""), ([0x66], "Zg"), ([0x66, 0x6F], "Zm8"), ([0xFB, 0xFF], "-_8"), ([0xFB, 0xFF, 0xBF], "-_-_"),
    ])
    func url(bytes: [UInt8], encoded: String) {
        #expect(Base64.encodeURL(bytes) == encoded)
        #expect(Base64.decode(encoded) == bytes)
    }

    @Test("unpadded input decodes, as gRPC peers may omit padding")
    func unpadded() {
        #expect(Base64.decode("Zm9vYg") == Array("foob".utf8))
    }

    @Test("non-base64 input is refused", arguments: ["Zm9v!", "a", "Zm9v\n"])
    func refuses(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test("every byte value survives a round trip")
    func allBytes() {
        let bytes = (0...255).map(UInt8.init)
        #expect(Base64.decode(Base64.encode(bytes)) == bytes)
    }
}
