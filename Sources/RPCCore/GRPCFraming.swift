/// The gRPC length-prefixed message format: 1 flag byte (compressed or not), 4-byte big-endian
/// length, then the message.
public enum GRPCFraming {
    public static let headerSize = 5
    /// Largest message accepted, after decompression (CONTRACT: 4 MiB).
    public static let maxMessageSize = 4 * 1024 * 1024

    /// Writes the 5-byte prefix for a message of `length` bytes.
    @inlinable
    public static func writeHeader(compressed: Bool, length: Int, to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: compressed ? 1 : 0, as: UInt8.self)
        pointer.storeBytes(of: UInt32(length).bigEndian, toByteOffset: 1, as: UInt32.self)
    }
}

/// One message as read off the wire, before decompression.
public struct FramedMessage: Sendable, Hashable {
    public var compressed: Bool
    public var bytes: [UInt8]

    public init(compressed: Bool, bytes: [UInt8]) {
        self.compressed = compressed
        self.bytes = bytes
    }
}

/// Why a request body could not be split into messages.
public enum DeframingError: Error, Sendable, Hashable {
    /// A declared length is larger than the message limit.
    case messageTooLarge(length: Int, limit: Int)
    /// The body ended inside a message.
    case truncated
    /// A flag byte other than 0 or 1.
    case invalidFlag(UInt8)
}

/// Splits a stream of body bytes into gRPC messages. Bounded: a message whose declared length passes
/// the limit is refused before its bytes are buffered, and at most `maxMessages` are collected.
public struct GRPCDeframer: Sendable {
    private var buffer: [UInt8] = []
    private var readIndex = 0
    public private(set) var messages: [FramedMessage] = []
    public let limit: Int
    /// Unary calls need at most one message; collecting more than this proves the call is invalid.
    public let maxMessages: Int

    public init(limit: Int = GRPCFraming.maxMessageSize, maxMessages: Int = 2) {
        self.limit = limit
        self.maxMessages = maxMessages
    }

    /// True once more messages arrived than a caller needs; further bytes are dropped.
    public var isOverfull: Bool { messages.count >= maxMessages }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(DeframingError) {
        if isOverfull { return }
        buffer.append(contentsOf: bytes)
        try drain()
    }

    private mutating func drain() throws(DeframingError) {
        while buffer.count - readIndex >= GRPCFraming.headerSize, !isOverfull {
            let flag = buffer[readIndex]
            guard flag <= 1 else { throw .invalidFlag(flag) }
            let length =
                Int(buffer[readIndex + 1]) << 24 | Int(buffer[readIndex + 2]) << 16 | Int(buffer[readIndex + 3]) << 8
                | Int(buffer[readIndex + 4])
            guard length <= limit else { throw .messageTooLarge(length: length, limit: limit) }
            guard buffer.count - readIndex - GRPCFraming.headerSize >= length else { return }
            let start = readIndex + GRPCFraming.headerSize
            messages.append(FramedMessage(compressed: flag == 1, bytes: Array(buffer[start..<start + length])))
            readIndex = start + length
        }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
    }

    /// Call at end of stream: leftover bytes mean the body was cut inside a message.
    public func finish() throws(DeframingError) -> [FramedMessage] {
        if !isOverfull && buffer.count > readIndex { throw .truncated }
        return messages
    }
}
