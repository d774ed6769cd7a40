import NIOCore
import RPCCore

/// The caller's end of one streaming call on a client connection. Every operation hops to the
/// connection's event loop, where the call's queues live.
struct ClientStreamHandle: ClientCallStream {
    private let connection: NIOLoopBound<GRPCClientConnection>
    private let stream: NIOLoopBound<ClientStream>
    private let loop: any EventLoop
    private let streamID: Int32

    init(connection: GRPCClientConnection, stream: ClientStream, streamID: Int32) {
        let loop = connection.eventLoop!
        self.connection = NIOLoopBound(connection, eventLoop: loop)
        self.stream = NIOLoopBound(stream, eventLoop: loop)
        self.loop = loop
        self.streamID = streamID
    }

    /// Runs `body` on the loop with the connection and the stream.
    private func onLoop(_ body: @escaping @Sendable (GRPCClientConnection, ClientStream) -> Void) {
        let connection = self.connection
        let stream = self.stream
        if loop.inEventLoop {
            body(connection.value, stream.value)
        } else {
            loop.execute { body(connection.value, stream.value) }
        }
    }

    func send(_ message: [UInt8]) async throws {
        guard message.count <= GRPCFraming.maxMessageSize else {
            throw RPCError(code: .resourceExhausted, message: "request of \(message.count) bytes exceeds the 4 MiB message limit")
        }
        var framed = [UInt8](repeating: 0, count: GRPCFraming.headerSize)
        framed.append(contentsOf: message)
        framed.withUnsafeMutableBytes { GRPCFraming.writeHeader(compressed: false, length: message.count, to: $0.baseAddress!) }
        let id = streamID
        let bytes = framed
        try await withCheckedThrowingContinuation { (writer: CheckedContinuation<Void, any Error>) in
            onLoop { connection, stream in connection.enqueueSend(stream, streamID: id, framed: bytes, writer: writer) }
        }
    }

    func closeSend() async {
        let id = streamID
        onLoop { connection, stream in connection.closeSend(stream, streamID: id) }
    }

    func receive() async throws -> [UInt8]? {
        let id = streamID
        return try await withCheckedThrowingContinuation { (reader: CheckedContinuation<[UInt8]?, any Error>) in
            onLoop { connection, stream in connection.take(stream, streamID: id, reader: reader) }
        }
    }

    func cancel() {
        let id = streamID
        onLoop { connection, _ in
            connection.cancel(streamID: id, error: RPCError(code: .cancelled, message: "call cancelled by the caller"))
        }
    }

    func responseHeaders() async -> Metadata {
        await withCheckedContinuation { (continuation: CheckedContinuation<Metadata, Never>) in
            onLoop { _, stream in continuation.resume(returning: stream.headers) }
        }
    }

    func wasAnswered() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            onLoop { connection, stream in
                continuation.resume(returning: connection.peerSpokeHTTP2 || stream.headerBlocksSeen > 0)
            }
        }
    }

    func responseTrailers() async -> Metadata {
        await withCheckedContinuation { (continuation: CheckedContinuation<Metadata, Never>) in
            onLoop { _, stream in continuation.resume(returning: stream.trailers) }
        }
    }
}
