/// The protobuf wire types; 3 and 4 (groups) are only ever skipped.
public enum WireType: UInt8, Sendable, Hashable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// A field key: field number and wire type, as read from or written to the wire.
public struct FieldTag: Sendable, Hashable {
    public let fieldNumber: Int
    public let wireType: WireType

    /// Field numbers are 1 ... 2^29 - 1.
    public static let maxFieldNumber = (1 << 29) - 1

    @inlinable
    public init(fieldNumber: Int, wireType: WireType) {
        self.fieldNumber = fieldNumber
        self.wireType = wireType
    }

    @inlinable
    public var rawValue: UInt64 { UInt64(fieldNumber) << 3 | UInt64(wireType.rawValue) }
}
