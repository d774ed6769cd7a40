/// Writes protobuf fields into memory sized beforehand by `encodedSize()`.
///
/// Every write checks its bounds, in release builds too: the two-pass design should guarantee the
/// room, but a size pass that disagrees with the write pass (a hand-written conformance, say) must
/// stop with a clear trap rather than write past the buffer. The check is one compare per write.
///
/// The field writers are declared `@_effects(releasenone)` (they only store bytes): where one is
/// called rather than inlined, the optimizer would otherwise have to assume it might release an
/// object, and copy every message being encoded around the call.
public struct ProtoWriter {
    @usableFromInline let base: UnsafeMutableRawPointer?
    @usableFromInline let capacity: Int
    @usableFromInline var offset: Int
    /// Sub-message sizes from the size pass, consumed in order by `writeMessage`; empty when absent.
    @usableFromInline let cachedSizes: UnsafeBufferPointer<Int>
    @usableFromInline var nextCachedSize: Int

    @inlinable
    public init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.base = buffer.baseAddress
        self.capacity = buffer.count
        self.offset = 0
        self.cachedSizes = UnsafeBufferPointer(start: nil, count: 0)
        self.nextCachedSize = 0
    }

    /// A writer that takes sub-message sizes from `sizes` (filled by `encodedSize(cache:)`), which
    /// must stay allocated while the writer is in use.
    @inlinable
    package init(_ buffer: UnsafeMutableRawBufferPointer, sizes: borrowing ProtoSizeCache) {
        self.base = buffer.baseAddress
        self.capacity = buffer.count
        self.offset = 0
        self.cachedSizes = sizes.sizes
        self.nextCachedSize = 0
    }

    @inlinable
    public var bytesWritten: Int { offset }

    /// Traps unless `count` more bytes fit.
    @inlinable @inline(__always)
    func ensureRoom(_ count: Int) {
        precondition(count <= capacity &- offset, "ProtoWriter overflow: encode(to:) writes more than encodedSize() said")
    }

    @inlinable
    mutating func writeByte(_ byte: UInt8) {
        ensureRoom(1)
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
        ensureRoom(4)
        base.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
        offset += 4
    }

    @inlinable
    public mutating func writeFixed64(_ value: UInt64) {
        ensureRoom(8)
        base.unsafelyUnwrapped.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
        offset += 8
    }

    @inlinable @_effects(releasenone)
    public mutating func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        ensureRoom(bytes.count)
        (base.unsafelyUnwrapped + offset).copyMemory(from: src, byteCount: bytes.count)
        offset += bytes.count
    }

    @inlinable @_effects(releasenone)
    public mutating func writeRawBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeRawBytes($0) }
    }

    // MARK: Whole fields (tag + value); generated code calls these for non-default values.

    @inlinable @_effects(releasenone)
    public mutating func writeInt32(_ value: Int32, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(bitPattern: Int64(value)))
    }

    @inlinable @_effects(releasenone)
    public mutating func writeInt64(_ value: Int64, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(bitPattern: value))
    }

    @inlinable @_effects(releasenone)
    public mutating func writeUInt32(_ value: UInt32, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(value))
    }

    @inlinable @_effects(releasenone)
    public mutating func writeUInt64(_ value: UInt64, field: Int) {
        writeTag(field, .varint)
        writeVarint(value)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeSInt32(_ value: Int32, field: Int) {
        writeTag(field, .varint)
        writeVarint(UInt64(ZigZag.encoded(value)))
    }

    @inlinable @_effects(releasenone)
    public mutating func writeSInt64(_ value: Int64, field: Int) {
        writeTag(field, .varint)
        writeVarint(ZigZag.encoded(value))
    }

    @inlinable @_effects(releasenone)
    public mutating func writeBool(_ value: Bool, field: Int) {
        writeTag(field, .varint)
        writeByte(value ? 1 : 0)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeEnum(_ rawValue: Int32, field: Int) {
        writeInt32(rawValue, field: field)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeFixed32(_ value: UInt32, field: Int) {
        writeTag(field, .fixed32)
        writeFixed32(value)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeFixed64(_ value: UInt64, field: Int) {
        writeTag(field, .fixed64)
        writeFixed64(value)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeSFixed32(_ value: Int32, field: Int) {
        writeFixed32(UInt32(bitPattern: value), field: field)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeSFixed64(_ value: Int64, field: Int) {
        writeFixed64(UInt64(bitPattern: value), field: field)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeFloat(_ value: Float, field: Int) {
        writeFixed32(value.bitPattern, field: field)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeDouble(_ value: Double, field: Int) {
        writeFixed64(value.bitPattern, field: field)
    }

    @inlinable @_effects(releasenone)
    public mutating func writeString(_ value: String, field: Int) {
        writeTag(field, .lengthDelimited)
        // Native strings lend their UTF-8 without a copy; bridged ones are walked byte by byte.
        // No path here may release an object (as `var copy = value; copy.withUTF8` can): the
        // optimizer would then copy every message being encoded around each write, retaining
        // and releasing all of its fields.
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { utf8 in
            writeVarint(UInt64(utf8.count))
            writeRawBytes(UnsafeRawBufferPointer(utf8))
        }
        if written == nil {
            let utf8 = value.utf8
            writeVarint(UInt64(utf8.count))
            for byte in utf8 { writeByte(byte) }
        }
    }

    @inlinable @_effects(releasenone)
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
        } else {
            size = message.encodedSize()
        }
        writeVarint(UInt64(size))
        let start = offset
        message.encode(to: &self)
        // A length prefix that disagrees with the bytes after it would corrupt the whole message.
        precondition(offset - start == size, "size cache out of step with encode(to:)")
    }

    /// Writes a length-delimited field whose payload (of `payloadSize` bytes) `body` writes; used for
    /// packed repeated fields and map entries.
    @inlinable
    public mutating func writeLengthDelimited(field: Int, payloadSize: Int, _ body: (inout ProtoWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(payloadSize))
        let start = offset
        body(&self)
        precondition(offset - start == payloadSize, "length-delimited payload size mismatch")
    }

    @inlinable @_effects(releasenone)
    public mutating func writeUnknownFields(_ fields: UnknownFields) {
        if !fields.isEmpty { writeRawBytes(fields.bytes) }
    }
}
