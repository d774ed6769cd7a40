import Foundation
import JWTKit
import Logging
import RPCCore

/// The signature algorithms this service accepts. Each is pinned to one key type, so a token can
/// never pick a weaker or confusable algorithm for a key (RS256 for RSA, ES256 for EC P-256).
enum SigningAlgorithm: String, Sendable {
    case rs256 = "RS256"
    case es256 = "ES256"
}

/// The verification keys of one JWKS file: for each `kid`, the one algorithm it verifies, and the
/// jwt-kit collection holding the public keys.
struct KeySet: Sendable {
    let algorithms: [String: SigningAlgorithm]
    let collection: JWTKeyCollection
    /// Keys of the file that were skipped, by kid, and why: a token naming one is told that,
    /// not that the JWKS has no such key.
    var skipped: [String: String] = [:]

    /// Reads and validates `path`. Keys of types this service does not verify with (EdDSA, other
    /// curves, `use: enc`, a declared `alg` other than the pinned one, no `kid`) are skipped with a
    /// warning; a broken key of a supported type, a duplicate `kid`, or no usable key at all fails.
    static func load(path: String, logger: Logger) async throws(JWKSError) -> KeySet {
        try await load(from: .file(path), logger: logger)
    }

    static func load(from source: JWKSSource, logger: Logger) async throws(JWKSError) -> KeySet {
        let bytes = try await source.read()
        let path = source.description
        let raw: RawJWKS
        do {
            raw = try JSONDecoder().decode(RawJWKS.self, from: bytes)
        } catch {
            throw JWKSError(message: "\(path) is not a JSON object with a \"keys\" array: \(error)")
        }

        var algorithms: [String: SigningAlgorithm] = [:]
        var skipped: [String: String] = [:]
        var jwks: [JWK] = []
        for (index, key) in raw.keys.enumerated() {
            let label = key.kid.map { "key '\($0)'" } ?? "key #\(index)"
            guard let kid = key.kid, !kid.isEmpty else {
                logger.warning("JWKS: skipping \(label): it has no kid, so no token can select it")
                continue
            }
            if let use = key.use, use != "sig" {
                logger.warning("JWKS: skipping \(label): use is '\(use)', not 'sig'")
                skipped[kid] = "its use is '\(use)', not 'sig'"
                continue
            }
            let jwk: JWK
            let algorithm: SigningAlgorithm
            switch (key.kty, key.crv) {
            case ("RSA", _):
                algorithm = .rs256
                guard let n = key.n, let e = key.e else {
                    throw JWKSError(message: "JWKS \(label): an RSA key needs n and e")
                }
                // A policy refusal, not a broken key: an identity provider may still publish an
                // old short key beside its current ones, and the service must start without it.
                if let bits = Self.modulusBits(n), bits < Self.minimumRSABits {
                    logger.warning(
                        "JWKS: skipping \(label): its RSA modulus is \(bits) bits; keys under \(Self.minimumRSABits) bits are refused"
                    )
                    skipped[kid] = "its RSA modulus is \(bits) bits; keys under \(Self.minimumRSABits) bits are refused"
                    continue
                }
                jwk = .rsa(.rs256, identifier: JWKIdentifier(string: kid), modulus: n, exponent: e)
            case ("EC", "P-256"):
                algorithm = .es256
                guard let x = key.x, let y = key.y else {
                    throw JWKSError(message: "JWKS \(label): an EC key needs x and y")
                }
                jwk = .ecdsa(.es256, identifier: JWKIdentifier(string: kid), x: x, y: y, curve: .p256)
            default:
                logger.warning(
                    "JWKS: skipping \(label): kty '\(key.kty ?? "")' crv '\(key.crv ?? "")' is not RSA or EC P-256"
                )
                skipped[kid] = "it is not an RSA or EC P-256 key"
                continue
            }
            if let declared = key.alg, declared != algorithm.rawValue {
                logger.warning("JWKS: skipping \(label): alg '\(declared)' is not \(algorithm.rawValue)")
                skipped[kid] = "its alg is '\(declared)'; only \(algorithm.rawValue) is accepted for it"
                continue
            }
            guard algorithms.updateValue(algorithm, forKey: kid) == nil else {
                throw JWKSError(message: "JWKS \(label): kid appears more than once")
            }
            jwks.append(jwk)
        }
        guard !jwks.isEmpty else {
            throw JWKSError(message: "\(path) has no usable RS256 or ES256 key")
        }

        let collection = JWTKeyCollection()
        for jwk in jwks {
            do {
                try await collection.add(jwk: jwk)
            } catch {
                let kid = jwk.keyIdentifier?.string ?? ""
                throw JWKSError(message: "JWKS key '\(kid)' is not a valid public key: \(error)")
            }
        }
        // Tokens are matched by kid before jwt-kit sees them; no default key to fall back to.
        await collection.clearDefault()
        // A kid both skipped and usable (two entries) is usable.
        for kid in algorithms.keys { skipped[kid] = nil }
        return KeySet(algorithms: algorithms, collection: collection, skipped: skipped)
    }
}

extension KeySet {
    /// RSA keys shorter than this are skipped (NIST SP 800-131A; jwt-kit refuses them too).
    static let minimumRSABits = 2_048

    /// The size of a base64url big-endian modulus in bits (leading zero bytes not counted); nil if
    /// it is not base64url.
    static func modulusBits(_ base64url: String) -> Int? {
        guard let bytes = Base64.decode(base64url) else { return nil }
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
        return (bytes.count - first) * 8 - bytes[first].leadingZeroBitCount
    }
}

/// The JWK members this service reads; private members (`d`, `p`, …) are ignored on purpose.
private struct RawJWKS: Decodable {
    var keys: [RawJWK]
}

private struct RawJWK: Decodable {
    var kty: String?
    var kid: String?
    var use: String?
    var alg: String?
    var crv: String?
    var n: String?
    var e: String?
    var x: String?
    var y: String?
}
