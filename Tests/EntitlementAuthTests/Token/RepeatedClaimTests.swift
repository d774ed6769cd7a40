import Crypto
import EntitlementAuth
import Foundation
import RPCCore
import Testing

/// RFC 7519 §4: parsers disagree on which copy of a repeated member wins, so a validly signed
/// token that repeats a claim or header member is refused, whichever copy would pass.
@Suite("Repeated JWT members")
struct RepeatedClaimTests {
    /// `header.payload.signature`, ES256-signed by `ecA` over exactly these JSON texts.
    static func signed(header: String, payload: String) throws -> String {
        let input = base64URL(Data(header.utf8)) + "." + base64URL(Data(payload.utf8))
        let key = try P256.Signing.PrivateKey(pemRepresentation: TestKeys.ecA.privateKey.pemRepresentation)
        let signature = try key.signature(for: Data(input.utf8))
        return input + "." + base64URL(signature.rawRepresentation)
    }

    static let header = #"{"alg":"ES256","kid":"\#(TestKeys.ecA.kid)","typ":"JWT"}"#
    static let claims =
        #""iss":"\#(TestIssuer.issuer)","aud":"\#(TestIssuer.audience)","tid":"\#(TestIssuer.tenantId)","#
        + #""oid":"oid-1","exp":\#(Int(TestIssuer.now) + 3600),"wids":["a","b"],"nested":{"iss":"x","oid":"y"}"#

    @Test("the hand-signed token itself is accepted (nested objects may reuse names)")
    func baseline() async throws {
        let fixture = try await VerifierFixture()
        let token = try Self.signed(header: Self.header, payload: "{\(Self.claims)}")
        #expect(try await fixture.verifier.verify(authorization: "Bearer \(token)").caller.objectId == "oid-1")
    }

    @Test(
        "a repeated claim is UNAUTHENTICATED, naming it",
        arguments: [
            (#","iss":"https://evil.example"}"#, "iss"),
            (#","exp":1}"#, "exp"),
            (#","\u006fid":"oid-2"}"#, "oid"),
        ])
    func repeatedClaim(tail: String, name: String) async throws {
        let fixture = try await VerifierFixture()
        let token = try Self.signed(header: Self.header, payload: "{\(Self.claims)\(tail)")
        let error = await #expect(throws: RPCError.self) {
            _ = try await fixture.verifier.verify(authorization: "Bearer \(token)")
        }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message == "malformed token: the claims repeat '\(name)' (RFC 7519 §4)")
    }

    @Test("a repeated header member is UNAUTHENTICATED")
    func repeatedHeader() async throws {
        let fixture = try await VerifierFixture()
        let header = #"{"alg":"ES256","kid":"\#(TestKeys.ecA.kid)","kid":"other"}"#
        let token = try Self.signed(header: header, payload: "{\(Self.claims)}")
        let error = await #expect(throws: RPCError.self) {
            _ = try await fixture.verifier.verify(authorization: "Bearer \(token)")
        }
        #expect(error?.message == "malformed token: the header repeats 'kid' (RFC 7519 §4)")
    }
}
