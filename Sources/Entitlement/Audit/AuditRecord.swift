import RPCCore
public import EntitlementAPI
public import ProtoWire

/// One Reprocess call as the audit log keeps it: who, when, which package and ids, and what happened.
public struct AuditRecord: Sendable, Hashable {
    /// What became of the call.
    public enum Decision: String, Sendable, Hashable {
        /// Authorized and carried out; `outcomes` has one entry per id.
        case allowed
        /// Refused by authorization; `reason` says why.
        case denied
        /// Authorized but invalid (bad arguments, unknown package); `reason` says why.
        case rejected
    }

    /// The caller's object id, when the call was authenticated.
    public var callerObjectId: String?
    public var time: Timestamp
    public var accessPackageId: String
    public var requestIds: [String]
    /// Parallel to `requestIds` for allowed calls; empty otherwise.
    public var outcomes: [ReprocessOutcome]
    public var decision: Decision
    public var reason: String
    /// Where the call came from (host:port), when known.
    public var peer: String?
    /// How many calls this record stands for: 1, or more for refused calls aggregated per peer,
    /// caller and reason within a second (`RefusalAuditThrottle`).
    public var count: Int

    /// The most ids an audit record keeps; a longer (invalid) list is cut here.
    public static let maxRequestIds = 100

    public init(
        callerObjectId: String?,
        time: Timestamp,
        accessPackageId: String,
        requestIds: [String],
        outcomes: [ReprocessOutcome] = [],
        decision: Decision,
        reason: String = "",
        peer: String? = nil,
        count: Int = 1
    ) {
        // Caller-supplied text is bounded and escaped: a refused call from anyone must not be able
        // to write megabytes or forge log lines.
        self.callerObjectId = callerObjectId.map { CallerText.clean($0) }
        self.time = time
        self.accessPackageId = CallerText.clean(accessPackageId)
        self.requestIds = requestIds.prefix(Self.maxRequestIds).map { CallerText.clean($0) }
        self.outcomes = Array(outcomes.prefix(Self.maxRequestIds))
        self.decision = decision
        self.reason = CallerText.message(reason)
        self.peer = peer.map { CallerText.clean($0, maxBytes: 64) }
        self.count = count
    }
}
