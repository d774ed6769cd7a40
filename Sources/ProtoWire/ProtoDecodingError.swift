/// Why a buffer could not be decoded as a protobuf message.
public enum ProtoDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input ended inside a field.
    case truncated
    /// A varint ran past 10 bytes.
    case malformedVarint
    /// A length prefix that cannot be right (negative or over 2 GiB).
    case malformedLength
    /// A tag or length prefix written in more than 5 bytes (a 32-bit value never needs more;
    /// protoc's parsers refuse it too).
    case overlongPrefix
    /// Wire type 6 or 7, or an end-group without a start.
    case invalidWireType(UInt8)
    /// Field number 0 or above 2^29 - 1.
    case invalidFieldNumber(UInt64)
    /// A known field arrived with a wire type its declared type cannot have.
    case wrongWireType(field: Int, got: WireType)
    /// A `string` field held bytes that are not UTF-8.
    case invalidUTF8(field: Int)
    /// Messages (or groups) nested deeper than the recursion budget.
    case recursionLimitExceeded

    public var description: String {
        switch self {
        case .truncated: "truncated message"
        case .malformedVarint: "malformed varint (longer than 10 bytes)"
        case .malformedLength: "malformed length prefix"
        case .overlongPrefix: "tag or length prefix longer than 5 bytes"
        case .invalidWireType(let t): "invalid wire type \(t)"
        case .invalidFieldNumber(let n): "invalid field number \(n)"
        case .wrongWireType(let field, let got): "field \(field) has unexpected wire type \(got)"
        case .invalidUTF8(let field): "field \(field) is not valid UTF-8"
        case .recursionLimitExceeded: "message nested deeper than 100 levels"
        }
    }
}
