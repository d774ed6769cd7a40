/// A key for values that interceptors attach to a call's context (the caller's identity, say).
public protocol ServerContextKey {
    associatedtype Value: Sendable
}

/// What a server handler and its interceptors know about one call.
public struct ServerContext: Sendable {
    public let method: MethodDescriptor
    /// Request metadata (custom headers; transport headers excluded).
    public let metadata: Metadata
    /// The raw `authorization` header, kept apart so token caches can look it up without parsing.
    public let authorization: String?
    /// The remote address, e.g. `127.0.0.1:53412`.
    public let peer: String
    /// When the caller gives up (`grpc-timeout`); the transport cancels the handler then.
    public let deadline: ContinuousClock.Instant?
    /// Response metadata a handler may add: headers and trailers.
    public let response: ResponseMetadata
    /// What interceptors learn about the call for its access log line (the caller); nil when
    /// nothing observes calls (no allocation per call then).
    public let annotations: CallAnnotations?
    /// Values interceptors attach; a handful at most, so a list beats a dictionary's hashing.
    private var values: [(key: ObjectIdentifier, value: any Sendable)] = []

    public init(
        method: MethodDescriptor,
        metadata: Metadata,
        authorization: String?,
        peer: String,
        deadline: ContinuousClock.Instant?,
        response: ResponseMetadata = ResponseMetadata(),
        annotations: CallAnnotations? = nil
    ) {
        self.annotations = annotations
        self.method = method
        self.metadata = metadata
        self.authorization = authorization
        self.peer = peer
        self.deadline = deadline
        self.response = response
    }

    public subscript<Key: ServerContextKey>(key: Key.Type) -> Key.Value? {
        get {
            let id = ObjectIdentifier(key)
            return values.first { $0.key == id }?.value as? Key.Value
        }
        set {
            let id = ObjectIdentifier(key)
            values.removeAll { $0.key == id }
            if let newValue { values.append((id, newValue)) }
        }
    }
}
