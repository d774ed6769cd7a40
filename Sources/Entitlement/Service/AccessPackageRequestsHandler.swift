public import EntitlementAPI
public import RPCCore
import ProtoWire

/// Serves `entitlement.v1.AccessPackageRequests` on a `RequestStore`.
///
/// Authorization happens before this runs (the auth interceptor); the handler reads the verified
/// caller from `context[CallerKey.self]` only to audit Reprocess calls.
///
/// It answers ListRequests and Reprocess with `ListRequestsReply` and `ReprocessReply`, the
/// generated responses' wire twins written from the store's encodings, so it registers its
/// methods itself rather than through the generated `AccessPackageRequestsService`.
public struct AccessPackageRequestsHandler: Sendable {
    /// A `page_size` of 0 means this many.
    public static let defaultPageSize = 50

    private let store: any RequestStoring
    private let policy: ReprocessPolicy

    /// - Parameters:
    ///   - store: the request store (owns the page-token key too).
    ///   - policy: the reprocess rules; its window is `--reprocess-window-days`.
    public init(store: any RequestStoring, policy: ReprocessPolicy = ReprocessPolicy()) {
        self.store = store
        self.policy = policy
    }

    /// Registers ListRequests, Reprocess and WatchRequests with `router`.
    public func register(into router: inout MethodRouter) {
        router.registerUnary(
            AccessPackageRequestsMethods.listRequests, input: ListRequestsRequest.self, output: ListRequestsReply.self
        ) { request, context in
            try await self.listRequests(request, context: context)
        }
        router.registerUnary(
            AccessPackageRequestsMethods.reprocess, input: ReprocessRequest.self, output: ReprocessReply.self
        ) { request, context in
            try await self.reprocess(request, context: context)
        }
        router.registerServerStreaming(
            AccessPackageRequestsMethods.watchRequests, input: WatchRequestsRequest.self,
            output: WatchRequestsResponse.self
        ) { request, responses, context in
            try await self.watchRequests(request, responses: responses, context: context)
        }
    }

    public func listRequests(_ request: ListRequestsRequest, context: ServerContext) async throws -> ListRequestsReply {
        let packageId = request.accessPackageId
        guard !packageId.isEmpty else { throw invalid("access_package_id is required") }
        guard request.pageSize >= 0 else { throw invalid("page_size must not be negative; got \(request.pageSize)") }
        let pageSize =
            request.pageSize == 0
            ? Self.defaultPageSize : min(Int(request.pageSize), RequestStore.maxPageSize)
        for (i, state) in request.states.enumerated() {
            if case .unrecognized(let raw) = state {
                throw invalid("states[\(i)]: \(raw) is not a RequestState value")
            }
            if state == .unspecified {
                throw invalid(
                    "states[\(i)]: REQUEST_STATE_UNSPECIFIED is not a state to filter by; leave states empty for all")
            }
        }
        var cursor: ListingKey?
        if !request.pageToken.isEmpty {
            do throws(PageTokenError) {
                cursor = try store.pageTokens.decode(
                    request.pageToken, accessPackageId: packageId, states: request.states)
            } catch {
                // An unknown package is the bigger mistake; name it rather than the token.
                if await store.accessPackage(id: packageId) == nil { throw Self.unknownPackage(packageId) }
                throw error.rpcError
            }
        }
        guard
            let page = try await store.listRequests(
                accessPackageId: packageId, states: request.states, after: cursor, limit: pageSize)
        else { throw Self.unknownPackage(packageId) }

        var reply = ListRequestsReply()
        let entries = Self.fittingOneMessage(page.entries)
        reply.requests = entries.map(\.encoded)
        if page.hasMore || entries.count < page.entries.count, let last = entries.last {
            reply.nextPageToken = store.pageTokens.encode(
                after: last.key, accessPackageId: packageId, states: request.states)
        }
        return reply
    }

    /// The leading entries whose page fits in one message (at least one): a page of large
    /// requests is cut short, and its token continues after the last one it holds.
    static func fittingOneMessage(_ entries: [StoredRequest]) -> ArraySlice<StoredRequest> {
        // Room for the page token and the fields around it.
        var budget = GRPCFraming.maxMessageSize - 4_096
        for (i, entry) in entries.enumerated() {
            let count = entry.encoded.bytes.count
            budget -= ProtoSize.tag(1) + Varint.size(of: UInt64(count)) + count
            if budget < 0 { return entries[..<max(i, 1)] }
        }
        return entries[...]
    }

    public func reprocess(_ request: ReprocessRequest, context: ServerContext) async throws -> ReprocessReply {
        let caller = context[CallerKey.self]?.objectId
        let packageId = request.accessPackageId
        do throws(RPCError) {
            try Self.validate(request)
        } catch {
            await store.recordRejectedReprocess(
                caller: caller, packageId: packageId, requestIds: request.requestIds, reason: error.message)
            throw error
        }
        // A caller that gave up (deadline, cancel) must not have its reprocess carried out unseen.
        if Task.isCancelled {
            let error = RPCError(code: .cancelled, message: "the call was cancelled before it was carried out")
            await store.recordRejectedReprocess(
                caller: caller, packageId: packageId, requestIds: request.requestIds, reason: error.message)
            throw error
        }
        // A deadline that finds the acceptance committing tells the caller it may have been
        // applied; before that the store drops the call.
        guard
            let results = try await store.reprocess(
                accessPackageId: packageId, requestIds: request.requestIds, callerObjectId: caller, policy: policy,
                onCommit: { context.markIrrevocable() })
        else {
            let error = Self.unknownPackage(packageId)
            await store.recordRejectedReprocess(
                caller: caller, packageId: packageId, requestIds: request.requestIds, reason: error.message)
            throw error
        }
        return ReprocessReply(results: results)
    }

