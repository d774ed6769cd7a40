/// A JWKS file that could not be used: unreadable, not JSON, a broken key, or no usable key.
public struct JWKSError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
