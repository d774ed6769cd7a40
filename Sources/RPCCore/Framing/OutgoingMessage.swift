public import ProtoWire

/// A response message as the call layer hands it to a transport: one uncompressed gRPC frame (the
/// 5-byte header, then the protobuf encoding), built in one allocation. The transport sends it as
/// it is, or compresses from the message bytes, and never sees a message type.
public struct OutgoingMessage: Sendable {
    /// The frame: header (not compressed, the message's length), then the encoded message.
    public let framed: [UInt8]

    /// Encodes and frames `message`.
    @inlinable
    public init(_ message: some ProtoMessage) {
        var framed = message.serializedBytes(headroom: GRPCFraming.headerSize)
        let length = framed.count - GRPCFraming.headerSize
        framed.withUnsafeMutableBytes { GRPCFraming.writeHeader(compressed: false, length: length, to: $0.baseAddress!) }
        self.framed = framed
    }

    /// The encoded message's size, without the header.
    public var messageSize: Int { framed.count - GRPCFraming.headerSize }

    /// The encoded message, without the header (for a transport that does not frame).
    public var messageBytes: ArraySlice<UInt8> { framed[GRPCFraming.headerSize...] }
}
