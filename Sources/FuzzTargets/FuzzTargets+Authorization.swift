import EntitlementAuth
import Foundation
import JWTKit
import RPCCore
import Logging

extension FuzzTargets {
    /// The fuzz verifier's settings; the seed tokens in `FuzzTesting/Corpus/FuzzAuthorization/`
    /// are minted for them with the private key `FuzzTesting/make-corpus` derives.
    static let issuer = "https://login.example.com/fuzz/v2.0"
    static let audience = "api://entitlement"
    static let tenantId = "tenant-fuzz"
    static let now: Double = 1_900_000_000
    /// The public half of the fuzz-only ES256 key, kid `fuzz-ec`.
    static let jwks = """
        {"keys": [{"kty": "EC", "crv": "P-256", "kid": "fuzz-ec", "use": "sig", "alg": "ES256",
          "x": "1ZBJQvpr3qo6TPLHrGYD10St57-ZrspJqBlS7j4Vxi8", "y": "f7DDhsv1NWUxlgW0NMtRCdVQ5dvoaDnmr4xzmRnNFjE"}]}
        """

    private static let verifier = Task<TokenVerifier, any Error> {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("entitlement-fuzz-jwks-\(ProcessInfo.processInfo.processIdentifier).json").path
        try Data(jwks.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await TokenVerifier(
            configuration: .init(
                jwksPath: path, issuer: issuer, audience: audience, tenantId: tenantId, cacheCapacity: 16),
            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }),
            now: { now }
        )
    }

    /// The bytes (as UTF-8, repaired) as an `authorization` header: first the parsing that runs
    /// before any signature check (the Bearer scheme, the JOSE header, the claims as jwt-kit
    /// decodes them), then the whole verification the interceptor runs. True when it verified.
    @discardableResult
    public static func authorization(_ bytes: [UInt8]) async -> Bool {
        let header = String(decoding: bytes, as: UTF8.self)
        if let token = try? TokenVerifier.bearerToken(in: header) {
            _ = try? TokenVerifier.header(of: token)
            _ = try? DefaultJWTParser().parse(Array(token.utf8), as: TokenClaims.self)
        }
        let verifier: TokenVerifier
        do {
            verifier = try await Self.verifier.value
        } catch {
            fatalError("the fuzz verifier could not load its JWKS: \(error)")
        }
        do {
            _ = try await verifier.verify(authorization: header)
            return true
        } catch {
            precondition(error.code == .unauthenticated, "verification failed with \(error.code), not UNAUTHENTICATED")
            return false
        }
    }
}
