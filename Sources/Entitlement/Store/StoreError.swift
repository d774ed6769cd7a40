public import RPCCore

/// A failure of the durable store. Callers see UNAVAILABLE: nothing was changed, and retrying is safe
/// (but for `unconfirmed`).
public enum StoreError: Error, Sendable, CustomStringConvertible, RPCErrorConvertible {
    /// A file-system operation failed.
    case io(String)
    /// SQLite refused a statement or a commit.
    case database(SQLiteError)
    /// A stored row could not be decoded.
    case corrupt(String)
    /// Too many writes are waiting for the disk; this one was not queued.
    case overloaded(pending: Int)
    /// The shared database could not be reached or refused the statement.
    case unreachable(String)
    /// A commit was sent and not confirmed in time: the change may or may not have been made.
    case unconfirmed(String)
    /// The call's task was cancelled (its caller gave up, or shutdown cut it off) before the change
    /// was committed: nothing was changed.
    case callerGone
    /// The reply would not fit in one message; nothing was changed.
    case replyTooLarge(bytes: Int)

    public var description: String {
        switch self {
        case .io(let message): message
        case .database(let error): error.description
        case .corrupt(let message): "corrupt store: \(message)"
        case .overloaded(let pending): "\(pending) writes are already waiting for the disk"
        case .unreachable(let message): "the database: \(message)"
        case .unconfirmed(let message): "the database: \(message)"
        case .callerGone:
            "the caller gave up (deadline or cancel), or the server cut the call off at shutdown, before it was committed; nothing was changed"
        case .replyTooLarge(let bytes):
            "the reply would be \(bytes) bytes, over the \(GRPCFraming.maxMessageSize / 1_048_576) MiB message limit"
        }
    }

    public var rpcError: RPCError {
        switch self {
        case .overloaded:
            RPCError(
                code: .unavailable,
                message: "the request store is overloaded (too many writes waiting); nothing was changed, retry with backoff")
        case .unreachable:
            RPCError(
                code: .unavailable,
                message: "the request store's database is unreachable or did not answer in time (\(description)); retrying is safe")
        case .unconfirmed:
            // Not UNAVAILABLE: clients retry that on their own, and this change may have been made
            // (DEADLINE_EXCEEDED is the status gRPC gives a change whose outcome is unknown).
            RPCError(
                code: .deadlineExceeded,
                message: "the request store's database did not confirm the commit (\(description)); "
                    + "the call may have been applied: list or watch the requests before retrying")
        case .replyTooLarge:
            RPCError(
                code: .resourceExhausted,
                message: "\(description); nothing was changed: name fewer requests per call, or shorter ids")
        case .callerGone:
            // The caller is gone (the transport answered its deadline or reset already).
            RPCError(code: .cancelled, message: "the call was given up before it was committed; nothing was changed")
        default:
            RPCError(
                code: .unavailable,
                message: "the request store could not commit the change; nothing was changed, retry later")
        }
    }
}

extension StoreError {
    /// What a store operation threw, as a `StoreError`: SQLite errors keep their code and message,
    /// store errors pass through, anything else is an I/O failure.
    init(wrapping error: any Error) {
        switch error {
        case let error as StoreError: self = error
        case is CommitCallerGone: self = .callerGone
        case let error as SQLiteError: self = .database(error)
        default: self = .io("\(error)")
        }
    }
}
