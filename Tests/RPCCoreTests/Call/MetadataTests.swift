import RPCCore
import Testing

@Suite("Metadata keys are case-insensitive")
struct MetadataTests {
    @Test("keys are stored lower-cased and found in any case")
    func anyCase() {
        var metadata = Metadata()
        metadata.addString("a", forKey: "X-Tenant")
        metadata.addString("b", forKey: "x-request-id")
        metadata.addBinary([1, 2], forKey: "Trace-BIN")
        #expect(metadata.map(\.key) == ["x-tenant", "x-request-id", "trace-bin"])
        #expect(metadata["x-tenant"] == "a")
        #expect(metadata["X-TENANT"] == "a")
        #expect(metadata["X-Request-Id"] == "b")
        #expect(metadata.binary(forKey: "trace-bin") == [1, 2])
        #expect(metadata.values(forKey: "TRACE-bin") == [.binary([1, 2])])
        metadata.removeAll(forKey: "X-Tenant")
        #expect(metadata["x-tenant"] == nil)
        #expect(metadata.count == 2)
    }

    @Test("a key with non-ASCII letters is lower-cased too")
    func nonASCII() {
        var metadata = Metadata()
        metadata.addString("v", forKey: "X-Ünïcode")
        #expect(metadata.map(\.key) == ["x-ünïcode"])
        #expect(metadata["x-ÜNÏCODE"] == "v")
    }
}
