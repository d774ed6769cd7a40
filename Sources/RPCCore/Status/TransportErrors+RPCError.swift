extension DeframingError: RPCErrorConvertible {
    /// The status a caller gets for a body that cannot be split into messages.
    public var rpcError: RPCError {
        switch self {
        case .messageTooLarge(let length, let limit):
            RPCError(code: .resourceExhausted, message: "request message of \(length) bytes exceeds the limit of \(limit) bytes")
        case .truncated:
            RPCError(code: .internalError, message: "request body ends inside a message")
        case .invalidFlag(let flag):
            RPCError(code: .internalError, message: "invalid message flag \(flag)")
        case .tooManyMessages(let limit):
            RPCError(
                code: .unimplemented,
                message: "a unary or server-streaming call carries exactly \(limit) request message; got more")
        }
    }
}

extension CompressionError: RPCErrorConvertible {
    /// The status a caller gets for a compressed message that cannot be inflated.
    public var rpcError: RPCError {
        switch self {
        case .limitExceeded(let limit):
            RPCError(code: .resourceExhausted, message: "decompressed request message exceeds the limit of \(limit) bytes")
        case .corrupt(let why):
            RPCError(code: .internalError, message: why)
        case .unavailable(let status):
            RPCError(code: .resourceExhausted, message: "the server cannot set up decompression now (zlib status \(status)); retry later")
        }
    }
}
