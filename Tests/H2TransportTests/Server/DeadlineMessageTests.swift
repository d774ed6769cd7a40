@testable import H2Transport
import RPCCore
import Testing

/// What a call whose deadline passes is told, by what its handler had begun.
@Suite("The deadline's message")
struct DeadlineMessageTests {
    @Test("a handler that began committing a change says the change may have been applied")
    func irrevocableChange() {
        let stream = ServerStream(id: 1, maxMessageSize: 1_024)
        let context = ServerContext(
            method: MethodDescriptor(service: "s", method: "m"), metadata: Metadata(), authorization: nil,
            peer: "127.0.0.1:1", deadline: nil)
        stream.context = context
        #expect(GRPCServerConnection.deadlineExceeded(stream).message == "deadline exceeded")
        context.markIrrevocable()
        let error = GRPCServerConnection.deadlineExceeded(stream)
        #expect(error.code == .deadlineExceeded)
        #expect(error.message.contains("may have been applied"), "\(error.message)")
    }

    @Test("a call not yet dispatched gets the plain message")
    func noContext() {
        #expect(GRPCServerConnection.deadlineExceeded(ServerStream(id: 1, maxMessageSize: 1_024)).message == "deadline exceeded")
    }
}
