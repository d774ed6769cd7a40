import RPCCore
import Testing

@Suite("grpc-timeout")
struct GRPCTimeoutTests {
    @Test(
        "valid headers parse to their duration",
        arguments: [
            ("1H", Duration.seconds(3600)), ("2M", .seconds(120)), ("3S", .seconds(3)), ("250m", .milliseconds(250)),
            ("7u", .microseconds(7)), ("1n", .nanoseconds(1)), ("99999999S", .seconds(99_999_999)),
        ]
    )
    func parses(header: String, expected: Duration) {
        #expect(GRPCTimeout.parse(header) == expected)
    }

    @Test("malformed headers are refused", arguments: ["", "S", "10", "1x", "-1S", "123456789S", "1.5S", " 1S"])
    func refuses(header: String) {
        #expect(GRPCTimeout.parse(header) == nil)
    }

    @Test("formatting round-trips without shortening the deadline", arguments: [
        Duration.nanoseconds(1), .microseconds(1500), .milliseconds(200), .seconds(30), .seconds(86_400 * 365),
    ])
    func formats(duration: Duration) throws {
        let header = GRPCTimeout.format(duration)
        #expect(header.utf8.count <= 9)
        let parsed = try #require(GRPCTimeout.parse(header))
        #expect(parsed >= duration)
    }
}

@Suite("grpc-timeout extremes")
struct GRPCTimeoutExtremesTests {
    @Test("the largest header value parses without overflow")
    func largest() throws {
        let parsed = try #require(GRPCTimeout.parse("99999999H"))
        #expect(parsed == .seconds(Int64(99_999_999) * 3600))
    }
}
