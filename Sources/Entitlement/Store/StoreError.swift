public import RPCCore

/// A failure of the durable store. Callers see UNAVAILABLE: nothing was changed, and retrying is safe.
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

    public var description: String {
        switch self {
        case .io(let message): message
        case .database(let error): error.description
        case .corrupt(let message): "corrupt store: \(message)"
        case .overloaded(let pending): "\(pending) writes are already waiting for the disk"
        case .unreachable(let message): "the database: \(message)"
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
                message: "the request store's database is unreachable (\(description)); retrying is safe")
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
        case let error as SQLiteError: self = .database(error)
        default: self = .io("\(error)")
        }
    }
}
