import CZlib

/// Why a compressed message was refused.
public enum CompressionError: Error, Sendable, Hashable {
    /// Inflating would pass the size limit (checked while inflating).
    case limitExceeded(limit: Int)
    /// The bytes are not a valid stream of the declared format.
    case corrupt(String)
}

extension CompressionAlgorithm {
    /// zlib's windowBits: 31 = gzip wrapper, 15 = zlib wrapper (gRPC's "deflate").
    var windowBits: Int32 { self == .gzip ? 31 : 15 }
}

/// One-shot zlib compression and bounded decompression. Each call owns a `z_stream` and ends it.
public enum Zlib {
    /// Inflates `input`, stopping as soon as the output would exceed `limit` bytes, so a small
    /// compressed bomb costs at most `limit` bytes of memory.
    public static func inflate(
        _ input: UnsafeRawBufferPointer,
        format: CompressionAlgorithm,
        limit: Int
    ) throws(CompressionError) -> [UInt8] {
        precondition(format != .identity)
        var stream = z_stream()
        guard CZlib_inflateInit2(&stream, format.windowBits) == Z_OK else {
            throw .corrupt("zlib could not initialise")
        }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(256, input.count * 4)))
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)

        while true {
            let (status, produced) = chunk.withUnsafeMutableBufferPointer { buf -> (Int32, Int) in
                stream.next_out = buf.baseAddress
                stream.avail_out = UInt32(buf.count)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                return (status, buf.count - Int(stream.avail_out))
            }
            if output.count + produced > limit { throw .limitExceeded(limit: limit) }
            output.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_STREAM_END:
                return output
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0:
                // Input ran out before the stream ended.
                throw .corrupt("compressed message is truncated")
            case Z_BUF_ERROR:
                continue
            default:
                throw .corrupt("compressed message is not valid \(format.rawValue) data")
            }
        }
    }

    /// Inflates a byte array; see `inflate(_:format:limit:)`.
    public static func inflate(_ input: [UInt8], format: CompressionAlgorithm, limit: Int) throws(CompressionError) -> [UInt8] {
        // withUnsafeBytes does not forward typed throws, so the error is carried out in a Result.
        let result = input.withUnsafeBytes { raw -> Result<[UInt8], CompressionError> in
            do throws(CompressionError) {
                return .success(try inflate(raw, format: format, limit: limit))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Compresses `input` with the given format (gzip or deflate). Level 1 by default: on the
    /// request path speed matters more than the last few percent of size.
    public static func deflate(_ input: UnsafeRawBufferPointer, format: CompressionAlgorithm, level: Int32 = 1) -> [UInt8] {
        Deflater(format: format, level: level).compress(input)
    }
}

/// A reusable compressor for one format: it owns a `z_stream`, resets it between messages
/// (initialising one allocates about 256 KiB) and ends it when released. Not thread-safe: keep one
/// per connection or event loop.
public final class Deflater {
    public let format: CompressionAlgorithm
    private var stream = z_stream()

    public init(format: CompressionAlgorithm, level: Int32 = 1) {
        precondition(format != .identity)
        self.format = format
        let status = CZlib_deflateInit2(&stream, level, Z_DEFLATED, format.windowBits, 8, Z_DEFAULT_STRATEGY)
        precondition(status == Z_OK, "deflateInit2 failed: \(status)")
    }

    deinit {
        deflateEnd(&stream)
    }

    /// Compresses `input` into one buffer, behind `headroom` zeroed bytes (room for a frame header).
    public func compress(_ input: UnsafeRawBufferPointer, headroom: Int = 0) -> [UInt8] {
        deflateReset(&stream)
        let bound = Int(deflateBound(&stream, UInt(input.count)))
        return [UInt8](unsafeUninitializedCapacity: headroom + bound) { buffer, count in
            if headroom > 0 { buffer.baseAddress!.initialize(repeating: 0, count: headroom) }
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.avail_in = UInt32(input.count)
            stream.next_out = buffer.baseAddress! + headroom
            stream.avail_out = UInt32(bound)
            let status = CZlib.deflate(&stream, Z_FINISH)
            // deflateBound guarantees Z_FINISH completes in one call.
            precondition(status == Z_STREAM_END, "deflate did not finish: \(status)")
            count = headroom + bound - Int(stream.avail_out)
        }
    }
}
