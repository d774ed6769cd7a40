import Crypto
public import Entitlement
import Foundation
import RPCCore

/// `--demo`: a data dir with demo data, a persistent dev signing key (ES256) and its JWKS, and a
/// Global Administrator token to try the service with.
public struct DemoEnvironment: Sendable {
    public static let issuer = "https://login.demo.entitlement.invalid/demo-tenant/v2.0"
    public static let audience = "api://entitlement-demo"
    public static let tenantId = "00000000-0000-4000-8000-00000000d3e0"
    public static let keyId = "demo-es256"
    public static let adminObjectId = "00000000-0000-4000-8000-0000000ad314"
    static let globalAdministrator = "62e90394-69f5-4237-9190-012177145e10"

    public let configuration: ServerConfiguration
    /// A Global Administrator token valid for 12 hours.
    public let adminToken: String
    private let key: P256.Signing.PrivateKey

    /// Creates (or reuses) the dev key in `dataDirectory` and writes its JWKS next to it.
    public init(dataDirectory: String, host: String, port: Int) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let keyPath = dataDirectory + "/dev-signing-key.p256"
        let key: P256.Signing.PrivateKey
        if let raw = fm.contents(atPath: keyPath) {
            key = try P256.Signing.PrivateKey(rawRepresentation: raw)
        } else {
            key = P256.Signing.PrivateKey()
            guard fm.createFile(atPath: keyPath, contents: key.rawRepresentation, attributes: [.posixPermissions: 0o600]) else {
                throw ServerStartError("cannot write the dev key to \(keyPath)")
            }
        }
        let point = key.publicKey.x963Representation  // 0x04 || x || y
        let jwks = """
            {"keys":[{"kty":"EC","crv":"P-256","kid":"\(Self.keyId)","alg":"ES256","use":"sig",\
            "x":"\(Self.base64url(point[1..<33]))","y":"\(Self.base64url(point[33..<65]))"}]}
            """
        let jwksPath = dataDirectory + "/dev-jwks.json"
        try jwks.write(toFile: jwksPath, atomically: true, encoding: .utf8)

        var configuration = ServerConfiguration(
            dataDirectory: dataDirectory, jwksPath: jwksPath, issuer: Self.issuer, audience: Self.audience,
            tenantId: Self.tenantId)
        configuration.host = host
        configuration.port = port
        self.configuration = configuration
        self.key = key
        self.adminToken = try Self.mint(key: key, objectId: Self.adminObjectId, roleIds: [Self.globalAdministrator])
    }

    /// Loads the demo catalogs, packages, role assignments and requests (insert-only).
    public static func populate(_ store: any RequestStoring) async throws {
        _ = try await DemoData.populate(store: store, now: SystemWallClock().now())
    }

    /// A token of the dev key for another caller (12 hours), e.g. one holding only catalog roles.
    public func token(objectId: String, directoryRoleIds: [String] = []) throws -> String {
        try Self.mint(key: key, objectId: objectId, roleIds: directoryRoleIds)
    }

    static func mint(key: P256.Signing.PrivateKey, objectId: String, roleIds: [String]) throws -> String {
        let now = Int(Date().timeIntervalSince1970)
        let header = #"{"alg":"ES256","typ":"JWT","kid":"\#(keyId)"}"#
        let roles = roleIds.map { "\"\($0)\"" }.joined(separator: ",")
        let payload = """
            {"iss":"\(issuer)","aud":"\(audience)","tid":"\(tenantId)","oid":"\(objectId)",\
            "wids":[\(roles)],"iat":\(now),"nbf":\(now - 60),"exp":\(now + 12 * 3600)}
            """
        let signingInput = base64url(Data(header.utf8)) + "." + base64url(Data(payload.utf8))
        let signature = try key.signature(for: Data(signingInput.utf8))
        return signingInput + "." + base64url(signature.rawRepresentation)
    }

    /// The project's one base64url encoder (RPCCore), unpadded as JWTs and JWKs want it.
    static func base64url(_ data: some DataProtocol) -> String {
        Base64.encodeURL(Array(data))
    }
}
