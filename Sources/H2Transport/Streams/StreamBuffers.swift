import NIOCore
import RPCCore

/// The message queues of one streaming call, on either side of the connection: outgoing
/// messages queued for nghttp2's data provider (bounded; writers wait while it is full) and
/// incoming messages waiting to be taken (bounded too: their flow-control credit is returned
/// only as they are taken, so an unread stream stops its sender). Lives on the connection's loop.
final class StreamBuffers {
    /// Outgoing bytes queued beyond which `write` waits: enough to keep a fast link busy, little
    /// enough that a thousand slow readers cost megabytes, not gigabytes.
    static let maxQueuedResponseBytes = 64 * 1024
    /// Complete incoming messages held for a reader that has not taken them yet.
    static let maxHeldRequestBytes = 256 * 1024

    let kind: RPCKind

    // MARK: Responses

    /// Framed response messages not yet taken by nghttp2, and how far into the first.
    private var outgoing: [[UInt8]] = []
    private var outgoingOffset = 0
    private(set) var queuedBytes = 0
    var headersSent = false
    /// The handler is done: after the queue drains, the trailers go out.
    var finished = false
    private var writers: [CheckedContinuation<Void, any Error>] = []

    // MARK: Requests

    var deframer: GRPCDeframer
    private var inbox: [[UInt8]] = []
    /// Each inbox message's size on the wire (prefix and compressed bytes), parallel to `inbox`.
    private var inboxWireSizes: [Int] = []
    private var inboxStart = 0
    /// Wire bytes of messages handed to the reader since the owner last asked
    /// (`takeFreedWireBytes`): they leave the server's request-byte budget.
    private var freedWireBytes = 0
    private(set) var heldRequestBytes = 0
    /// Flow-control credit of received bytes not yet given back to the peer.
    var unconsumedBytes = 0
    var requestsEnded = false
    /// How the incoming side ended, for a reader that has taken every held message: nil is OK.
    private var endError: (any Error)?
    private var reader: CheckedContinuation<[UInt8]?, any Error>?
    /// Why the call is over, for writers and readers that arrive after the end.
    private(set) var failure: (any Error)?

    init(kind: RPCKind, maxMessageSize: Int) {
        self.kind = kind
        self.deframer = GRPCDeframer(limit: maxMessageSize, maxMessages: .max)
    }

    // MARK: Responses

    /// Queues a framed message; resumes `writer` at once while there is room, else when nghttp2
    /// has taken enough.
    func enqueue(_ framed: [UInt8], writer: CheckedContinuation<Void, any Error>) {
        if let failure {
            writer.resume(throwing: failure)
            return
        }
        outgoing.append(framed)
        queuedBytes += framed.count
        if queuedBytes <= Self.maxQueuedResponseBytes {
            writer.resume()
        } else {
            writers.append(writer)
        }
    }

