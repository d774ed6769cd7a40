import RPCCore
import Testing

@Suite("server context values")
struct ServerContextTests {
    enum Caller: ServerContextKey { typealias Value = String }
    enum Tenant: ServerContextKey { typealias Value = String }
    enum Attempt: ServerContextKey { typealias Value = Int }

    static func context() -> ServerContext {
        ServerContext(
            method: MethodDescriptor(service: "test.v1.Echo", method: "Echo"), metadata: Metadata(),
            authorization: nil, peer: "test", deadline: nil)
    }

    @Test("each key keeps its own value, replaced or removed without touching the others")
    func keyedValues() {
        var context = Self.context()
        #expect(context[Caller.self] == nil)
        context[Caller.self] = "oid-1"
        context[Tenant.self] = "tid-1"
        context[Attempt.self] = 2
        #expect(context[Caller.self] == "oid-1")
        #expect(context[Tenant.self] == "tid-1")
        #expect(context[Attempt.self] == 2)

        context[Caller.self] = "oid-2"
        #expect(context[Caller.self] == "oid-2")
        #expect(context[Tenant.self] == "tid-1")

        // The first key removed, then set again: it comes back, the others stay.
        context[Caller.self] = nil
        #expect(context[Caller.self] == nil)
        #expect(context[Tenant.self] == "tid-1")
        #expect(context[Attempt.self] == 2)
        context[Caller.self] = "oid-3"
        #expect(context[Caller.self] == "oid-3")

        context[Tenant.self] = nil
        context[Attempt.self] = nil
        #expect(context[Tenant.self] == nil)
        #expect(context[Attempt.self] == nil)
        #expect(context[Caller.self] == "oid-3")
    }

    @Test("a copy is independent: values set on it do not reach the original")
    func copiesAreIndependent() {
        var original = Self.context()
        original[Caller.self] = "oid-1"
        var copy = original
        copy[Caller.self] = "oid-2"
        copy[Tenant.self] = "tid-1"
        #expect(original[Caller.self] == "oid-1")
        #expect(original[Tenant.self] == nil)
        #expect(copy[Caller.self] == "oid-2")
    }
}
