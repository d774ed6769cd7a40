/// Reads protobuf fields from borrowed bytes. Every read is bounds-checked; nothing it returns
/// is larger than the input, so hostile input cannot make it allocate without limit.
public struct ProtoReader {
    /// Nesting budget for messages and groups, as in protobuf's own parsers.
    public static let recursionLimit = 100

    @usableFromInline let base: UnsafeRawPointer?
    @usableFromInline var offset: Int
    @usableFromInline let end: Int
    @usableFromInline let depth: Int
    /// Where the tag last returned by `nextTag()` started, so an unknown field can be kept whole.
    @usableFromInline var tagStart: Int = 0

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.init(base: bytes.baseAddress, offset: 0, end: bytes.count, depth: 0)
    }

    @inlinable
    init(base: UnsafeRawPointer?, offset: Int, end: Int, depth: Int) {
        self.base = base
        self.offset = offset
        self.end = end
        self.depth = depth
    }

    @inlinable
    public var isAtEnd: Bool { offset >= end }

    @inlinable
    public var remaining: Int { end - offset }

    // MARK: Primitives

    @inlinable @inline(__always)
    public mutating func readVarint() throws(ProtoDecodingError) -> UInt64 {
        // One-byte values (most tags and lengths) take the short path.
        if let base, offset < end {
            let byte = base.load(fromByteOffset: offset, as: UInt8.self)
            if byte < 0x80 {
                offset += 1
                return UInt64(byte)
            }
        }
        return try readMultiByteVarint()
    }

    @inlinable
    mutating func readMultiByteVarint() throws(ProtoDecodingError) -> UInt64 {
        guard let base else { throw .truncated }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw .truncated }
            let byte = base.load(fromByteOffset: offset, as: UInt8.self)
            offset += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift >= 70 { throw .malformedVarint }
        }
    }

    @inlinable
    public mutating func readFixed32() throws(ProtoDecodingError) -> UInt32 {
        guard let base, end - offset >= 4 else { throw .truncated }
        let v = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset += 4
        return UInt32(littleEndian: v)
    }

    @inlinable
    public mutating func readFixed64() throws(ProtoDecodingError) -> UInt64 {
        guard let base, end - offset >= 8 else { throw .truncated }
        let v = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset += 8
        return UInt64(littleEndian: v)
    }

    /// Reads a length prefix and returns the bytes it covers (borrowed, not copied).
    @inlinable
    public mutating func readLengthDelimited() throws(ProtoDecodingError) -> UnsafeRawBufferPointer {
        let prefixStart = offset
        let length = try readVarint()
        guard offset - prefixStart <= Self.maxPrefixBytes else { throw .overlongPrefix }
        guard length <= UInt64(Int32.max) else { throw .malformedLength }
        let count = Int(length)
        guard count <= end - offset else { throw .truncated }
        let start = base.map { $0 + offset }
        offset += count
        return UnsafeRawBufferPointer(start: start, count: count)
    }

    /// Tags and lengths are 32-bit values: at most 5 varint bytes.
    @usableFromInline static let maxPrefixBytes = 5

    /// The next field's tag, or nil at the end of the input.
    @inlinable
    public mutating func nextTag() throws(ProtoDecodingError) -> FieldTag? {
        guard offset < end else { return nil }
        tagStart = offset
        let raw = try readVarint()
        guard offset - tagStart <= Self.maxPrefixBytes else { throw .overlongPrefix }
        let fieldNumber = raw >> 3
        guard fieldNumber > 0, fieldNumber <= UInt64(FieldTag.maxFieldNumber) else {
            throw .invalidFieldNumber(fieldNumber)
        }
        guard let wireType = WireType(rawValue: UInt8(raw & 7)) else { throw .invalidWireType(UInt8(raw & 7)) }
        return FieldTag(fieldNumber: Int(fieldNumber), wireType: wireType)
    }

    // MARK: Unknown fields

    /// Skips the field whose tag was just read and keeps its bytes (tag included) in `unknown`.
    public mutating func skipField(_ tag: FieldTag, into unknown: inout UnknownFields) throws(ProtoDecodingError) {
        let start = tagStart
        try skipValue(tag, depth: depth)
        unknown.append(UnsafeRawBufferPointer(start: base.map { $0 + start }, count: offset - start))
    }

    /// How many fields with `tag` (number and wire type) the rest of this message holds, counting
    /// the one whose tag was just read; a `reserveCapacity` hint for repeated fields.
    ///
    /// Only ever counts fields that are there (each takes at least two bytes), so hostile input
    /// cannot make it larger than the input allows. Stops early, with what it counted so far, at
    /// malformed input (decoding reports that) and at groups (so nested groups are walked once).
    public func occurrences(of tag: FieldTag) -> Int {
        var scan = self
        var count = 1
        do throws(ProtoDecodingError) {
            try scan.skipValue(tag, depth: depth)
            while let next = try scan.nextTag() {
                if next.wireType == .startGroup || next.wireType == .endGroup { break }
                try scan.skipValue(next, depth: depth)
                if next == tag { count += 1 }
            }
        } catch {}
        return count
    }

    mutating func skipValue(_ tag: FieldTag, depth: Int) throws(ProtoDecodingError) {
        switch tag.wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .endGroup: throw .invalidWireType(WireType.endGroup.rawValue)
        case .startGroup:
            guard depth < Self.recursionLimit else { throw .recursionLimitExceeded }
            while true {
                guard let inner = try nextTag() else { throw .truncated }
                if inner.wireType == .endGroup {
                    guard inner.fieldNumber == tag.fieldNumber else { throw .invalidWireType(WireType.endGroup.rawValue) }
                    return
                }
                try skipValue(inner, depth: depth + 1)
            }
        }
    }

    // MARK: Typed singular fields

    @inlinable
    func expect(_ tag: FieldTag, _ wireType: WireType) throws(ProtoDecodingError) {
        guard tag.wireType == wireType else { throw .wrongWireType(field: tag.fieldNumber, got: tag.wireType) }
    }

    @inlinable
    public mutating func readInt32(_ tag: FieldTag) throws(ProtoDecodingError) -> Int32 {
        try expect(tag, .varint)
        return Int32(truncatingIfNeeded: try readVarint())
    }

    @inlinable
    public mutating func readInt64(_ tag: FieldTag) throws(ProtoDecodingError) -> Int64 {
        try expect(tag, .varint)
        return Int64(bitPattern: try readVarint())
    }

    @inlinable
    public mutating func readUInt32(_ tag: FieldTag) throws(ProtoDecodingError) -> UInt32 {
        try expect(tag, .varint)
        return UInt32(truncatingIfNeeded: try readVarint())
    }

    @inlinable
    public mutating func readUInt64(_ tag: FieldTag) throws(ProtoDecodingError) -> UInt64 {
        try expect(tag, .varint)
        return try readVarint()
    }

    @inlinable
    public mutating func readSInt32(_ tag: FieldTag) throws(ProtoDecodingError) -> Int32 {
        try expect(tag, .varint)
        return ZigZag.decoded(UInt32(truncatingIfNeeded: try readVarint()))
    }

    @inlinable
    public mutating func readSInt64(_ tag: FieldTag) throws(ProtoDecodingError) -> Int64 {
        try expect(tag, .varint)
        return ZigZag.decoded(try readVarint())
    }

    @inlinable
    public mutating func readBool(_ tag: FieldTag) throws(ProtoDecodingError) -> Bool {
        try expect(tag, .varint)
        return try readVarint() != 0
    }

    /// An enum's raw value; open enums keep values they do not know.
    @inlinable
    public mutating func readEnum(_ tag: FieldTag) throws(ProtoDecodingError) -> Int32 {
        try readInt32(tag)
    }

    @inlinable
    public mutating func readFixed32(_ tag: FieldTag) throws(ProtoDecodingError) -> UInt32 {
        try expect(tag, .fixed32)
        return try readFixed32()
    }

    @inlinable
    public mutating func readFixed64(_ tag: FieldTag) throws(ProtoDecodingError) -> UInt64 {
        try expect(tag, .fixed64)
        return try readFixed64()
    }

    @inlinable
    public mutating func readSFixed32(_ tag: FieldTag) throws(ProtoDecodingError) -> Int32 {
        Int32(bitPattern: try readFixed32(tag))
    }

    @inlinable
    public mutating func readSFixed64(_ tag: FieldTag) throws(ProtoDecodingError) -> Int64 {
        Int64(bitPattern: try readFixed64(tag))
    }

    @inlinable
    public mutating func readFloat(_ tag: FieldTag) throws(ProtoDecodingError) -> Float {
        Float(bitPattern: try readFixed32(tag))
    }

    @inlinable
    public mutating func readDouble(_ tag: FieldTag) throws(ProtoDecodingError) -> Double {
        Double(bitPattern: try readFixed64(tag))
    }

    @inlinable
    public mutating func readString(_ tag: FieldTag) throws(ProtoDecodingError) -> String {
        try expect(tag, .lengthDelimited)
        let raw = try readLengthDelimited()
        if raw.isEmpty { return "" }
        guard let s = Self.validatedString(raw.assumingMemoryBound(to: UInt8.self)) else {
            throw .invalidUTF8(field: tag.fieldNumber)
        }
        return s
    }

    /// The string `utf8` holds, or nil when it is not valid UTF-8.
    @inlinable
    static func validatedString(_ utf8: UnsafeBufferPointer<UInt8>) -> String? {
        // String(decoding:) is the fast, specialised path (String(validating:) is generic and
        // several times slower). It replaces invalid sequences with U+FFFD, so non-ASCII input was
        // valid exactly when the result holds the same bytes.
        let decoded = String(decoding: utf8, as: UTF8.self)
        if isASCII(utf8) { return decoded }
        var copy = decoded
        let unchanged = copy.withUTF8 { $0.count == utf8.count && $0.elementsEqual(utf8) }
        return unchanged ? decoded : nil
    }

    @inlinable
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        var i = 0
        var high: UInt64 = 0
        while i + 8 <= bytes.count {
            high |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            high |= UInt64(base[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }

    @inlinable
    public mutating func readBytes(_ tag: FieldTag) throws(ProtoDecodingError) -> [UInt8] {
        try expect(tag, .lengthDelimited)
        return [UInt8](try readLengthDelimited())
    }

    /// Merges a length-delimited sub-message into `message` (proto semantics: a repeated
    /// occurrence of a singular message field merges).
    @inlinable
    public mutating func readMessage<M: ProtoMessage>(_ tag: FieldTag, into message: inout M) throws(ProtoDecodingError) {
        try withSubReader(tag) { (sub: inout ProtoReader) throws(ProtoDecodingError) in
            try message.merge(from: &sub)
        }
    }

    /// Decodes a length-delimited sub-message (for repeated message fields).
    @inlinable
    public mutating func readMessage<M: ProtoMessage>(_ tag: FieldTag, as type: M.Type = M.self) throws(ProtoDecodingError) -> M {
        var message = M()
        try readMessage(tag, into: &message)
        return message
    }

    /// Runs `body` over the payload of a length-delimited field, one nesting level deeper;
    /// used for sub-messages and map entries.
    @inlinable
    public mutating func withSubReader<R>(
        _ tag: FieldTag,
        _ body: (inout ProtoReader) throws(ProtoDecodingError) -> R
    ) throws(ProtoDecodingError) -> R {
        try expect(tag, .lengthDelimited)
        guard depth + 1 <= Self.recursionLimit else { throw .recursionLimitExceeded }
        let payload = try readLengthDelimited()
        var sub = ProtoReader(base: payload.baseAddress, offset: 0, end: payload.count, depth: depth + 1)
        return try body(&sub)
    }

    // MARK: Repeated scalars: packed and unpacked are both accepted.

    /// Reads one element (unpacked) or a packed run of elements of a varint-typed repeated field.
    @inlinable
    public mutating func readRepeatedVarint(
        _ tag: FieldTag,
        _ append: (UInt64) -> Void
    ) throws(ProtoDecodingError) {
        switch tag.wireType {
        case .varint:
            append(try readVarint())
        case .lengthDelimited:
            let payload = try readLengthDelimited()
            var sub = ProtoReader(base: payload.baseAddress, offset: 0, end: payload.count, depth: depth)
            while !sub.isAtEnd { append(try sub.readVarint()) }
        default:
            throw .wrongWireType(field: tag.fieldNumber, got: tag.wireType)
        }
    }

    @inlinable
    public mutating func readRepeatedFixed32(
        _ tag: FieldTag,
        _ append: (UInt32) -> Void
    ) throws(ProtoDecodingError) {
        switch tag.wireType {
        case .fixed32:
            append(try readFixed32())
        case .lengthDelimited:
            let payload = try readLengthDelimited()
            guard payload.count % 4 == 0 else { throw .truncated }
            var sub = ProtoReader(base: payload.baseAddress, offset: 0, end: payload.count, depth: depth)
            while !sub.isAtEnd { append(try sub.readFixed32()) }
        default:
            throw .wrongWireType(field: tag.fieldNumber, got: tag.wireType)
        }
    }

    @inlinable
    public mutating func readRepeatedFixed64(
        _ tag: FieldTag,
        _ append: (UInt64) -> Void
    ) throws(ProtoDecodingError) {
        switch tag.wireType {
        case .fixed64:
            append(try readFixed64())
        case .lengthDelimited:
            let payload = try readLengthDelimited()
            guard payload.count % 8 == 0 else { throw .truncated }
            var sub = ProtoReader(base: payload.baseAddress, offset: 0, end: payload.count, depth: depth)
            while !sub.isAtEnd { append(try sub.readFixed64()) }
        default:
            throw .wrongWireType(field: tag.fieldNumber, got: tag.wireType)
        }
    }
}
