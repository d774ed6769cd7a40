import NIOCore

/// The buffer a connection serializes its frames into, kept between flushes so a busy connection
/// does not allocate (and grow by doubling) a new one per flush. Once the channel has written it,
/// the storage is ours alone again; if not yet, writing into it copies, which is still correct.
struct OutputBuffer {
    /// Larger buffers (after a multi-MiB response) are dropped rather than kept per connection.
    static let maxKeptCapacity = 256 * 1024
    static let initialCapacity = 16 * 1024

    private var kept: ByteBuffer?
    /// Bytes handed to the channel by the latest `flush`.
    private(set) var lastFlushBytes = 0

    mutating func take(allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = kept else { return allocator.buffer(capacity: Self.initialCapacity) }
        kept = nil
        buffer.clear()
        return buffer
    }

    mutating func keep(_ buffer: ByteBuffer) {
        if buffer.capacity <= Self.maxKeptCapacity { kept = buffer }
    }

    /// Serializes everything `session` has queued into one write and one flush. Returns false when
    /// the session is finished (protocol error, or GOAWAY with nothing left), so the caller closes.
    mutating func flush(_ session: NGHTTP2Session, to context: ChannelHandlerContext) -> Bool {
        var buffer = take(allocator: context.channel.allocator)
        let ok = session.drainOutput { bytes in buffer.writeBytes(bytes) }
        lastFlushBytes = buffer.readableBytes
        if buffer.readableBytes > 0 {
            context.writeAndFlush(NIOAny(buffer), promise: nil)
        }
        keep(buffer)
        return ok && session.wantsIO
    }
}
