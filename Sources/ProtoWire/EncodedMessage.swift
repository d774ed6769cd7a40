/// A message kept as its encoding: written again by copying bytes rather than re-encoded, for
/// records a server stores once and sends many times. Always holds a valid encoding of `Message`
/// (made from a message, or checked when read off the wire).
///
/// Equal when the bytes are; two encodings of one message can differ (field order, unknown
/// fields), so compare `message`s to compare contents.
public struct EncodedMessage<Message: ProtoMessage>: Sendable, Hashable {
    /// The message's bytes, without a tag or length prefix.
    public let bytes: [UInt8]

    /// Encodes `message`.
    @inlinable
    public init(_ message: Message) {
        bytes = message.serializedBytes()
    }

    /// Takes `bytes` after checking they decode as a `Message`.
    public init(validating bytes: [UInt8]) throws(ProtoDecodingError) {
        _ = try Message(serializedBytes: bytes)
        self.bytes = bytes
    }

    /// The decoded message.
    public var message: Message {
        do {
            return try Message(serializedBytes: bytes)
        } catch {
            preconditionFailure("an EncodedMessage holds a valid \(Message.self) encoding, yet decoding failed: \(error)")
        }
    }
}

extension ProtoWriter {
    /// Writes a message field from its kept encoding: the same bytes `writeMessage` would write.
    @inlinable @_effects(releasenone)
    public mutating func writeEncoded<M>(_ message: EncodedMessage<M>, field: Int) {
        writeBytes(message.bytes, field: field)
    }
}

extension ProtoReader {
    /// Reads a message field as its encoding, checked to decode.
    public mutating func readEncoded<M>(_ tag: FieldTag, as type: M.Type) throws(ProtoDecodingError) -> EncodedMessage<M> {
        try EncodedMessage(validating: readBytes(tag))
    }
}

extension ProtoSize {
    /// Size of a message field written from its kept encoding.
    @inlinable
    public static func encoded<M>(_ message: EncodedMessage<M>, field: Int) -> Int {
        lengthDelimited(payload: message.bytes.count, field: field)
    }
}
