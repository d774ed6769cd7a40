import ProtoWire

/// Runs `body` with a writer over exactly `capacity` bytes and returns what it wrote.
func written(capacity: Int, _ body: (inout ProtoWriter) -> Void) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
        var writer = ProtoWriter(UnsafeMutableRawBufferPointer(buffer))
        body(&writer)
        count = writer.bytesWritten
    }
}

/// Runs `body` with a reader over `bytes`.
func reading<R>(_ bytes: [UInt8], _ body: (inout ProtoReader) throws(ProtoDecodingError) -> R) -> Result<R, ProtoDecodingError> {
    bytes.withUnsafeBytes { raw in
        var reader = ProtoReader(raw)
        do throws(ProtoDecodingError) {
            return .success(try body(&reader))
        } catch {
            return .failure(error)
        }
    }
}

/// The typed error decoding `bytes` as `M` fails with, or nil when it decodes.
func decodingError<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) -> ProtoDecodingError? {
    do throws(ProtoDecodingError) {
        _ = try M(serializedBytes: bytes)
        return nil
    } catch {
        return error
    }
}

/// The varint encoding of `value`.
func varint(_ value: UInt64) -> [UInt8] {
    written(capacity: 10) { $0.writeVarint(value) }
}

/// A tag's bytes.
func tag(_ field: Int, _ wireType: WireType) -> [UInt8] {
    varint(FieldTag(fieldNumber: field, wireType: wireType).rawValue)
}

/// A length-delimited field with `payload`.
func lengthDelimited(_ field: Int, _ payload: [UInt8]) -> [UInt8] {
    tag(field, .lengthDelimited) + varint(UInt64(payload.count)) + payload
}
