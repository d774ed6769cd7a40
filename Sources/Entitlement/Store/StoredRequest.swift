public import EntitlementAPI
public import ProtoWire

/// A request as a store keeps it in memory: its encoding, sent as is in pages and Reprocess
/// results (encoded once per change, not once per read), and the few fields the store decides
/// on without decoding it.
public struct StoredRequest: Sendable {
    public let encoded: EncodedMessage<AccessPackageRequest>
    public let accessPackageId: String
    public let state: RequestState
    public let completedAt: Timestamp?
    public let key: ListingKey

    public init(_ request: AccessPackageRequest) {
        encoded = EncodedMessage(request)
        accessPackageId = request.accessPackageId
        state = request.state
        completedAt = request.completedAt
        key = ListingKey(request)
    }

    public var id: String { key.id }

    /// The request, decoded.
    public var message: AccessPackageRequest { encoded.message }
}
