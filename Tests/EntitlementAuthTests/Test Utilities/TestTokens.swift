import Foundation
import JWTKit

/// The identity-provider settings every test verifier is configured with.
enum TestIssuer {
    static let issuer = "https://login.example.com/tenant-1/v2.0"
    static let audience = "api://entitlement"
    static let tenantId = "tenant-1"
    /// The fixed "now" of the test clock: 2030-03-17T17:46:40Z.
    static let now: Double = 1_900_000_000
}

/// Claims as a test token carries them; nil members are left out of the JSON.
struct TestClaims: JWTPayload {
    enum Audience: Codable, Sendable {
        case one(String)
        case many([String])

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .one(let value): try container.encode(value)
            case .many(let values): try container.encode(values)
            }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { self = .one(one) } else { self = .many(try container.decode([String].self)) }
        }
    }

    var iss: String? = TestIssuer.issuer
    var aud: Audience? = .one(TestIssuer.audience)
    var tid: String? = TestIssuer.tenantId
    var oid: String? = "oid-1"
    var exp: Int? = Int(TestIssuer.now) + 3600
    var nbf: Int? = Int(TestIssuer.now) - 10
    var wids: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// As a JSON object, for hand-crafted tokens and PyJWT.
    var json: [String: Any] {
        let data = try! JSONEncoder().encode(self)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// Mints tokens with the test keys through jwt-kit.
enum Mint {
    static func rs256(_ claims: TestClaims = TestClaims(), key: TestKeys.RSA = TestKeys.rsaA, kid: String? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(rsa: key.privateKey, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid ?? key.kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid ?? key.kid))
    }

    static func es256(_ claims: TestClaims = TestClaims(), key: TestKeys.EC = TestKeys.ecA, kid: String? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key.privateKey, kid: JWKIdentifier(string: kid ?? key.kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid ?? key.kid))
    }

    /// A token without a `kid` header, validly signed by `rsaA`.
    static func rs256WithoutKid(_ claims: TestClaims = TestClaims()) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(rsa: TestKeys.rsaA.privateKey, digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    /// PS256 with `rsaA`'s private key under `rsaA`'s kid: a real signature, but not the pinned algorithm.
    static func ps256(_ claims: TestClaims = TestClaims()) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(pss: TestKeys.rsaA.privateKey, digestAlgorithm: .sha256, kid: JWKIdentifier(string: TestKeys.rsaA.kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: TestKeys.rsaA.kid))
    }

    /// HS256 "signed" with `secret` as the HMAC key under `kid`: the key-confusion attack.
    static func hs256(_ claims: TestClaims = TestClaims(), secret: Data, kid: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    /// A hand-built token: base64url JSON header and payload, and `signature` as given.
    static func crafted(header: [String: Any], claims: TestClaims = TestClaims(), signature: String) -> String {
        "\(base64URL(json: header)).\(base64URL(json: claims.json)).\(signature)"
    }
}
