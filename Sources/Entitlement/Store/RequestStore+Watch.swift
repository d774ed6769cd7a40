import EntitlementAPI
public import RPCCore

extension RequestStore {
    /// Starts watching `ids` of a package (every request of it when `ids` is empty). The snapshot
    /// is read and the feed subscribed in one actor turn, so no change is missed or seen twice.
    /// - Returns: nil if the package is unknown.
    /// - Throws: NOT_FOUND naming an id that is not a request of the package; RESOURCE_EXHAUSTED
    ///   past the feed's watcher limit; UNAVAILABLE once the server is shutting down.
    public func watch(accessPackageId: String, ids: [String]) throws(RPCError) -> WatchStart? {
        guard state.packages[exactly: accessPackageId] != nil else { return nil }
        var snapshot: [AccessPackageRequest] = []
        snapshot.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() {
            guard let request = state.requests[exactly: id], request.accessPackageId == accessPackageId else {
                throw RPCError(
                    code: .notFound,
                    message: "request_ids[\(i)] \(CallerText.quotedId(id)) is not a request of access package \"\(CallerText.clean(accessPackageId))\"")
            }
            snapshot.append(request.message)
        }
        let subscription = try changes.subscribe(packageId: accessPackageId, ids: ids.isEmpty ? nil : ids)
        return WatchStart(snapshot: snapshot, subscription: subscription)
    }
}
