/// A fully qualified RPC method: `/package.Service/Method`.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service name, e.g. `entitlement.v1.AccessPackageRequests`.
    public let service: String
    public let method: String
    /// The HTTP/2 `:path` of this method, built once: the access log and the metrics use it
    /// on every call.
    public let path: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
        self.path = "/\(service)/\(method)"
    }

    public var description: String { path }

    // The path names the method: one string to compare and hash.
    public static func == (lhs: MethodDescriptor, rhs: MethodDescriptor) -> Bool { lhs.path == rhs.path }

    public func hash(into hasher: inout Hasher) { hasher.combine(path) }
}
