/// A protobuf message: encoded in two passes (size, then bytes), decoded field by field.
public protocol ProtoMessage: Sendable, Hashable {
    /// The message's full protobuf name (`entitlement.v1.ReprocessRequest`), for errors that
    /// name what a body should have been.
    static var protoMessageName: String { get }
    init()
    var unknownFields: UnknownFields { get set }
    /// The exact number of bytes `encode(to:)` writes.
    func encodedSize() -> Int
    /// `encodedSize()`, recording every sub-message's size in `cache` in write order (field order,
    /// parents before children) with `ProtoSize.message(_:field:cache:)`.
    func encodedSize(cache: inout ProtoSizeCache) -> Int
    /// Writes every set field; the writer has room for exactly `encodedSize()` bytes.
    func encode(to writer: inout ProtoWriter)
    /// Decodes one field whose tag was just read; unknown fields go to `unknownFields`.
    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError)
}

extension ProtoMessage {
    /// The Swift type's name, for a hand-written message that does not say.
    public static var protoMessageName: String { String(describing: Self.self) }

    /// Decodes a message from borrowed bytes.
    @inlinable
    public init(decoding bytes: UnsafeRawBufferPointer) throws(ProtoDecodingError) {
        var reader = ProtoReader(bytes)
        self.init()
        try self.merge(from: &reader)
    }

    /// Decodes a message from a byte array.
    @inlinable
    public init(serializedBytes bytes: [UInt8]) throws(ProtoDecodingError) {
        // withUnsafeBytes cannot forward a typed throw, so carry the error out by hand.
        var result: Result<Self, ProtoDecodingError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            do throws(ProtoDecodingError) {
                result = .success(try Self(decoding: raw))
            } catch {
                result = .failure(error)
            }
        }
        self = try result.get()
    }

    /// Reads fields until the reader is exhausted, merging them into `self`.
    @inlinable
    public mutating func merge(from reader: inout ProtoReader) throws(ProtoDecodingError) {
        while let tag = try reader.nextTag() {
            try decodeField(tag, from: &reader)
        }
    }

    /// For messages that do not record sub-message sizes: computes the size and turns the cache off.
    public func encodedSize(cache: inout ProtoSizeCache) -> Int {
        cache.invalidate()
        return encodedSize()
    }

    /// The message's bytes, encoded into an array of exactly the right size.
    public func serializedBytes() -> [UInt8] {
        serializedBytes(headroom: 0)
    }

    /// The message's bytes behind `headroom` zeroed bytes (room for a transport's frame header),
    /// in one allocation, with each nested message's size computed once.
    public func serializedBytes(headroom: Int) -> [UInt8] {
        var cache = ProtoSizeCache.recording()
        let size = encodedSize(cache: &cache)
        return [UInt8](unsafeUninitializedCapacity: headroom + size) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            if headroom > 0 { raw.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: headroom) }
            var writer = ProtoWriter(UnsafeMutableRawBufferPointer(rebasing: raw[headroom...]), sizes: cache)
            encode(to: &writer)
            precondition(writer.bytesWritten == size, "encodedSize() disagrees with encode(to:)")
            count = headroom + size
        }
    }

    /// Encodes into caller-provided memory of at least `encodedSize()` bytes; returns the bytes written.
    @discardableResult
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var writer = ProtoWriter(buffer)
        encode(to: &writer)
        return writer.bytesWritten
    }
}
