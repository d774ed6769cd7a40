/// Encoded sizes of whole fields (tag + value), the first pass of two-pass encoding.
public enum ProtoSize {
    @inlinable
    public static func tag(_ fieldNumber: Int) -> Int { Varint.size(of: UInt64(fieldNumber) << 3) }

    @inlinable
    public static func int32(_ value: Int32, field: Int) -> Int { tag(field) + Varint.size(of: value) }

    @inlinable
    public static func int64(_ value: Int64, field: Int) -> Int { tag(field) + Varint.size(of: value) }

    @inlinable
    public static func uint32(_ value: UInt32, field: Int) -> Int { tag(field) + Varint.size(of: UInt64(value)) }

    @inlinable
    public static func uint64(_ value: UInt64, field: Int) -> Int { tag(field) + Varint.size(of: value) }

    @inlinable
    public static func sint32(_ value: Int32, field: Int) -> Int {
        tag(field) + Varint.size(of: UInt64(ZigZag.encoded(value)))
    }

    @inlinable
    public static func sint64(_ value: Int64, field: Int) -> Int { tag(field) + Varint.size(of: ZigZag.encoded(value)) }

    @inlinable
    public static func bool(field: Int) -> Int { tag(field) + 1 }

    @inlinable
    public static func enumValue(_ rawValue: Int32, field: Int) -> Int { int32(rawValue, field: field) }

    @inlinable
    public static func fixed32(field: Int) -> Int { tag(field) + 4 }

    @inlinable
    public static func fixed64(field: Int) -> Int { tag(field) + 8 }

    @inlinable
    public static func lengthDelimited(payload: Int, field: Int) -> Int {
        tag(field) + Varint.size(of: UInt64(payload)) + payload
    }

    @inlinable
    public static func string(_ value: String, field: Int) -> Int { lengthDelimited(payload: value.utf8.count, field: field) }

    @inlinable
    public static func bytes(_ value: [UInt8], field: Int) -> Int { lengthDelimited(payload: value.count, field: field) }

    @inlinable
    public static func message(_ value: some ProtoMessage, field: Int) -> Int {
        lengthDelimited(payload: value.encodedSize(), field: field)
    }
}
