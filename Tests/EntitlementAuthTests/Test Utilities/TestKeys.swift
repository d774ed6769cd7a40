import CryptoExtras
import Foundation
import JWTKit

/// Signing keys generated once per test run, and helpers to publish them as a JWKS file and to
/// mint tokens with them.
enum TestKeys {
    struct RSA: Sendable {
        let kid: String
        let privateKey: JWTKit.Insecure.RSA.PrivateKey

        var jwk: [String: String] {
            let (n, e) = try! privateKey.publicKey.getKeyPrimitives()
            return ["kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": base64URL(n), "e": base64URL(e)]
        }
    }

    struct EC: Sendable {
        let kid: String
        let privateKey: ES256PrivateKey

        var jwk: [String: String] {
            let parameters = privateKey.parameters!
            return ["kty": "EC", "kid": kid, "crv": "P-256", "x": parameters.x, "y": parameters.y]
        }
    }

    static let rsaA = RSA(kid: "rsa-a", privateKey: makeRSA())
    static let rsaB = RSA(kid: "rsa-b", privateKey: makeRSA())
    static let ecA = EC(kid: "ec-a", privateKey: ES256PrivateKey())

    private static func makeRSA() -> JWTKit.Insecure.RSA.PrivateKey {
        try! JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
    }

    static func jwksJSON(_ keys: [[String: String]]) -> Data {
        try! JSONSerialization.data(withJSONObject: ["keys": keys], options: [.sortedKeys])
    }
}

func base64URL(_ data: Data) -> String {
    data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

func base64URL(json: [String: Any]) -> String {
    base64URL(try! JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]))
}

/// A temporary directory holding one JWKS file, removed when the test is done with it.
final class JWKSFile: Sendable {
    let directory: URL
    var path: String { directory.appendingPathComponent("jwks.json").path }

    init(keys: [[String: String]]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write(keys: keys)
    }

    func write(keys: [[String: String]]) throws {
        try write(TestKeys.jwksJSON(keys))
    }

    func write(_ contents: Data) throws {
        try contents.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}
