import EntitlementAPI

/// How far a request has come. Every change a store commits moves it forward: a Reprocess
/// acceptance adds to `reprocess_count`, a delivery attempt to one resource's `attempts`, and
/// settling leaves DELIVERING. So a watcher can tell a version it has already sent, or an older
/// one, from a new one. (A change that moved none of these would be dropped as a repeat: any
/// new kind of change must move one.)
struct RequestProgress: Comparable {
    let reprocessCount: Int32
    let attempts: Int64
    let settled: Bool

    init(_ request: AccessPackageRequest) {
        reprocessCount = request.reprocessCount
        attempts = request.resources.reduce(0) { $0 + Int64($1.attempts) }
        settled = request.state != .delivering
    }

    static func < (lhs: RequestProgress, rhs: RequestProgress) -> Bool {
        (lhs.reprocessCount, lhs.attempts, lhs.settled ? 1 : 0) < (rhs.reprocessCount, rhs.attempts, rhs.settled ? 1 : 0)
    }
}

/// The furthest version of each request a watch has sent, by id bytes: a change at or behind it
/// is one the watcher has (the PostgreSQL store subscribes before it reads the snapshot, so
/// notifications of commits from before the snapshot can arrive after it, and a watcher saw
/// requests go backwards, and `until_settled` end on the previous cycle's settlement).
struct WatchedProgress {
    private var sent: [ExactString: RequestProgress] = [:]

    /// Records `request` as sent if it is ahead of what was; false for a repeat or an older one.
    mutating func advance(to request: AccessPackageRequest) -> Bool {
        let progress = RequestProgress(request)
        let id = ExactString(request.id)
        if let last = sent[id], progress <= last { return false }
        sent[id] = progress
        return true
    }
}
