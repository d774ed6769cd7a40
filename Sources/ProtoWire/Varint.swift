/// Sizes of varint-encoded values.
public enum Varint {
    @inlinable
    public static func size(of value: UInt64) -> Int {
        // 1 byte per 7 significant bits; 0 still takes one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    /// Negative int32/int64/enum values are sign-extended to 10 bytes.
    @inlinable
    public static func size(of value: Int32) -> Int { size(of: UInt64(bitPattern: Int64(value))) }

    @inlinable
    public static func size(of value: Int64) -> Int { size(of: UInt64(bitPattern: value)) }
}

/// ZigZag mapping for sint32/sint64, so small negative numbers stay short.
public enum ZigZag {
    @inlinable
    public static func encoded(_ value: Int32) -> UInt32 { UInt32(bitPattern: (value << 1) ^ (value >> 31)) }

    @inlinable
    public static func encoded(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

    @inlinable
    public static func decoded(_ value: UInt32) -> Int32 { Int32(bitPattern: (value >> 1) ^ (0 &- (value & 1))) }

    @inlinable
    public static func decoded(_ value: UInt64) -> Int64 { Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1))) }
}
