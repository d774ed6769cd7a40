import Entitlement
@testable import EntitlementAuth
import Foundation
import JWTKit
import Logging
import RPCCore
import Testing

@Suite("TokenVerifier")
struct TokenVerifierTests {
    @Test("an RS256 token signed by a JWKS key yields the caller and its directory roles")
    func acceptsRS256() async throws {
        let fixture = try await VerifierFixture()
        var claims = TestClaims()
        claims.wids = [DirectoryRole.globalReader.templateId, "some-other-role"]
        let token = try await Mint.rs256(claims)

        let verified = try await fixture.verifier.verify(authorization: "Bearer \(token)")

        #expect(verified.caller == Caller(objectId: "oid-1", directoryRoleIds: [DirectoryRole.globalReader.templateId, "some-other-role"]))
        #expect(verified.expiresAt == TestIssuer.now + 3600)
    }

    @Test("directory role template ids are GUIDs: an upper-case one is the same role")
    func upperCaseRoleIds() async throws {
        let fixture = try await VerifierFixture()
        var claims = TestClaims()
        claims.wids = [DirectoryRole.globalReader.templateId.uppercased()]
        let verified = try await fixture.verifier.verify(authorization: "Bearer \(try await Mint.rs256(claims))")
        #expect(verified.caller.directoryRoleIds == [DirectoryRole.globalReader.templateId])
    }

    @Test("an ES256 token signed by a JWKS P-256 key is accepted")
    func acceptsES256() async throws {
        let fixture = try await VerifierFixture()
        let verified = try await fixture.verifier.verify(authorization: "Bearer \(try await Mint.es256())")
        #expect(verified.caller == Caller(objectId: "oid-1", directoryRoleIds: []))
    }

    @Test("claims within the rules are accepted", arguments: GoodVariant.allCases)
    func acceptsValidVariants(_ variant: GoodVariant) async throws {
        let fixture = try await VerifierFixture()
        let verified = try await fixture.verifier.verify(authorization: "Bearer \(try await Mint.rs256(variant.claims))")
        #expect(verified.caller.objectId == "oid-1")
    }

    @Test("the Bearer scheme is case-insensitive (RFC 7235)")
    func schemeIsCaseInsensitive() async throws {
        let fixture = try await VerifierFixture()
        let verified = try await fixture.verifier.verify(authorization: "bearer \(try await Mint.rs256())")
        #expect(verified.caller.objectId == "oid-1")
    }

    @Test("every kind of bad token is UNAUTHENTICATED, with a message that names the problem", arguments: BadToken.allCases)
    func refusesBadTokens(_ bad: BadToken) async throws {
        let fixture = try await VerifierFixture()
        let header = try await bad.authorization()

        let error = await #expect(throws: RPCError.self) {
            _ = try await fixture.verifier.verify(authorization: header)
        }

