import RPCCore

extension FuzzTargets {
    /// Splits a request body into gRPC messages, in one piece and in chunks, and inflates every
    /// compressed message as gzip and as deflate (4 MiB limit).
    ///
    /// Input: byte 0 holds `maxMessages - 1` (bits 0–1) and how many chunk-size bytes follow
    /// (bits 2–4); each of those is a chunk size minus one, used in turn; the rest is the body.
    /// Both splittings must give the same messages or the same error; messages that deframe must
    /// frame back into the body; whatever inflates must fit the limit and survive a deflate round trip.
    /// True when the body deframed.
    @discardableResult
    public static func deframer(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let control = bytes.first else { return false }
        let maxMessages = Int(control & 0x03) + 1
        let sizeCount = Int(control >> 2 & 0x07)
        guard bytes.count > sizeCount else { return false }
        let chunkSizes = bytes[1..<(1 + sizeCount)].map { Int($0) + 1 }
        let body = UnsafeRawBufferPointer(rebasing: bytes[(1 + sizeCount)...])

        let whole = deframe(body, chunkSizes: [], maxMessages: maxMessages)
        let chunked = deframe(body, chunkSizes: chunkSizes, maxMessages: maxMessages)
        precondition(whole == chunked, "deframing depends on chunking: whole \(whole), in chunks \(chunked)")
        guard case .success(let messages) = chunked else { return false }

        var reframed: [UInt8] = []
        for message in messages {
            reframed.append(message.compressed ? 1 : 0)
            withUnsafeBytes(of: UInt32(message.bytes.count).bigEndian) { reframed.append(contentsOf: $0) }
            reframed.append(contentsOf: message.bytes)
        }
        precondition(reframed.elementsEqual(body), "deframed messages do not frame back into the body")

        for format in [CompressionAlgorithm.gzip, .deflate] {
            // One inflater per format for the whole body, as a connection keeps one: each message
            // must inflate through it exactly as through a fresh stream.
            let reused = try? Inflater(format: format)
            for message in messages where message.compressed {
                inflate(message.bytes, format: format, reused: reused)
            }
        }
        return true
    }

    private static func deframe(
        _ body: UnsafeRawBufferPointer,
        chunkSizes: [Int],
        maxMessages: Int
    ) -> Result<[FramedMessage], DeframingError> {
        var deframer = GRPCDeframer(maxMessages: maxMessages)
        do throws(DeframingError) {
            if chunkSizes.isEmpty {
                try deframer.append(body)
            } else {
                var offset = 0
                var next = 0
                while offset < body.count {
                    let end = min(body.count, offset + chunkSizes[next % chunkSizes.count])
                    try deframer.append(UnsafeRawBufferPointer(rebasing: body[offset..<end]))
                    offset = end
                    next += 1
                }
            }
            return .success(try deframer.finish())
        } catch {
            return .failure(error)
        }
    }

    private static func inflate(_ compressed: [UInt8], format: CompressionAlgorithm, reused: Inflater?) {
        let limit = GRPCFraming.maxMessageSize
        let fresh = Result { () throws(CompressionError) in try Zlib.inflate(compressed, format: format, limit: limit) }
        if let reused {
            let again = Result { () throws(CompressionError) in try reused.inflate(compressed, limit: limit) }
            precondition(again == fresh, "\(format.rawValue): a reused Inflater disagrees with a fresh one")
        }
        guard case .success(let plain) = fresh else { return }
        precondition(plain.count <= limit, "inflate returned \(plain.count) bytes, past its \(limit)-byte limit")
        // withUnsafeBytes does not forward a typed throw: the Result carries it out.
        let recompressed = plain.withUnsafeBytes { raw in
            Result { () throws(CompressionError) in try Zlib.deflate(raw, format: format) }
        }
        let roundTrip = recompressed.flatMap { bytes in
            Result { () throws(CompressionError) in try Zlib.inflate(bytes, format: format, limit: limit) }
        }
        switch roundTrip {
        case .success(let again):
            precondition(again == plain, "\(format.rawValue): inflate(deflate(x)) != x")
        case .failure(.unavailable):
            break  // zlib could not allocate a stream: not this input's fault
        case .failure(let error):
            fatalError("\(format.rawValue): our own deflate output does not inflate: \(error)")
        }
    }
}
