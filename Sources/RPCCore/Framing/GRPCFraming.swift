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
