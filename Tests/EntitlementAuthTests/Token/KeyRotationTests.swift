import Foundation
import EntitlementAuth
import Logging
import RPCCore
import Testing

@Suite("Key rotation")
struct KeyRotationTests {
    @Test("after reloadKeys a new key's tokens are accepted and the removed key's (even cached) are refused")
    func rotates() async throws {
        let fixture = try await VerifierFixture(keys: [TestKeys.rsaA.jwk])
        let oldHeader = "Bearer \(try await Mint.rs256(key: TestKeys.rsaA))"
        let newHeader = "Bearer \(try await Mint.rs256(key: TestKeys.rsaB))"
        _ = try await fixture.verifier.verify(authorization: oldHeader)  // now cached
        await #expect(throws: RPCError.self) { _ = try await fixture.verifier.verify(authorization: newHeader) }

        try fixture.file.write(keys: [TestKeys.rsaB.jwk])
        try await fixture.verifier.reloadKeys()

        #expect(fixture.verifier.keyIds == ["rsa-b"])
        #expect(fixture.verifier.cachedTokenCount == 0)
        _ = try await fixture.verifier.verify(authorization: newHeader)
        let error = await #expect(throws: RPCError.self) { _ = try await fixture.verifier.verify(authorization: oldHeader) }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message.contains("unknown key id") == true)
    }

    @Test(
        "a token naming a key the JWKS has but cannot use is told why, not that there is no such key",
        arguments: [("use", "enc", "its use is 'enc', not 'sig'"), ("alg", "PS256", "its alg is 'PS256'")])
    func unusableKey(field: String, value: String, why: String) async throws {
        var unusable = TestKeys.rsaB.jwk
        unusable[field] = value
        let fixture = try await VerifierFixture(keys: [TestKeys.rsaA.jwk, unusable])
        let header = "Bearer \(try await Mint.rs256(key: TestKeys.rsaB))"
        let error = await #expect(throws: RPCError.self) { _ = try await fixture.verifier.verify(authorization: header) }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message.contains(#"the JWKS's key "rsa-b" cannot verify tokens: \#(why)"#) == true, "\(String(describing: error))")
    }

    @Test(
        "a malformed or unusable new JWKS keeps the old keys in force",
        arguments: [
            Data("{\"keys\": [".utf8),
            Data(),
            TestKeys.jwksJSON([]),
            TestKeys.jwksJSON([["kty": "RSA", "kid": "rsa-b", "n": "AQAB", "e": "AQAB"]]),
        ]
    )
    func keepsOldKeysOnBadFile(_ contents: Data) async throws {
        let fixture = try await VerifierFixture(keys: [TestKeys.rsaA.jwk])
        let header = "Bearer \(try await Mint.rs256(key: TestKeys.rsaA))"
        _ = try await fixture.verifier.verify(authorization: header)

        try fixture.file.write(contents)
        await #expect(throws: JWKSError.self) { try await fixture.verifier.reloadKeys() }

        #expect(fixture.verifier.keyIds == ["rsa-a"])
        let fresh = "Bearer \(try await Mint.rs256(TestClaims(oid: "oid-fresh"), key: TestKeys.rsaA))"
        #expect(try await fixture.verifier.verify(authorization: fresh).caller.objectId == "oid-fresh")
        #expect(try await fixture.verifier.verify(authorization: header).caller.objectId == "oid-1")
    }

    @Test("an unreadable JWKS file keeps the old keys in force")
    func keepsOldKeysWhenFileIsGone() async throws {
        let fixture = try await VerifierFixture(keys: [TestKeys.rsaA.jwk])
        try FileManager.default.removeItem(atPath: fixture.file.path)
        await #expect(throws: JWKSError.self) { try await fixture.verifier.reloadKeys() }
        #expect(fixture.verifier.keyIds == ["rsa-a"])
    }

    @Test("SIGHUP reloads the keys")
    func reloadsOnSIGHUP() async throws {
        let fixture = try await VerifierFixture(keys: [TestKeys.rsaA.jwk])
        let reloader = await installReloadOnSIGHUP(verifier: fixture.verifier, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        defer { reloader.cancel() }

        try fixture.file.write(keys: [TestKeys.rsaB.jwk, TestKeys.ecA.jwk])
        kill(getpid(), SIGHUP)

        // Wait (bounded) for the reload task to pick the signal up; no timing is asserted.
        for _ in 0..<1_000 where fixture.verifier.keyIds != ["ec-a", "rsa-b"] {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(fixture.verifier.keyIds == ["ec-a", "rsa-b"])
    }
}
