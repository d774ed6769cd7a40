/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch, UTC.
public struct Timestamp: ProtoMessage, Comparable {
    public var seconds: Int64 = 0
    public var nanos: Int32 = 0
    public var unknownFields = UnknownFields()
    public static let protoMessageName = "google.protobuf.Timestamp"

    @inlinable
    public init() {}

    @inlinable
    public init(seconds: Int64, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    @inlinable
    public func encodedSize() -> Int {
        var size = unknownFields.count
        if seconds != 0 { size += ProtoSize.int64(seconds, field: 1) }
        if nanos != 0 { size += ProtoSize.int32(nanos, field: 2) }
        return size
    }

    /// A Timestamp has no sub-messages, so there is nothing to record.
    @inlinable
    public func encodedSize(cache: inout ProtoSizeCache) -> Int {
        encodedSize()
    }

    @inlinable
    public func encode(to writer: inout ProtoWriter) {
        if seconds != 0 { writer.writeInt64(seconds, field: 1) }
        if nanos != 0 { writer.writeInt32(nanos, field: 2) }
        writer.writeUnknownFields(unknownFields)
    }

    @inlinable
    public mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        // Another wire type is an unknown field, as in the generated messages.
        case 1 where tag.wireType == .varint: seconds = try reader.readInt64(tag)
        case 2 where tag.wireType == .varint: nanos = try reader.readInt32(tag)
        default: try reader.skipField(tag, into: &unknownFields)
        }
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.seconds, lhs.nanos) < (rhs.seconds, rhs.nanos)
    }
}
