/// One message as read off the wire, before decompression.
public struct FramedMessage: Sendable, Hashable {
    public var compressed: Bool
    public var bytes: [UInt8]

    public init(compressed: Bool, bytes: [UInt8]) {
        self.compressed = compressed
        self.bytes = bytes
    }
}
