/// The one error callers see: a gRPC status code, a message that says what to fix, and metadata.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Code
    public var message: String
    public var metadata: Metadata
    /// The error underneath, for the server's own logs; never sent to the caller. Not part of
    /// equality: two errors are equal when the caller sees the same status.
    public var cause: (any Error)?

    public init(code: Code, message: String, metadata: Metadata = Metadata(), cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.metadata = metadata
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return "\(code): \(message)" }
        return "\(code): \(message) (cause: \(cause))"
    }

    public static func == (lhs: RPCError, rhs: RPCError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.metadata == rhs.metadata
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(metadata)
    }
}

extension RPCError {
    /// A gRPC status code. A struct wrapping a private enum, so codes can be added without
    /// breaking exhaustive switches in callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: Int, Sendable, Hashable {
            case ok = 0, cancelled, unknown, invalidArgument, deadlineExceeded, notFound, alreadyExists,
                permissionDenied, resourceExhausted, failedPrecondition, aborted, outOfRange, unimplemented,
                internalError, unavailable, dataLoss, unauthenticated
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The code for a `grpc-status` value; unknown numbers map to `unknown`.
        public init(rawValue: Int) { self.wrapped = Wrapped(rawValue: rawValue) ?? .unknown }

        public var rawValue: Int { wrapped.rawValue }

        public static let ok = Code(.ok)
        public static let cancelled = Code(.cancelled)
        public static let unknown = Code(.unknown)
        public static let invalidArgument = Code(.invalidArgument)
        public static let deadlineExceeded = Code(.deadlineExceeded)
        public static let notFound = Code(.notFound)
        public static let alreadyExists = Code(.alreadyExists)
        public static let permissionDenied = Code(.permissionDenied)
        public static let resourceExhausted = Code(.resourceExhausted)
        public static let failedPrecondition = Code(.failedPrecondition)
        public static let aborted = Code(.aborted)
        public static let outOfRange = Code(.outOfRange)
        public static let unimplemented = Code(.unimplemented)
        public static let internalError = Code(.internalError)
        public static let unavailable = Code(.unavailable)
        public static let dataLoss = Code(.dataLoss)
        public static let unauthenticated = Code(.unauthenticated)

        public var description: String {
            switch wrapped {
            case .ok: "OK"
            case .cancelled: "CANCELLED"
            case .unknown: "UNKNOWN"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .deadlineExceeded: "DEADLINE_EXCEEDED"
            case .notFound: "NOT_FOUND"
            case .alreadyExists: "ALREADY_EXISTS"
            case .permissionDenied: "PERMISSION_DENIED"
            case .resourceExhausted: "RESOURCE_EXHAUSTED"
            case .failedPrecondition: "FAILED_PRECONDITION"
            case .aborted: "ABORTED"
            case .outOfRange: "OUT_OF_RANGE"
            case .unimplemented: "UNIMPLEMENTED"
            case .internalError: "INTERNAL"
            case .unavailable: "UNAVAILABLE"
            case .dataLoss: "DATA_LOSS"
            case .unauthenticated: "UNAUTHENTICATED"
            }
        }
    }
}

/// Domain errors that know which gRPC status they are.
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError {
    /// Maps any error a handler throws to the status sent to the caller; unexpected errors become
    /// INTERNAL without leaking their text.
    /// The error itself is kept as the `cause`, so the server's log can say what went wrong.
    public init(mapping error: any Error) {
        if let e = error as? RPCError {
            self = e
        } else if let e = error as? any RPCErrorConvertible {
            self = e.rpcError
            if cause == nil { cause = error }
        } else if error is CancellationError {
            self = RPCError(code: .cancelled, message: "the call was cancelled")
        } else {
            self = RPCError(code: .internalError, message: "internal error", cause: error)
        }
    }
}
