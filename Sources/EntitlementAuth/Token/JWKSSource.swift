public import Foundation

/// Where the verification keys come from: a file (`--jwks`) or an identity provider's URL
/// (`--jwks-url`, fetched at start-up, refreshed periodically and on an unknown `kid`).
public enum JWKSSource: Sendable, CustomStringConvertible {
    case file(String)
    case url(URL)

    public var description: String {
        switch self {
        case .file(let path): "JWKS file \(path)"
        case .url(let url): "JWKS URL \(url.absoluteString)"
        }
    }

    /// The bytes of the key set.
    func read(timeout: TimeInterval = 10) async throws(JWKSError) -> Data {
        switch self {
        case .file(let path):
            do {
                return try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw JWKSError(message: "cannot read JWKS file \(path): \(error.localizedDescription)")
            }
        case .url(let url):
            let response: HTTPGet.Response
            do {
                response = try await HTTPGet.fetch(
                    url, accept: "application/json", timeout: .nanoseconds(Int64(timeout * 1e9)), maxBytes: 1 << 20)
            } catch {
                throw JWKSError(message: "cannot fetch \(self): \(error)")
            }
            guard response.status == 200 else {
                let redirect = (300..<400).contains(response.status) ? " (redirects are not followed: give the final URL)" : ""
                throw JWKSError(message: "cannot fetch \(self): HTTP status \(response.status)\(redirect)")
            }
            return Data(response.body)
        }
    }
}