    /// WatchRequests (CONTRACT §2): the watched requests as they stand, then every committed
    /// change, until the caller cancels, its deadline passes, or (with `until_settled`) no watched
    /// request is DELIVERING. Ends UNAVAILABLE at shutdown and RESOURCE_EXHAUSTED for a reader
    /// that falls too far behind.
    public func watchRequests(
        _ request: WatchRequestsRequest, responses: ResponseStreamWriter<WatchRequestsResponse>, context: ServerContext
    ) async throws {
        try Self.validate(request)
        let packageId = request.accessPackageId
        guard let start = try await store.watch(accessPackageId: packageId, ids: request.requestIds) else {
            throw Self.unknownPackage(packageId)
        }
        // However the watch ends (settled, cancelled, a failed write), its place under the
        // feed's limit is given back.
        defer { start.subscription.stop() }
        // By bytes: a PostgreSQL store may hold two spellings of one id, two requests.
        var delivering = Set(start.snapshot.filter { $0.state == .delivering }.map { ExactString($0.id) })
        var progress = WatchedProgress()
        // The watch is established: say so now, not at the first change (see `sendHeaders`).
        if start.snapshot.isEmpty { await responses.sendHeaders() }
        for current in start.snapshot {
            _ = progress.advance(to: current)
            try await responses.write(Self.watchMessage(current))
        }
        if request.untilSettled, delivering.isEmpty { return }
        for await change in start.subscription.changes where progress.advance(to: change) {
            // Ended by the feed (fell behind, shutdown): the caller watches again and gets a
            // fresh snapshot, so the changes still buffered would only delay its status.
            if let reason = start.subscription.endReason { throw reason }
            try await responses.write(Self.watchMessage(change))
            let id = ExactString(change.id)
            if change.state == .delivering { delivering.insert(id) } else { delivering.remove(id) }
            if request.untilSettled, delivering.isEmpty { return }
        }
        if let reason = start.subscription.endReason { throw reason }
        // The changes ended without a reason: the call was cancelled.
        throw CancellationError()
    }

    private static func watchMessage(_ request: AccessPackageRequest) -> WatchRequestsResponse {
        var message = WatchRequestsResponse()
        message.request = request
        return message
    }

    /// The argument rules of WatchRequests: a package id, 0 to 100 distinct non-empty ids, and
    /// ids when `until_settled` is set.
    static func validate(_ request: WatchRequestsRequest) throws(RPCError) {
        guard !request.accessPackageId.isEmpty else { throw invalid("access_package_id is required") }
        try validateIds(request.requestIds, allowEmpty: true)
        if request.untilSettled, request.requestIds.isEmpty {
            throw invalid("until_settled needs request_ids: name the requests to wait for")
        }
    }

    static func unknownPackage(_ id: String) -> RPCError {
        RPCError(code: .notFound, message: "access package \"\(CallerText.clean(id))\" does not exist")
    }

    /// The argument rules of Reprocess: a package id, 1 to 100 ids, none empty, no duplicates.
    static func validate(_ request: ReprocessRequest) throws(RPCError) {
        guard !request.accessPackageId.isEmpty else { throw invalid("access_package_id is required") }
        try validateIds(request.requestIds, allowEmpty: false)
    }

    /// 1 (or 0 when `allowEmpty`) to 100 ids, none empty, no duplicates.
    static func validateIds(_ ids: [String], allowEmpty: Bool) throws(RPCError) {
        let low = allowEmpty ? 0 : 1
        guard (low...RequestStore.maxReprocessBatch).contains(ids.count) else {
            throw invalid("request_ids must name \(low) to \(RequestStore.maxReprocessBatch) requests; got \(ids.count)")
        }
        // A handful of ids (the usual call) is checked pairwise: no hashing, no allocation. Ids
        // are compared by their bytes, as the store looks them up (`ExactKeys`).
        let pairwise = ids.count <= 16
        var firstIndex: [ExactString: Int] = [:]
        for (i, id) in ids.enumerated() {
            guard !id.isEmpty else { throw invalid("request_ids[\(i)] is empty") }
            let earlier =
                pairwise ? ids[..<i].firstIndex { $0.hasSameBytes(as: id) } : firstIndex[ExactString(id)]
            if let earlier {
                throw invalid("request_ids[\(i)] \"\(CallerText.clean(id))\" duplicates request_ids[\(earlier)]; name each request once")
            }
            if !pairwise { firstIndex[ExactString(id)] = i }
        }
    }
}

private func invalid(_ message: String) -> RPCError {
    RPCError(code: .invalidArgument, message: message)
}
