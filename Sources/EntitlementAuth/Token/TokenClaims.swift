package import JWTKit

/// The claims this service reads from an access token. Every field is optional when decoding so
/// that a missing claim is reported by name (`TokenVerifier` checks them after the signature).
package struct TokenClaims: JWTPayload {
    var iss: String?
    var aud: Audience?
    var tid: String?
    var oid: String?
    var exp: Double?
    var nbf: Double?
    var wids: [String]?

    /// Claims are checked by `TokenVerifier` against its own (injectable) clock, not here.
    package func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// `aud`: a single string or an array of strings (RFC 7519 §4.1.3).
struct Audience: Codable, Sendable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let single = try? container.decode(String.self) {
            values = [single]
        } else {
            values = try container.decode([String].self)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if values.count == 1 { try container.encode(values[0]) } else { try container.encode(values) }
    }
}

/// The JOSE header fields checked before the signature: which key, which algorithm.
package struct TokenHeader: Decodable {
    var alg: String?
    var kid: String?
    var crit: [String]?
}
