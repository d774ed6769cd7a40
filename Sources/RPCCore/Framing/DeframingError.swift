/// Why a request body could not be split into messages.
public enum DeframingError: Error, Sendable, Hashable {
    /// A declared length is larger than the message limit.
    case messageTooLarge(length: Int, limit: Int)
    /// The body ended inside a message.
    case truncated
    /// A flag byte other than 0 or 1.
    case invalidFlag(UInt8)
    /// Bytes arrived after the most messages the call may carry (one, for a unary call).
    case tooManyMessages(limit: Int)
}
