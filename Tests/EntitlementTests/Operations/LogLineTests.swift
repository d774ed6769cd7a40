import EntitlementAPI
import Foundation
import Logging
import ProtoWire
import RPCCore
import ServerLogging
import Testing

@testable import Entitlement
@testable import EntitlementServerCore

@Suite("Log lines: the handler and the access log's direct path")
struct LogLineTests {
    /// Lines written through a sink into a temporary file, read back after a flush.
    final class CapturedLines: Sendable {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        let sink: LogSink
        let descriptor: Int32

        init() {
            descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
            sink = LogSink(descriptor: descriptor)
        }

        func lines() -> [String] {
            sink.flush()
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map(String.init)
        }

        deinit {
            close(descriptor)
            unlink(path)
        }
    }

    static func summary(kind: RPCKind = .unary, caller: String? = "oid-7") -> CallSummary {
        CallSummary(
            method: MethodDescriptor(service: "entitlement.v1.AccessPackageRequests", method: "ListRequests"),
            kind: kind, code: .ok, duration: .microseconds(12_345), messagesReceived: 1, messagesSent: 3,
            requestBytes: 11, responseBytes: 336, peer: "127.0.0.1:43280",
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", callerId: caller)
    }

    /// The access line of `summary` twice: straight into the line (the server's path), then
    /// through swift-log metadata, so the two can be compared.
    static func logBothWays(_ summary: CallSummary, access: AccessLog, handler: LineLogHandler) {
        access.callFinished(summary)
        handler.log(
            event: LogEvent(
                level: .info, message: "call", metadata: AccessLog.metadata(summary), source: "EntitlementServerCore",
                file: #fileID, function: #function, line: #line))
    }

    /// The line without its leading time (text) or with its time removed (JSON).
    static func withoutTime(_ line: String, format: LogFormat) throws -> String {
        switch format {
        case .text:
            return String(line.drop { $0 != " " })
        case .json:
            var object = try #require(
                JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not a JSON object of strings: \(line)")
            #expect(object.removeValue(forKey: "time") != nil)
            return String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
        }
    }

    @Test(
        "the access log's direct line equals the handler's line for the same fields",
        arguments: LogFormat.allCases, [RPCKind.unary, .serverStreaming])
    func directLineMatchesHandler(format: LogFormat, kind: RPCKind) throws {
        let captured = CapturedLines()
        let handler = LineLogHandler(label: "entitlement", format: format, sink: captured.sink)
        let access = AccessLog(logger: Logger(label: "entitlement") { _ in handler })
        for caller in ["oid-7", nil] {
            Self.logBothWays(Self.summary(kind: kind, caller: caller), access: access, handler: handler)
        }
        let lines = captured.lines()
        try #require(lines.count == 4)
        #expect(try Self.withoutTime(lines[0], format: format) == Self.withoutTime(lines[1], format: format))
        #expect(try Self.withoutTime(lines[2], format: format) == Self.withoutTime(lines[3], format: format))
        #expect(lines[0].contains("duration_ms") && lines[0].contains("12.345"))
        #expect(lines[0].contains("4bf92f3577b34da6a3ce929d0e0e4736"))
    }

    @Test("a failed call's line carries the message it was sent and the error under it", arguments: LogFormat.allCases)
    func failedCallCarriesMessageAndCause(format: LogFormat) throws {
        let captured = CapturedLines()
        let handler = LineLogHandler(label: "entitlement", format: format, sink: captured.sink)
        let access = AccessLog(logger: Logger(label: "entitlement") { _ in handler })
        var summary = Self.summary()
        summary.code = .unavailable
        summary.error = RPCError(mapping: StoreError.database(SQLiteError(code: 13, message: "database or disk is full")))
        Self.logBothWays(summary, access: access, handler: handler)
        let lines = captured.lines()
        try #require(lines.count == 2)
        #expect(try Self.withoutTime(lines[0], format: format) == Self.withoutTime(lines[1], format: format))
        #expect(lines[0].contains("SQLite error 13: database or disk is full"), "the cause, which the caller never sees")
        #expect(lines[0].contains("the request store could not commit the change"), "the message the caller got")
        if format == .json {
            let object = try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
            #expect(object["cause"] == "SQLite error 13: database or disk is full")
            #expect(object["grpc.code"] == "UNAVAILABLE")
        }
    }

    @Test("a failed call's cause cannot forge a log line and is bounded")
    func causeIsCleaned() throws {
        struct Odd: Error, CustomStringConvertible {
            var description: String { "line one\nfake line " + String(repeating: "x", count: 5_000) }
        }
        let captured = CapturedLines()
        let handler = LineLogHandler(label: "entitlement", format: .text, sink: captured.sink)
        var summary = Self.summary()
        summary.code = .internalError
        summary.error = RPCError(mapping: Odd())
        AccessLog(logger: Logger(label: "entitlement") { _ in handler }).callFinished(summary)
        let lines = captured.lines()
        try #require(lines.count == 1)
        #expect(lines[0].contains(#"grpc.message="internal error""#) && lines[0].contains(#"cause="line one\\nfake line"#))
        #expect(lines[0].utf8.count < 2_000)
    }

    @Test("forwarded_for keeps the end of a long x-forwarded-for, the entry the nearest proxy appended, and escapes it")
    func forwardedForKeepsItsEnd() {
        let claimed = (0..<40).map { "10.0.0.\($0)" }.joined(separator: ", ")
        let header = claimed + ", 203.0.113.7\u{1b}[2J, 198.51.100.9"
        let logged = AccessLog.forwardedFor(header)
        #expect(logged.hasPrefix("…"))
        #expect(logged.hasSuffix("203.0.113.7\\u{1B}[2J, 198.51.100.9"), "\(logged)")
        #expect(logged.utf8.count <= CallerText.maxBytes)
        #expect(AccessLog.forwardedFor("198.51.100.9") == "198.51.100.9")
        var metadata = Metadata()
        metadata.addString("198.51.100.1", forKey: "X-Forwarded-For")
        metadata.addString("10.0.0.2", forKey: "x-forwarded-for")
        #expect(metadata.joinedStrings(forKey: "x-forwarded-for") == "198.51.100.1, 10.0.0.2")
        #expect(Metadata().joinedStrings(forKey: "x-forwarded-for") == nil)
    }

    @Test("the audit line written directly equals the handler's line for the same record", arguments: LogFormat.allCases)
    func auditLineMatchesHandler(format: LogFormat) throws {
        let captured = CapturedLines()
        let handler = LineLogHandler(label: "entitlement.store", format: format, sink: captured.sink)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trail = try AuditTrail(directory: directory, logger: Logger(label: "entitlement.store") { _ in handler })
        let time = Timestamp(seconds: 1_780_000_000, nanos: 5)
        let records = [
            AuditRecord(
                callerObjectId: "oid-7", time: time, accessPackageId: "ap-1", requestIds: ["r1", "r\"2", "r3"],
                outcomes: [.accepted, .notEligible, .notFound], decision: .allowed),
            AuditRecord(
                callerObjectId: nil, time: time, accessPackageId: "ap-\n2", requestIds: [], decision: .denied,
                reason: "PERMISSION_DENIED: role READER", peer: "10.0.0.7:5312", count: 3),
        ]
        for record in records {
            trail.logToServer(record)
            handler.log(
                event: LogEvent(
                    level: record.decision == .allowed ? .notice : .warning,
                    message: record.decision == .allowed ? "reprocess" : "reprocess refused",
                    metadata: AuditTrail.metadata(of: record), source: "Entitlement", file: #fileID, function: #function,
                    line: #line))
        }
        let lines = captured.lines()
        try #require(lines.count == 4)
        #expect(try Self.withoutTime(lines[0], format: format) == Self.withoutTime(lines[1], format: format))
        #expect(try Self.withoutTime(lines[2], format: format) == Self.withoutTime(lines[3], format: format))
        #expect(lines[0].contains("REPROCESS_OUTCOME_ACCEPTED,REPROCESS_OUTCOME_NOT_ELIGIBLE,REPROCESS_OUTCOME_NOT_FOUND"))
        #expect(lines[2].contains("10.0.0.7:5312") && lines[2].contains("audit.count"))
    }

    @Test("audit lines are written whatever --log-level says: every Reprocess call is in the server's log")
    func auditLinesIgnoreTheLevel() throws {
        let captured = CapturedLines()
        var handler = LineLogHandler(label: "entitlement.store", format: .text, sink: captured.sink)
        handler.logLevel = .critical
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "entitlement.store") { [handler] _ in handler }
        let trail = try AuditTrail(directory: directory, logger: logger)
        trail.logToServer(
            AuditRecord(
                callerObjectId: "oid-7", time: Timestamp(seconds: 1_780_000_000), accessPackageId: "ap-1",
                requestIds: ["r1"], outcomes: [.accepted], decision: .allowed))
        logger.error("an error line is still filtered")
        let lines = captured.lines()
        try #require(lines.count == 1)
        #expect(lines[0].contains("audit.decision=allowed"))
    }

    @Test("text values with spaces, = or quotes are quoted, so caller text cannot pass for fields")
    func textValuesAreQuoted() throws {
        let captured = CapturedLines()
        let handler = LineLogHandler(label: "entitlement.store", format: .text, sink: captured.sink)
        Logger(label: "entitlement.store") { _ in handler }.notice(
            "reprocess",
            metadata: [
                "audit.access_package_id": "ap-1 audit.decision=allowed", "audit.caller": "oid-7", "empty": "",
                "quote": #"a"b\c"#,
            ])
        let line = try #require(captured.lines().first)
        #expect(line.contains(#" audit.access_package_id="ap-1 audit.decision=allowed" "#))
        #expect(line.contains(" audit.caller=oid-7 "))
        #expect(line.contains(#" empty="" "#))
        #expect(line.contains(#" quote="a\"b\\c" "#))
        var controls = LogLine(format: .text, level: .info, label: "l", message: "m")
        controls.append("tab", "a\tb")
        controls.append("newline", "x\nfake=1")
        let controlled = String(decoding: controls.finish(source: "s"), as: UTF8.self)
        #expect(controlled.contains(#" tab="a\tb" "#) && controlled.contains(#" newline="x\nfake=1" "#))
        #expect(controlled.filter { $0 == "\n" }.count == 1, "one line")
        var joined = LogLine(format: .text, level: .info, label: "l", message: "m")
        joined.append("ids", joining: ["r1", "r2"])
        joined.append("odd", joining: ["r1", "r 2"])
        joined.append("none", joining: [])
        let text = String(decoding: joined.finish(source: "s"), as: UTF8.self)
        #expect(text.contains(" ids=r1,r2 ") && text.contains(#" odd="r1,r 2" "#) && text.contains(#" none="" "#))
    }

    @Test("a handler with metadata of its own still gets the direct lines, through swift-log")
    func handlerMetadataFallsBack() throws {
        let captured = CapturedLines()
        var handler = LineLogHandler(label: "entitlement", format: .text, sink: captured.sink)
        handler.metadata = ["replica": "b"]
        AccessLog(logger: Logger(label: "entitlement") { _ in handler }).callFinished(Self.summary())
        let line = try #require(captured.lines().first)
        #expect(line.contains(" replica=b ") && line.contains(" grpc.method=/entitlement.v1.AccessPackageRequests/ListRequests "))
    }

    @Test("finish writes every queued line before exit, and again after more lines")
    func finishWritesEverything() {
        let captured = CapturedLines()
        for i in 0..<1_000 { captured.sink.write(Array("line \(i)\n".utf8)) }
        #expect(captured.sink.finish(within: .seconds(30)))
        captured.sink.write(Array("after\n".utf8))
        #expect(captured.sink.finish(within: .seconds(30)))
        let text = (try? String(contentsOfFile: captured.path, encoding: .utf8)) ?? ""
        #expect(text.split(separator: "\n") == (0..<1_000).map { "line \($0)" } + ["after"])
    }

    @Test("the note of dropped lines is a line of the log's own format", arguments: LogFormat.allCases)
    func droppedLinesNote(format: LogFormat) throws {
        let captured = CapturedLines()
        // Over the 4 MiB the sink holds: dropped, and counted.
        captured.sink.write([UInt8](repeating: UInt8(ascii: "x"), count: LogSink.maxBuffered + 1) + [0x0A], format: format)
        let lines = captured.lines()
        #expect(lines.count == 1)
        let note = try #require(lines.first)
        #expect(note.contains("1 log lines dropped"))
        if format == .json {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(note.utf8)) as? [String: Any])
            #expect("\(object["dropped"] ?? "")" == "1", "\(object)")
        } else {
            #expect(note.contains("warning") && note.contains("dropped=1"), "\(note)")
        }
    }

    @Test("a comma inside a joined value is escaped, so one id \"a,b\" and two ids a and b read apart", arguments: LogFormat.allCases)
    func commaInJoinedValues(format: LogFormat) {
        func field(_ values: [String]) -> String {
            var line = LogLine(format: format, level: .info, label: "t", message: "m")
            line.append("ids", joining: values)
            return String(decoding: line.finish(source: "t"), as: UTF8.self)
        }
        #expect(field(["a,b"]) != field(["a", "b"]))
        #expect(field(["a,b", "c"]).contains(#"a\,b,c"#) || field(["a,b", "c"]).contains(#"a\\,b,c"#))
        #expect(field(["a", "b"]).contains("a,b"))
    }

    @Test("text lines keep swift-log's stream layout")
    func textLayout() throws {
        let captured = CapturedLines()
        let handler = LineLogHandler(label: "entitlement.store", format: .text, sink: captured.sink)
        Logger(label: "entitlement.store") { _ in handler }.notice("reprocess", metadata: ["b": "2", "a": "1"])
        let line = try #require(captured.lines().first)
        #expect(line.hasSuffix(" notice entitlement.store: a=1 b=2 [EntitlementTests] reprocess"))
        #expect(line.first?.isNumber == true, "starts with the time")
    }

    @Test("JSON lines escape quotes, backslashes and control characters")
    func jsonEscapes() throws {
        let captured = CapturedLines()
        let handler = LineLogHandler(label: "l", format: .json, sink: captured.sink)
        let nasty = "a\"b\\c\nd\te\u{1}f\u{7F}é"
        Logger(label: "l") { _ in handler }.warning(
            "m\"", metadata: ["k": .string(nasty), "n": .stringConvertible(42), "p": "req-é-\u{1F600}"])
        let line = try #require(captured.lines().first)
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["k"] == nasty && object["n"] == "42" && object["message"] == "m\"")
        #expect(object["p"] == "req-é-\u{1F600}", "text that needs no escaping is copied whole")
        #expect(object["level"] == "warning" && object["label"] == "l")
        let time = try #require(object["time"])
        #expect(time.count == 24 && time.hasSuffix("Z"))
    }

    @Test("generated trace ids are random 128-bit values")
    func traceIDBits() {
        let ids = Set((0..<2_000).map { _ in TraceContext.newTraceIDBits() }.map { "\($0.0)-\($0.1)" })
        #expect(ids.count == 2_000, "a refill of the pool repeated or lost words")
    }

    @Test("numbers and hex are written digit by digit as String would")
    func digits() {
        let values = [0, 7, 9, 10, 99, 100, 4_096, -1, -1_000, Int.max, Int.min + 1]
        var line = LogLine(format: .text, level: .info, label: "l", message: "m")
        for (i, value) in values.enumerated() { line.append("n\(i)", value) }
        line.append("t", thousandths: -12_345)
        line.append("x", hex: (0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210))
        let text = String(decoding: line.finish(source: "s"), as: UTF8.self)
        for (i, value) in values.enumerated() { #expect(text.contains(" n\(i)=\(value) ")) }
        #expect(text.contains(" t=-12.345 "))
        #expect(text.contains(" x=0123456789abcdeffedcba9876543210 "))
    }
}

