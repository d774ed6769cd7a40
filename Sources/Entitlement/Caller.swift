public import RPCCore

/// Who is calling, as established by token verification. Travels in the `ServerContext`.
public struct Caller: Sendable, Hashable {
    /// The caller's object id (`oid` claim).
    public let objectId: String
    /// Directory role template ids from the `wids` claim (tenant-wide roles).
    public let directoryRoleIds: Set<String>

    public init(objectId: String, directoryRoleIds: Set<String>) {
        self.objectId = objectId
        self.directoryRoleIds = directoryRoleIds
    }
}

/// The context key under which the authorization interceptor stores the verified `Caller`.
public enum CallerKey: ServerContextKey {
    public typealias Value = Caller
}
