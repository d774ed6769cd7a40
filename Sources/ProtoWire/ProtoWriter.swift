/// Writes protobuf fields into memory sized beforehand by `encodedSize()`.
///
/// Bounds are checked only in debug builds: the two-pass design guarantees the room.
public struct ProtoWriter {
    @usableFromInline let base: UnsafeMutableRawPointer?
    @usableFromInline let capacity: Int
    @usableFromInline var offset: Int = 0
    /// Sub-message sizes from the size pass, consumed in order by `writeMessage`; empty when absent.
    @usableFromInline let cachedSizes: [Int]
    @usableFromInline var nextCachedSize = 0

    @inlinable
    public init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.base = buffer.baseAddress
        self.capacity = buffer.count
        self.cachedSizes = []
    }

    /// A writer that takes sub-message sizes from `sizes` (filled by `encodedSize(cache:)`).
    @inlinable
    public init(_ buffer: UnsafeMutableRawBufferPointer, sizes: ProtoSizeCache) {
        self.base = buffer.baseAddress
        self.capacity = buffer.count
        self.cachedSizes = sizes.isValid ? sizes.sizes : []
    }

    @inlinable
    public var bytesWritten: Int { offset }

    @inlinable
    mutating func writeByte(_ byte: UInt8) {
        assert(offset < capacity, "ProtoWriter overflow")
        base.unsafelyUnwrapped.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
        offset += 1
    }

    @inlinable @inline(__always)
    public mutating func writeVarint(_ value: UInt64) {
        // One-byte values (most tags and lengths) take the short path.
        if value < 0x80 {
            writeByte(UInt8(truncatingIfNeeded: value))
            return
        }
        var v = value
        while v >= 0x80 {
            writeByte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeByte(UInt8(v))
    }

    @inlinable @inline(__always)
    public mutating func writeTag(_ fieldNumber: Int, _ wireType: WireType) {
        writeVarint(FieldTag(fieldNumber: fieldNumber, wireType: wireType).rawValue)
    }

    @inlinable
    public mutating func writeFixed32(_ value: UInt32) {
        assert(offset + 4 <= capacity, "ProtoWriter overflow")
        base.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
        offset += 4
    }

    @inlinable
    public mutating func writeFixed64(_ value: UInt64) {
        assert(offset + 8 <= capacity, "ProtoWriter overflow")
        base.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
        offset += 8
    }

    @inlinable
    public mutating func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        assert(offset + bytes.count <= capacity, "ProtoWriter overflow")
        (base.unsafelyUnwrapped + offset).copyMemory(from: src, byteCount: bytes.count)
        offset += bytes.count
    }

    @inlinable
    public mutating func writeRawBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeRawBytes($0) }
    }

    // MARK: Whole fields (tag + value); generated code calls these for non-default values.

    @inlinable
    public mutating func writeInt32(_ value: Int32, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(bitPattern: Int64(value)))
    }

    @inlinable
    public mutating func writeInt64(_ value: Int64, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(bitPattern: value))
    }

    @inlinable
    public mutating func writeUInt32(_ value: UInt32, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(value))
    }

    @inlinable
    public mutating func writeUInt64(_ value: UInt64, field: Int) {
        writeTag(field, .varint)
        writeVarint(value)
    }

    @inlinable
    public mutating func writeSInt32(_ value: Int32, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(ZigZag.encoded(value)))
    }

    @inlinable
    public mutating func writeSInt64(_ value: Int64, field: Int) {
        writeTag(field, .varint)
        writeVarint(ZigZag.encoded(value))
    }

    @inlinable
    public mutating func writeBool(_ value: Bool, field: Int) {
        writeTag(field, .varint)
        writeByte(value ? 1 : 0)
    }

    @inlinable
    public mutating func writeEnum(_ rawValue: Int32, field: Int) {
        writeInt32(rawValue, field: field)
    }

    @inlinable
    public mutating func writeFixed32(_ value: UInt32, field: Int) {
        writeTag(field, .fixed32)
        writeFixed32(value)
    }

    @inlinable
    public mutating func writeFixed64(_ value: UInt64, field: Int) {
        writeTag(field, .fixed64)
        writeFixed64(value)
    }

    @inlinable
    public mutating func writeSFixed32(_ value: Int32, field: Int) {
        writeFixed32(UInt32(bitPattern: value), field: field)
    }

    @inlinable
    public mutating func writeSFixed64(_ value: Int64, field: Int) {
        writeFixed64(UInt64(bitPattern: value), field: field)
    }

    @inlinable
    public mutating func writeFloat(_ value: Float, field: Int) {
        writeFixed32(value.bitPattern, field: field)
    }

    @inlinable
    public mutating func writeDouble(_ value: Double, field: Int) {
        writeFixed64(value.bitPattern, field: field)
    }

    @inlinable
    public mutating func writeString(_ value: String, field: Int) {
        writeTag(field, .lengthDelimited)
        // Native strings lend their UTF-8 without a copy; bridged ones are copied once.
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { utf8 in
            writeVarint(UInt64(utf8.count))
            writeRawBytes(UnsafeRawBufferPointer(utf8))
        }
        if written == nil {
            var copy = value
            copy.withUTF8 { utf8 in
                writeVarint(UInt64(utf8.count))
                writeRawBytes(UnsafeRawBufferPointer(utf8))
            }
        }
    }

    @inlinable
    public mutating func writeBytes(_ value: [UInt8], field: Int) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(value.count))
        writeRawBytes(value)
    }

    @inlinable
    public mutating func writeMessage(_ message: some ProtoMessage, field: Int) {
        writeTag(field, .lengthDelimited)
        let size: Int
        if nextCachedSize < cachedSizes.count {
            size = cachedSizes[nextCachedSize]
            nextCachedSize += 1
            assert(size == message.encodedSize(), "size cache out of step with encode(to:)")
        } else {
            size = message.encodedSize()
        }
        writeVarint(UInt64(size))
        message.encode(to: &self)
    }

    /// Writes a length-delimited field whose payload (of `payloadSize` bytes) `body` writes; used for
    /// packed repeated fields and map entries.
    @inlinable
    public mutating func writeLengthDelimited(field: Int, payloadSize: Int, _ body: (inout ProtoWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(payloadSize))
        let start = offset
        body(&self)
        assert(offset - start == payloadSize, "length-delimited payload size mismatch")
    }

    @inlinable
    public mutating func writeUnknownFields(_ fields: UnknownFields) {
        if !fields.isEmpty { writeRawBytes(fields.bytes) }
    }
}
