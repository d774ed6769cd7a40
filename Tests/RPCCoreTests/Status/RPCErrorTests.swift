import Testing

@testable import RPCCore

@Suite("RPCError")
struct RPCErrorTests {
    struct Disk: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    struct Domain: RPCErrorConvertible, CustomStringConvertible {
        var rpcError: RPCError { RPCError(code: .unavailable, message: "retry later") }
        var description: String { "the disk said no" }
    }

    @Test("mapping keeps the error it maps as the cause, for the server's log")
    func mappingKeepsCause() {
        let unexpected = RPCError(mapping: Disk())
        #expect(unexpected.code == .internalError && unexpected.message == "internal error")
        #expect(unexpected.cause.map { "\($0)" } == "disk full")

        let domain = RPCError(mapping: Domain())
        #expect(domain.code == .unavailable && domain.message == "retry later")
        #expect(domain.cause.map { "\($0)" } == "the disk said no")

        let cancelled = RPCError(mapping: CancellationError())
        #expect(cancelled.code == .cancelled && cancelled.cause == nil)
    }

    @Test("an RPCError with a cause of its own keeps it through mapping")
    func ownCauseKept() {
        let original = RPCError(code: .notFound, message: "no such package", cause: Disk())
        #expect(RPCError(mapping: original).cause.map { "\($0)" } == "disk full")
    }

    @Test("equality and hashing are what the caller sees: the cause is left out")
    func equalityIgnoresCause() {
        let plain = RPCError(code: .unavailable, message: "retry later")
        let caused = RPCError(code: .unavailable, message: "retry later", cause: Disk())
        #expect(plain == caused)
        #expect(Set([plain, caused]).count == 1)
        #expect(plain != RPCError(code: .unavailable, message: "retry soon"))
        #expect(caused.description == "UNAVAILABLE: retry later (cause: disk full)")
        #expect(plain.description == "UNAVAILABLE: retry later")
    }
}