    /// Copies queued bytes into nghttp2's buffer. nil: nothing queued yet (defer the stream).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool)? {
        var written = 0
        while written < buffer.count, !outgoing.isEmpty {
            let head = outgoing[0]
            let count = min(buffer.count - written, head.count - outgoingOffset)
            head.withUnsafeBytes { source in
                (buffer.baseAddress! + written).copyMemory(from: source.baseAddress! + outgoingOffset, byteCount: count)
            }
            written += count
            outgoingOffset += count
            if outgoingOffset == head.count {
                outgoing.removeFirst()
                outgoingOffset = 0
            }
        }
        queuedBytes -= written
        if queuedBytes <= Self.maxQueuedResponseBytes, !writers.isEmpty {
            let waiting = writers
            writers.removeAll()
            for writer in waiting { writer.resume() }
        }
        if outgoing.isEmpty, finished { return (written, true) }
        if written == 0 { return nil }
        return (written, false)
    }

    // MARK: Requests

    /// Takes the next request message, or waits for one; nil once the caller half-closed.
    /// Returns the flow-control credit to give back now.
    func take(reader: CheckedContinuation<[UInt8]?, any Error>) -> Int {
        if let failure {
            reader.resume(throwing: failure)
            return 0
        }
        if inboxStart < inbox.count {
            let message = popMessage()
            reader.resume(returning: message)
            return creditToReturn()
        }
        if requestsEnded {
            if let endError { reader.resume(throwing: endError) } else { reader.resume(returning: nil) }
            return 0
        }
        precondition(self.reader == nil, "one reader at a time")
        self.reader = reader
        return creditToReturn()
    }

    /// Moves complete messages from the deframer to the inbox (or straight to a waiting reader),
    /// each through `decode` (which inflates compressed ones). Returns the flow-control credit to
    /// give back now.
    func receive(
        _ bytes: UnsafeRawBufferPointer, decode: (FramedMessage) throws(RPCError) -> [UInt8]
    ) throws(RPCError) -> Int {
        unconsumedBytes += bytes.count
        do {
            try deframer.append(bytes)
        } catch {
            throw error.rpcError
        }
        for message in deframer.takeMessages() {
            let decoded = try decode(message)
            inbox.append(decoded)
            inboxWireSizes.append(GRPCFraming.headerSize + message.bytes.count)
            heldRequestBytes += decoded.count
        }
        deliverToReader()
        return creditToReturn()
    }

    /// The sender half-closed: after the held messages, readers get nil.
    func endRequests() throws(RPCError) {
        do {
            _ = try deframer.finish()
        } catch {
            throw error.rpcError
        }
        requestsEnded = true
        deliverToReader()
    }

    /// The incoming side is over (a client's response stream ended): after the held messages,
    /// readers get nil, or `error` when the call did not end OK.
    func endIncoming(error: (any Error)?) {
        guard !requestsEnded else { return }
        requestsEnded = true
        endError = error
        deliverToReader()
    }

    /// Credit is returned while the held messages are under the bound: partial messages and a
    /// reader that keeps up never stall the peer; a handler that stops reading does.
    private func creditToReturn() -> Int {
        guard heldRequestBytes < Self.maxHeldRequestBytes else { return 0 }
        defer { unconsumedBytes = 0 }
        return unconsumedBytes
    }

    private func deliverToReader() {
        guard let waiting = reader else { return }
        if inboxStart < inbox.count {
            reader = nil
            waiting.resume(returning: popMessage())
        } else if requestsEnded {
            reader = nil
            if let endError { waiting.resume(throwing: endError) } else { waiting.resume(returning: nil) }
        }
    }

    /// Wire bytes freed by messages taken since the last call.
    func takeFreedWireBytes() -> Int {
        defer { freedWireBytes = 0 }
        return freedWireBytes
    }

    /// Incoming messages handed to the reader so far.
    private(set) var messagesTaken = 0
    /// Their bytes (decompressed, as a unary call's `request_bytes` counts its message).
    private(set) var messageBytesTaken = 0

    private func popMessage() -> [UInt8] {
        messagesTaken += 1
        let message = inbox[inboxStart]
        messageBytesTaken += message.count
        inbox[inboxStart] = []
        freedWireBytes += inboxWireSizes[inboxStart]
        inboxStart += 1
        heldRequestBytes -= message.count
        if inboxStart == inbox.count {
            inbox.removeAll(keepingCapacity: true)
            inboxWireSizes.removeAll(keepingCapacity: true)
            inboxStart = 0
        }
        return message
    }

    // MARK: End

    /// The call ends with `error` after what is queued (its status goes in the trailers): later
    /// and waiting writers and readers fail, but queued messages still go out, before the status.
    func close(with error: any Error) {
        if failure == nil { failure = error }
        failWriters(error)
        failReader(error)
    }

    /// Nothing more goes out (the call closed): waiting writers fail with `error`.
    func stopSending(_ error: any Error) {
        failWriters(error)
        dropOutgoing()
        finished = true
    }

    /// The call is over: every waiting writer and reader fails with `error`, and later ones too.
    func fail(_ error: any Error) {
        close(with: error)
        dropOutgoing()
        inbox.removeAll()
        inboxWireSizes.removeAll()
        inboxStart = 0
        heldRequestBytes = 0
    }

    private func failWriters(_ error: any Error) {
        let waiting = writers
        writers.removeAll()
        for writer in waiting { writer.resume(throwing: error) }
    }

    private func failReader(_ error: any Error) {
        guard let reader else { return }
        self.reader = nil
        reader.resume(throwing: error)
    }

    private func dropOutgoing() {
        outgoing.removeAll()
        queuedBytes = 0
    }
}
