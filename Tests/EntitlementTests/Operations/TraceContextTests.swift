import EntitlementServerCore
import Testing

@Suite("W3C trace context in the access log")
struct TraceContextTests {
    @Test("the trace id of a valid traceparent, lower-cased")
    func valid() {
        #expect(
            TraceContext.traceID(fromTraceparent: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")
                == "4bf92f3577b34da6a3ce929d0e0e4736")
        // Later versions may add fields; the first four still parse.
        #expect(
            TraceContext.traceID(fromTraceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
                == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test("malformed traceparents give no trace id", arguments: [
        "", "00", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
    ])
    func malformed(header: String) {
        #expect(TraceContext.traceID(fromTraceparent: header) == nil)
    }

    @Test("generated trace ids are 32 hex digits and differ")
    func generated() {
        let ids = Set((0..<100).map { _ in TraceContext.newTraceID() })
        #expect(ids.count == 100)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
    }
}
