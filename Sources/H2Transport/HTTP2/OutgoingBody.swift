/// A message body handed to nghttp2 piece by piece through its data provider.
struct OutgoingBody {
    private(set) var bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// Copies the next piece into `buffer`; `eof` once everything has been taken (the bytes are
    /// then released).
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool) {
        let count = min(buffer.count, bytes.count - offset)
        if count > 0 {
            bytes.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
            }
        }
        offset += count
        let eof = offset == bytes.count
        if eof { bytes = [] ; offset = 0 }
        return (count, eof)
    }
}
