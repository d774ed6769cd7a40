public import EntitlementAPI
public import RPCCore

extension RequestStore {
    /// What a watcher starts from: the watched requests as they stand, and their committed
    /// changes from that moment on (subscribed in the same actor turn, so none is missed or seen
    /// twice).
    public struct WatchStart: Sendable {
        public var snapshot: [AccessPackageRequest]
        public var subscription: RequestSubscription
    }

    /// Starts watching `ids` of a package (every request of it when `ids` is empty).
    /// - Returns: nil if the package is unknown.
    /// - Throws: NOT_FOUND naming an id that is not a request of the package; RESOURCE_EXHAUSTED
    ///   past the feed's watcher limit; UNAVAILABLE once the server is shutting down.
    public func watch(accessPackageId: String, ids: [String]) throws(RPCError) -> WatchStart? {
        guard state.packages[accessPackageId] != nil else { return nil }
        var snapshot: [AccessPackageRequest] = []
        snapshot.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() {
            guard let request = state.requests[id], request.accessPackageId == accessPackageId else {
                throw RPCError(
                    code: .notFound,
                    message: "request_ids[\(i)] \"\(CallerText.clean(id))\" is not a request of access package \"\(CallerText.clean(accessPackageId))\"")
            }
            snapshot.append(request)
        }
        let subscription = try changes.subscribe(packageId: accessPackageId, ids: ids.isEmpty ? nil : Set(ids))
        return WatchStart(snapshot: snapshot, subscription: subscription)
    }
}
