import EntitlementAuth
import Logging

/// A verifier over a temporary JWKS file (by default `rsaA` and `ecA`) and a test clock.
struct VerifierFixture {
    let file: JWKSFile
    let clock: TestClock
    let verifier: TokenVerifier

    init(keys: [[String: String]] = [TestKeys.rsaA.jwk, TestKeys.ecA.jwk], cacheCapacity: Int = 10_000) async throws {
        file = try JWKSFile(keys: keys)
        clock = TestClock()
        verifier = try await TokenVerifier(
            configuration: .init(
                jwksPath: file.path,
                issuer: TestIssuer.issuer,
                audience: TestIssuer.audience,
                tenantId: TestIssuer.tenantId,
                cacheCapacity: cacheCapacity
            ),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            now: clock.reader
        )
    }
}
