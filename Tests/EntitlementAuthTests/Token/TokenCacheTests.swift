@testable import EntitlementAuth
import Entitlement
import RPCCore
import Testing

@Suite("Token cache")
struct TokenCacheTests {
    @Test("a verified token is cached and served again while it is usable")
    func cachesVerifiedTokens() async throws {
        let fixture = try await VerifierFixture()
        let header = "Bearer \(try await Mint.rs256())"

        let first = try await fixture.verifier.verify(authorization: header)
        #expect(fixture.verifier.cachedTokenCount == 1)
        let second = try await fixture.verifier.verify(authorization: header)

        #expect(first == second)
        #expect(fixture.verifier.cachedTokenCount == 1)
    }

    @Test("a cached token past exp (plus the skew verification allows) is refused")
    func cachedTokenExpires() async throws {
        let fixture = try await VerifierFixture()
        var claims = TestClaims()
        claims.exp = Int(TestIssuer.now) + 120
        let header = "Bearer \(try await Mint.rs256(claims))"
        _ = try await fixture.verifier.verify(authorization: header)

        fixture.clock.advance(by: 120 + 59)  // past exp, within the skew: still usable
        _ = try await fixture.verifier.verify(authorization: header)

        fixture.clock.advance(by: 1)  // exactly exp + 60 s: no longer
        let error = await #expect(throws: RPCError.self) {
            _ = try await fixture.verifier.verify(authorization: header)
        }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message == "token expired")
        #expect(fixture.verifier.cachedTokenCount == 0)
    }

    @Test("a refused token is not cached")
    func refusedTokensAreNotCached() async throws {
        let fixture = try await VerifierFixture()
        var claims = TestClaims()
        claims.iss = "https://other.example.com"
        await #expect(throws: RPCError.self) {
            _ = try await fixture.verifier.verify(authorization: "Bearer \(try await Mint.rs256(claims))")
        }
        #expect(fixture.verifier.cachedTokenCount == 0)
    }

    @Test("a full cache makes room by dropping expired entries first")
    func evictsExpiredFirst() {
        var cache = TokenCache(capacity: 10)
        for i in 0..<5 { cache.insert(token(i), usableUntil: 100, for: "expired-\(i)", now: 0) }
        for i in 0..<5 { cache.insert(token(i), usableUntil: 1_000, for: "live-\(i)", now: 0) }
        #expect(cache.count == 10)

        cache.insert(token(99), usableUntil: 1_000, for: "new", now: 500)

        #expect(cache.count == 6)
        for i in 0..<5 { #expect(cache.lookup("live-\(i)", now: 500) != nil) }
        #expect(cache.lookup("new", now: 500) != nil)
    }

    @Test("a cache full of live tokens stays within its bound")
    func staysBounded() {
        var cache = TokenCache(capacity: 100)
        for i in 0..<1_000 {
            cache.insert(token(i), usableUntil: 1_000, for: "header-\(i)", now: 0)
            #expect(cache.count <= 100)
        }
        #expect(cache.lookup("header-999", now: 0) != nil)
    }

    @Test("lookup never returns an entry at or after its usable-until time")
    func lookupHonoursExpiry() {
        var cache = TokenCache(capacity: 10)
        cache.insert(token(1), usableUntil: 100, for: "h", now: 0)
        #expect(cache.lookup("h", now: 99.9) != nil)
        #expect(cache.lookup("h", now: 100) == nil)
        #expect(cache.count == 0)
    }

    private func token(_ i: Int) -> VerifiedToken {
        VerifiedToken(caller: Caller(objectId: "oid-\(i)", directoryRoleIds: []), expiresAt: 0)
    }
}
