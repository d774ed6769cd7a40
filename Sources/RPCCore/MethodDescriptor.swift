/// A fully qualified RPC method: `/package.Service/Method`.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service name, e.g. `entitlement.v1.AccessPackageRequests`.
    public let service: String
    public let method: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
    }

    /// The HTTP/2 `:path` of this method.
    public var path: String { "/\(service)/\(method)" }

    public var description: String { path }
}
