import Synchronization

/// A key for values that interceptors attach to a call's context (the caller's identity, say).
public protocol ServerContextKey {
    associatedtype Value: Sendable
}

/// What a server handler and its interceptors know about one call. The call's facts live in one
/// shared, immutable box: the context is copied into the call's task and through every
/// interceptor, and copying a dozen strings and references each time was ~1% of a health check.
public struct ServerContext: Sendable {
    private final class Facts: Sendable {
        let method: MethodDescriptor
        let metadata: Metadata
        let authorization: String?
        let authorizationRepeated: Bool
        let peer: String
        let deadline: ContinuousClock.Instant?
        let response: ResponseMetadata
        let annotations: CallAnnotations?
        let irrevocable = Atomic<Bool>(false)

        init(
            method: MethodDescriptor, metadata: Metadata, authorization: String?, authorizationRepeated: Bool,
            peer: String, deadline: ContinuousClock.Instant?, response: ResponseMetadata, annotations: CallAnnotations?
        ) {
            self.method = method
            self.metadata = metadata
            self.authorization = authorization
            self.authorizationRepeated = authorizationRepeated
            self.peer = peer
            self.deadline = deadline
            self.response = response
            self.annotations = annotations
        }
    }

    private let facts: Facts

    public var method: MethodDescriptor { facts.method }
    /// Request metadata (custom headers; transport headers excluded).
    public var metadata: Metadata { facts.metadata }
    /// The raw `authorization` header, kept apart so token caches can look it up without parsing.
    public var authorization: String? { facts.authorization }
    /// The caller sent more than one `authorization` header. Which one counts is then a guess (a
    /// proxy may have checked the first, `authorization` holds the last): refuse the call.
    public var authorizationRepeated: Bool { facts.authorizationRepeated }
    /// The remote address, e.g. `127.0.0.1:53412`.
    public var peer: String { facts.peer }
    /// When the caller gives up (`grpc-timeout`); the transport cancels the handler then.
    public var deadline: ContinuousClock.Instant? { facts.deadline }
    /// Response metadata a handler may add: headers and trailers.
    public var response: ResponseMetadata { facts.response }
    /// What interceptors learn about the call for its access log line (the caller); nil when
    /// nothing observes calls (no allocation per call then).
    public var annotations: CallAnnotations? { facts.annotations }
    /// Whether the handler has started a change that a deadline or cancel can no longer be
    /// trusted to undo (see `markIrrevocable`).
    public var isIrrevocable: Bool { facts.irrevocable.load(ordering: .acquiring) }

    /// The handler is about to commit a change: from now on, a deadline that passes tells the
    /// caller the change may have been applied, instead of a bare "deadline exceeded" that reads
    /// as "nothing happened".
    public func markIrrevocable() { facts.irrevocable.store(true, ordering: .releasing) }

    /// Values interceptors attach. A call carries one in practice (the caller), kept inline so
    /// attaching it allocates nothing; any more go to a list (a handful at most, so a list beats a
    /// dictionary's hashing).
    private var firstValue: (key: ObjectIdentifier, value: any Sendable)?
    private var moreValues: [(key: ObjectIdentifier, value: any Sendable)] = []

    public init(
        method: MethodDescriptor,
        metadata: Metadata,
        authorization: String?,
        authorizationRepeated: Bool = false,
        peer: String,
        deadline: ContinuousClock.Instant?,
        response: ResponseMetadata = ResponseMetadata(),
        annotations: CallAnnotations? = nil
    ) {
        facts = Facts(
            method: method, metadata: metadata, authorization: authorization,
            authorizationRepeated: authorizationRepeated, peer: peer, deadline: deadline, response: response,
            annotations: annotations)
    }

    public subscript<Key: ServerContextKey>(key: Key.Type) -> Key.Value? {
        get {
            let id = ObjectIdentifier(key)
            if let firstValue, firstValue.key == id { return firstValue.value as? Key.Value }
            return moreValues.first { $0.key == id }?.value as? Key.Value
        }
        set {
            let id = ObjectIdentifier(key)
            if firstValue?.key == id { firstValue = nil } else { moreValues.removeAll { $0.key == id } }
            guard let newValue else { return }
            if firstValue == nil { firstValue = (id, newValue) } else { moreValues.append((id, newValue)) }
        }
    }
}
