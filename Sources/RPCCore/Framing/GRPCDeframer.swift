/// Splits a stream of body bytes into gRPC messages. Bounded: a message whose declared length passes
/// the limit is refused before its bytes are buffered, and a byte past the last message the call
/// may carry is refused at once rather than buffered.
public struct GRPCDeframer: Sendable {
    private var buffer: [UInt8] = []
    private var readIndex = 0
    public private(set) var messages: [FramedMessage] = []
    public let limit: Int
    /// How many messages the call may carry: one for unary calls.
    public let maxMessages: Int

    public init(limit: Int = GRPCFraming.maxMessageSize, maxMessages: Int = 1) {
        self.limit = limit
        self.maxMessages = maxMessages
    }

    /// Bytes held for a message not yet complete (for per-connection memory budgets).
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(DeframingError) {
        guard !bytes.isEmpty else { return }
        if messages.count >= maxMessages { throw .tooManyMessages(limit: maxMessages) }
        buffer.append(contentsOf: bytes)
        try drain()
    }

    private mutating func drain() throws(DeframingError) {
        while buffer.count - readIndex >= GRPCFraming.headerSize {
            if messages.count >= maxMessages { throw .tooManyMessages(limit: maxMessages) }
            let flag = buffer[readIndex]
            guard flag <= 1 else { throw .invalidFlag(flag) }
            let length =
                Int(buffer[readIndex + 1]) << 24 | Int(buffer[readIndex + 2]) << 16 | Int(buffer[readIndex + 3]) << 8
                | Int(buffer[readIndex + 4])
            guard length <= limit else { throw .messageTooLarge(length: length, limit: limit) }
            guard buffer.count - readIndex - GRPCFraming.headerSize >= length else { break }
            let start = readIndex + GRPCFraming.headerSize
            if readIndex == 0 && start + length == buffer.count {
                // The common case, one whole message in the buffer: hand over the buffer itself,
                // shifted past the header in place rather than copied into a new array.
                buffer.removeFirst(GRPCFraming.headerSize)
                messages.append(FramedMessage(compressed: flag == 1, bytes: buffer))
                buffer = []
                readIndex = 0
                continue
            }
            messages.append(FramedMessage(compressed: flag == 1, bytes: Array(buffer[start..<start + length])))
            readIndex = start + length
        }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: false)
            readIndex = 0
        } else if buffer.count - readIndex > 0, messages.count >= maxMessages {
            throw .tooManyMessages(limit: maxMessages)
        }
    }

    /// Call at end of stream: leftover bytes mean the body was cut inside a message.
    public func finish() throws(DeframingError) -> [FramedMessage] {
        if buffer.count > readIndex { throw .truncated }
        return messages
    }

    /// Hands over the complete messages so far (for streams, which take them as they arrive).
    /// Only for a deframer without a message limit: taken messages no longer count against it.
    public mutating func takeMessages() -> [FramedMessage] {
        precondition(maxMessages == .max, "takeMessages() is for streams without a message limit")
        defer { messages.removeAll(keepingCapacity: true) }
        return messages
    }
}
