import CZlib

/// Why a message could not be compressed or decompressed.
public enum CompressionError: Error, Sendable, Hashable {
    /// Inflating would pass the size limit (checked while inflating).
    case limitExceeded(limit: Int)
    /// The bytes are not a valid stream of the declared format.
    case corrupt(String)
    /// zlib could not set up a stream (out of memory, say); the zlib status is kept for the log.
    case unavailable(status: Int32)
}

extension CompressionAlgorithm {
    /// zlib's windowBits: 31 = gzip wrapper, 15 = zlib wrapper (gRPC's "deflate").
    var windowBits: Int32 { self == .gzip ? 31 : 15 }
}

/// One `z_stream` in heap memory. zlib keeps a pointer from its internal state back to the stream
/// and refuses a call made through a stream at another address, so the stream must never move:
/// a Swift `var` passed with `&` promises no stable address. Allocated once; `deinit` ends it.
private final class ZStream {
    enum Direction { case deflate, inflate }

    let pointer: UnsafeMutablePointer<z_stream>
    let direction: Direction

    init(_ direction: Direction, format: CompressionAlgorithm, level: Int32 = 1) throws(CompressionError) {
        precondition(format != .identity, "identity needs no zlib stream")
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status =
            switch direction {
            case .deflate: CZlib_deflateInit2(stream, level, Z_DEFLATED, format.windowBits, 8, Z_DEFAULT_STRATEGY)
            case .inflate: CZlib_inflateInit2(stream, format.windowBits)
            }
        guard status == Z_OK else {
            // Freed here and thrown before any stored property is set, so `deinit` does not run
            // (it would end and free the stream a second time). A failed init leaves no zlib state.
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw .unavailable(status: status)
        }
        self.pointer = stream
        self.direction = direction
    }

    deinit {
        switch direction {
        case .deflate: deflateEnd(pointer)
        case .inflate: inflateEnd(pointer)
        }
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    func setInput(_ input: UnsafeRawBufferPointer) {
        // zlib never writes through next_in; the mutable pointer is only its C signature.
        pointer.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        pointer.pointee.avail_in = UInt32(input.count)
    }
}

/// A reusable decompressor for one format, reset between messages. Inflating is bounded: it stops
/// as soon as the output would pass the limit, so a small compressed bomb costs at most the limit.
/// Not thread-safe: keep one per connection.
public final class Inflater {
    public let format: CompressionAlgorithm
    private let stream: ZStream
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    public init(format: CompressionAlgorithm) throws(CompressionError) {
        self.format = format
        self.stream = try ZStream(.inflate, format: format)
    }

    /// Inflates one whole message, stopping as soon as the output would exceed `limit` bytes.
    public func inflate(_ input: UnsafeRawBufferPointer, limit: Int) throws(CompressionError) -> [UInt8] {
        inflateReset(stream.pointer)
        stream.setInput(input)
        // zlib reads through next_in only while this call runs; nothing keeps the input afterwards.
        defer { stream.setInput(UnsafeRawBufferPointer(start: nil, count: 0)) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(256, input.count * 4)))
        while true {
            let z = stream.pointer
            let (status, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                z.pointee.next_out = buffer.baseAddress
                z.pointee.avail_out = UInt32(buffer.count)
                let status = CZlib.inflate(z, Z_NO_FLUSH)
                let produced = buffer.count - Int(z.pointee.avail_out)
                z.pointee.next_out = nil
                z.pointee.avail_out = 0
                return (status, produced)
            }
            if output.count + produced > limit { throw .limitExceeded(limit: limit) }
            output.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_STREAM_END where format == .gzip && z.pointee.avail_in > 0:
                // RFC 1952 §2.2: a gzip body may hold several members, read as one (as grpc-go
                // and Java do); what follows must be another member, or it is corrupt.
                inflateReset(z)
            case Z_STREAM_END:
                return output
            case Z_OK:
                continue
            case Z_BUF_ERROR where z.pointee.avail_in == 0:
                // Input ran out before the stream ended.
                throw .corrupt("compressed message is truncated")
            case Z_BUF_ERROR:
                continue
            case Z_MEM_ERROR:
                throw .unavailable(status: status)
            default:
                throw .corrupt("compressed message is not valid \(format.rawValue) data")
            }
        }
    }

    /// Inflates a byte array; see `inflate(_:limit:)`.
    public func inflate(_ input: [UInt8], limit: Int) throws(CompressionError) -> [UInt8] {
        // withUnsafeBytes does not forward typed throws, so the error is carried out in a Result.
        let result = input.withUnsafeBytes { raw -> Result<[UInt8], CompressionError> in
            do throws(CompressionError) {
                return .success(try inflate(raw, limit: limit))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// A reusable compressor for one format: it resets its stream between messages (initialising one
/// allocates about 256 KiB). Not thread-safe: keep one per connection or event loop.
public final class Deflater {
    public let format: CompressionAlgorithm
    private let stream: ZStream

    public init(format: CompressionAlgorithm, level: Int32 = 1) throws(CompressionError) {
        self.format = format
        self.stream = try ZStream(.deflate, format: format, level: level)
    }

    /// Compresses `input` into one buffer, behind `headroom` zeroed bytes (room for a frame header).
    public func compress(_ input: UnsafeRawBufferPointer, headroom: Int = 0) -> [UInt8] {
        let z = stream.pointer
        deflateReset(z)
        let bound = Int(deflateBound(z, UInt(input.count)))
        return [UInt8](unsafeUninitializedCapacity: headroom + bound) { buffer, count in
            if headroom > 0 { buffer.baseAddress!.initialize(repeating: 0, count: headroom) }
            stream.setInput(input)
            z.pointee.next_out = buffer.baseAddress! + headroom
            z.pointee.avail_out = UInt32(bound)
            let status = CZlib.deflate(z, Z_FINISH)
            // deflateBound guarantees Z_FINISH completes in one call into that much room; anything
            // else is a zlib bug, and the buffer must not be used.
            precondition(status == Z_STREAM_END, "deflate did not finish: \(status)")
            count = headroom + bound - Int(z.pointee.avail_out)
            stream.setInput(UnsafeRawBufferPointer(start: nil, count: 0))
            z.pointee.next_out = nil
            z.pointee.avail_out = 0
        }
    }
}

/// One-shot helpers for callers that compress rarely (the client); each makes and ends a stream.
public enum Zlib {
    /// Inflates `input`, stopping as soon as the output would exceed `limit` bytes.
    public static func inflate(_ input: [UInt8], format: CompressionAlgorithm, limit: Int) throws(CompressionError) -> [UInt8] {
        try Inflater(format: format).inflate(input, limit: limit)
    }

    /// Inflates borrowed bytes; see `inflate(_:format:limit:)`.
    public static func inflate(_ input: UnsafeRawBufferPointer, format: CompressionAlgorithm, limit: Int)
        throws(CompressionError) -> [UInt8]
    {
        try Inflater(format: format).inflate(input, limit: limit)
    }

    /// Compresses `input` with the given format (gzip or deflate) at level 1: on the request path
    /// speed matters more than the last few percent of size.
    public static func deflate(_ input: UnsafeRawBufferPointer, format: CompressionAlgorithm, level: Int32 = 1)
        throws(CompressionError) -> [UInt8]
    {
        try Deflater(format: format, level: level).compress(input)
    }
}
