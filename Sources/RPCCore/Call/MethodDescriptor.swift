/// A fully qualified RPC method: `/package.Service/Method`.
///
/// Every call carries its descriptor through the transport, the context, the interceptors, the
/// metrics and the access log, so it is copied many times per call: its names live in one shared
/// immutable object, and a copy costs one retain instead of one per string.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline final class Names: Sendable {
        @usableFromInline let service: String
        @usableFromInline let method: String
        @usableFromInline let path: String

        init(service: String, method: String) {
            self.service = service
            self.method = method
            self.path = "/\(service)/\(method)"
        }
    }

    @usableFromInline let names: Names

    public init(service: String, method: String) {
        names = Names(service: service, method: method)
    }

    /// The fully qualified service name, e.g. `entitlement.v1.AccessPackageRequests`.
    @inlinable public var service: String { names.service }
    @inlinable public var method: String { names.method }
    /// The HTTP/2 `:path` of this method, built once: the access log and the metrics use it
    /// on every call.
    @inlinable public var path: String { names.path }

    public var description: String { path }

    // The path names the method: one string to compare and hash. Copies of one descriptor share
    // their names, so the usual comparison is of two references.
    @inlinable public static func == (lhs: MethodDescriptor, rhs: MethodDescriptor) -> Bool {
        lhs.names === rhs.names || lhs.path == rhs.path
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(path) }
}