        #expect(error?.code == .unauthenticated)
        #expect(error?.message.localizedCaseInsensitiveContains(bad.expectedMessage) == true, "\(error?.message ?? "")")
        #expect(fixture.verifier.cachedTokenCount == 0)
        // The message never carries the token (or any of its parts).
        if let header, let token = header.split(separator: " ").last {
            for part in token.split(separator: ".") where part.count > 8 {
                #expect(error?.message.contains(part) == false)
            }
        }
    }

    @Test("a JWKS key with a declared alg other than the pinned one is not trusted")
    func skipsKeysWithOtherAlgorithms() async throws {
        var pss = TestKeys.rsaB.jwk
        pss["alg"] = "PS256"
        let fixture = try await VerifierFixture(keys: [TestKeys.rsaA.jwk, pss])
        #expect(fixture.verifier.keyIds == ["rsa-a"])
    }

    @Test("an RSA key under 2048 bits is skipped, the others kept: an old short key does not stop start-up")
    func skipsShortRSAKeys() async throws {
        let modulus = Data([0xC1] + [UInt8](repeating: 0x5A, count: 127))  // 1,024 bits
        let short = ["kty": "RSA", "kid": "rsa-1024", "use": "sig", "n": base64URL(modulus), "e": "AQAB"]
        let fixture = try await VerifierFixture(keys: [TestKeys.rsaA.jwk, short])
        #expect(fixture.verifier.keyIds == ["rsa-a"])
        #expect(KeySet.modulusBits(base64URL(modulus)) == 1_024)
        #expect(KeySet.modulusBits(base64URL(Data([0, 0x01] + [UInt8](repeating: 0, count: 255)))) == 2_041)
    }

    @Test(
        "a JWKS file that cannot be used is refused at start-up",
        arguments: [
            ("not JSON", Data("{ not json".utf8)),
            ("no keys array", Data(#"{"kids": []}"#.utf8)),
            ("no usable key", TestKeys.jwksJSON([["kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AAAA"]])),
            ("a broken RSA key", TestKeys.jwksJSON([["kty": "RSA", "kid": "bad", "n": "AQAB", "e": "AQAB"]])),
            ("an EC point off the curve", TestKeys.jwksJSON([["kty": "EC", "kid": "bad", "crv": "P-256", "x": "AAAA", "y": "AAAA"]])),
            ("a duplicate kid", TestKeys.jwksJSON([TestKeys.rsaA.jwk, TestKeys.rsaA.jwk])),
        ]
    )
    func refusesBadJWKS(name: String, contents: Data) async throws {
        let file = try JWKSFile(keys: [])
        try file.write(contents)
        await #expect(throws: JWKSError.self) {
            _ = try await TokenVerifier(
                configuration: .init(jwksPath: file.path, issuer: "i", audience: "a", tenantId: "t"),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        }
    }
}

/// Tokens that bend but do not break the rules.
enum GoodVariant: String, CaseIterable, CustomTestStringConvertible {
    case audienceArrayContainingOurs, expiredWithinSkew, notBeforeWithinSkew, noNotBefore, noWids

    var testDescription: String { rawValue }

    var claims: TestClaims {
        let now = Int(TestIssuer.now)
        var claims = TestClaims()
        switch self {
        case .audienceArrayContainingOurs: claims.aud = .many(["api://other", TestIssuer.audience])
        case .expiredWithinSkew: claims.exp = now - 59
        case .notBeforeWithinSkew: claims.nbf = now + 59
        case .noNotBefore: claims.nbf = nil
        case .noWids: claims.wids = nil
        }
        return claims
    }
}

/// Every way a token can be bad, and a word the refusal must contain.
enum BadToken: String, CaseIterable, CustomTestStringConvertible {
    case missingHeader, notBearer, emptyBearer, malformed, garbageSignature, badSignature, algNone,
        hs256WithPublicKeyPEM, hs256WithPublicJWK, ps256, es256HeaderOnRSAKey, noKid, unknownKid,
        expired, notYetValid, wrongIssuer, wrongAudience, wrongAudienceArray, wrongTenant,
        missingIss, missingAud, missingTid, missingOid, emptyOid, blankOid, controlOid, bidiOid, lineSeparatorOid,
        missingExp, critHeader

    var testDescription: String { rawValue }

    var expectedMessage: String {
        switch self {
        case .missingHeader: "missing authorization"
        case .notBearer: "not a Bearer token"
        case .emptyBearer: "empty Bearer token"
        case .malformed: "malformed token"
        case .garbageSignature, .badSignature: "bad signature"
        case .algNone: "unsupported algorithm 'none'"
        case .hs256WithPublicKeyPEM, .hs256WithPublicJWK: "unsupported algorithm 'HS256'"
        case .ps256: "unsupported algorithm 'PS256'"
        case .es256HeaderOnRSAKey: "ES256 is not allowed for key 'rsa-a'"
        case .noKid: "no key id"
        case .unknownKid: "unknown key id"
        case .expired: "token expired"
        case .notYetValid: "not yet valid"
        case .wrongIssuer: "wrong issuer"
        case .wrongAudience, .wrongAudienceArray: "wrong audience"
        case .wrongTenant: "wrong tenant"
        case .missingIss: "missing the required claim iss"
        case .missingAud: "missing the required claim aud"
        case .missingTid: "missing the required claim tid"
        case .missingOid, .emptyOid: "missing the required claim oid"
        case .blankOid, .controlOid, .bidiOid, .lineSeparatorOid:
            "the oid claim is blank or holds control or invisible characters"
        case .missingExp: "missing the required claim exp"
        case .critHeader: "critical header"
        }
    }

    /// The `authorization` header value that carries this bad token.
    func authorization() async throws -> String? {
        let now = Int(TestIssuer.now)
        func bearer(_ change: (inout TestClaims) -> Void) async throws -> String {
            var claims = TestClaims()
            change(&claims)
            return "Bearer \(try await Mint.rs256(claims))"
        }
        let good = try await Mint.rs256()
        let parts = good.split(separator: ".").map(String.init)

        switch self {
        case .missingHeader:
            return nil
        case .notBearer:
            return "Basic dXNlcjpwYXNz"
        case .emptyBearer:
            return "Bearer   "
        case .malformed:
            return "Bearer not-a-jwt"
        case .garbageSignature:
            return "Bearer \(parts[0]).\(parts[1]).c2lnbmF0dXJl"
        case .badSignature:
            // A genuine signature by the same key, over other claims.
            var other = TestClaims()
            other.oid = "oid-2"
            let otherSignature = try await Mint.rs256(other).split(separator: ".")[2]
            return "Bearer \(parts[0]).\(parts[1]).\(otherSignature)"
        case .algNone:
            return "Bearer " + Mint.crafted(header: ["alg": "none", "typ": "JWT", "kid": "rsa-a"], signature: "")
        case .hs256WithPublicKeyPEM:
            let pem = TestKeys.rsaA.privateKey.publicKey.pemRepresentation
            return "Bearer \(try await Mint.hs256(secret: Data(pem.utf8), kid: "rsa-a"))"
        case .hs256WithPublicJWK:
            return "Bearer \(try await Mint.hs256(secret: TestKeys.jwksJSON([TestKeys.rsaA.jwk]), kid: "rsa-a"))"
        case .ps256:
            return "Bearer \(try await Mint.ps256())"
        case .es256HeaderOnRSAKey:
            return "Bearer \(try await Mint.es256(kid: "rsa-a"))"
        case .noKid:
            return "Bearer \(try await Mint.rs256WithoutKid())"
        case .unknownKid:
            return "Bearer \(try await Mint.rs256(key: TestKeys.rsaB, kid: "rsa-unknown"))"
        case .expired:
            return try await bearer { $0.exp = now - 61 }
        case .notYetValid:
            return try await bearer { $0.nbf = now + 61 }
        case .wrongIssuer:
            return try await bearer { $0.iss = "https://evil.example.com" }
        case .wrongAudience:
            return try await bearer { $0.aud = .one("api://other") }
        case .wrongAudienceArray:
            return try await bearer { $0.aud = .many(["api://other", "api://third"]) }
        case .wrongTenant:
            return try await bearer { $0.tid = "tenant-2" }
        case .missingIss:
            return try await bearer { $0.iss = nil }
        case .missingAud:
            return try await bearer { $0.aud = nil }
        case .missingTid:
            return try await bearer { $0.tid = nil }
        case .missingOid:
            return try await bearer { $0.oid = nil }
        case .emptyOid:
            return try await bearer { $0.oid = "" }
        case .blankOid:
            return try await bearer { $0.oid = " \t" }
        case .controlOid:
            return try await bearer { $0.oid = "oid-a\nforged line" }
        case .bidiOid:
            // U+202E turns what follows around on screen: "oid-a" could read as another caller.
            return try await bearer { $0.oid = "oid-\u{202E}a-dio" }
        case .lineSeparatorOid:
            return try await bearer { $0.oid = "oid-a\u{2028}forged line" }
        case .missingExp:
            return try await bearer { $0.exp = nil }
        case .critHeader:
            var header = try JSONSerialization.jsonObject(with: Data(base64URLEncoded: parts[0])) as! [String: Any]
            header["crit"] = ["exp"]
            return "Bearer " + Mint.crafted(header: header, signature: parts[2])
        }
    }
}

extension Data {
    init(base64URLEncoded text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self = Data(base64Encoded: base64)!
    }
}
