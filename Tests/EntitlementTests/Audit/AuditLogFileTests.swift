@testable import Entitlement
import EntitlementAPI
import Foundation
import Testing

@Suite("audit.log in the data dir")
struct AuditLogFileTests {
    @Test("allowed and refused Reprocess calls are appended as JSON lines")
    func linesForEveryCall() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
            let handler = AccessPackageRequestsHandler(store: store)
            _ = try await handler.reprocess(reprocessRequest(ids: ["r1", "nope"]), context: makeContext())
            await store.recordDeniedReprocess(
                caller: nil, packageId: "ap-1\n\"forged\"", requestIds: ["r1"], reason: "UNAUTHENTICATED: no token")
            await store.close()

            let text = try String(contentsOfFile: path + "/audit.log", encoding: .utf8)
            let lines = text.split(separator: "\n")
            #expect(lines.count == 2)
            let objects = try lines.map {
                try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(objects[0]["decision"] as? String == "allowed")
            #expect(objects[0]["caller"] as? String == "oid-7")
            #expect(objects[0]["request_ids"] as? [String] == ["r1", "nope"])
            #expect(objects[0]["outcomes"] as? [String] == ["REPROCESS_OUTCOME_ACCEPTED", "REPROCESS_OUTCOME_NOT_FOUND"])
            #expect(objects[1]["decision"] as? String == "denied")
            #expect(objects[1]["caller"] is NSNull)
            // The caller's newline stays escaped text inside one line.
            #expect(objects[1]["access_package_id"] as? String == "ap-1\\n\"forged\"")
        }
    }
}

@Suite("audit.log is written by the store's writer, per commit")
struct AuditJournalTests {
    static func seqs(in path: String) throws -> [Int] {
        try String(contentsOfFile: path + "/audit.log", encoding: .utf8).split(separator: "\n").map {
            try #require((JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["seq"] as? Int)
        }
    }

    @Test("a call's line is in the file when the call returns; concurrent calls' lines follow the table's order")
    func linesBeforeTheAnswer() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
            let handler = AccessPackageRequestsHandler(store: store)
            _ = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            #expect(try Self.seqs(in: path) == [1], "the line was not written before the call returned")
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask { _ = try? await handler.reprocess(reprocessRequest(ids: ["nope"]), context: makeContext()) }
                }
            }
            #expect(try Self.seqs(in: path) == Array(1...51))
            await store.close()
        }
    }

    @Test("a transaction that fails to commit leaves no line for its row")
    func failedCommitWritesNoLine() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
            await store.injectCommitFailures(1)
            let handler = AccessPackageRequestsHandler(store: store)
            await #expect(throws: (any Error).self) {
                _ = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            }
            await store.close()
            let lines = try String(contentsOfFile: path + "/audit.log", encoding: .utf8).split(separator: "\n")
            let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            // Only the failed call's own record (written once the failure was known), none for the lost row.
            #expect(objects.count == 1)
            #expect(objects.first?["decision"] as? String == "rejected")
            let reopened = try RequestStore(directory: path)
            #expect(try await reopened.auditRecords().count == 1)
            await reopened.close()
        }
    }
}

@Suite("audit.log lines are JSON whatever the caller sent")
struct AuditLineTests {
    @Test("quotes, backslashes, control characters and non-ASCII text survive a JSON round trip")
    func escaping() throws {
        let tricky = "a\"b\\c\u{01}d\te\nf ünï 名"
        let record = AuditRecord(
            callerObjectId: tricky, time: testNow, accessPackageId: "ap-\"1", requestIds: [tricky, "r2"],
            outcomes: [.notFound, .accepted], decision: .denied, reason: tricky, peer: "[::1]:80", count: 3)
        let line = AuditLogFile.line(for: record, seq: 42)
        #expect(line.last == UInt8(ascii: "\n"))
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.dropLast())) as? [String: Any])
        #expect(object["seq"] as? Int == 42)
        #expect(object["caller"] as? String == record.callerObjectId)
        #expect(object["access_package_id"] as? String == record.accessPackageId)
        #expect(object["request_ids"] as? [String] == record.requestIds)
        #expect(object["outcomes"] as? [String] == ["REPROCESS_OUTCOME_NOT_FOUND", "REPROCESS_OUTCOME_ACCEPTED"])
        #expect(object["reason"] as? String == record.reason)
        #expect(object["peer"] as? String == "[::1]:80")
        #expect(object["count"] as? Int == 3)
        #expect(object["decision"] as? String == "denied")
    }
}

@Suite("Refused calls cannot fill the audit log")
struct RefusalAuditThrottleTests {
    @Test("a flood of refused calls from one peer writes about one row per second, with the count")
    func floodIsAggregated() async throws {
        try await withEmbeddedStore(requests: [makeRequest("r1")]) { store, clock in
            for _ in 0..<1_000 {
                await store.recordDeniedReprocess(
                    caller: nil, packageId: "ap-1", requestIds: ["r1"], reason: "UNAUTHENTICATED: no token",
                    peer: "10.0.0.9:\(Int.random(in: 1024...65535))")
            }
            // Another peer and another caller are told apart.
            await store.recordDeniedReprocess(
                caller: "oid-5", packageId: "ap-1", requestIds: ["r1"], reason: "PERMISSION_DENIED: no role",
                peer: "10.0.0.9:1")
            #expect(try await store.auditRecords(limit: 100).count == 2)
            clock.advance(seconds: 2)
            await store.flushRefusalAudit()
            let records = try await store.auditRecords(limit: 100)
            #expect(records.count == 3)
            #expect(records.map(\.count).reduce(0, +) == 1_001)
            #expect(records.allSatisfy { $0.decision == .denied && $0.peer?.hasPrefix("10.0.0.9:") == true })
        }
    }

    @Test("held calls a new window meets before the flush are written as their own summary, ids kept")
    func carriedHeldCallsKeepTheirIds() {
        var throttle = RefusalAuditThrottle()
        let key = RefusalAuditThrottle.Key(peerHost: "10.0.0.9", caller: nil, code: "UNAUTHENTICATED")
        func call(_ package: String, _ ids: [String]) -> AuditRecord {
            AuditRecord(
                callerObjectId: nil, time: testNow, accessPackageId: package, requestIds: ids, decision: .denied,
                reason: "UNAUTHENTICATED: no token", peer: "10.0.0.9:1")
        }
        #expect(throttle.admit(key, record: call("ap-1", ["a"]), now: 0) == .write(summary: nil))
        #expect(throttle.admit(key, record: call("ap-2", ["x"]), now: 100) == .held)
        #expect(throttle.admit(key, record: call("ap-1", ["b", "c"]), now: 200) == .held)
        #expect(throttle.admit(key, record: call("ap-1", ["c", "d"]), now: 300) == .held)
        // The window has ended and no flush ran: the next call's row comes after the held ones'.
        guard case .write(let summary?) = throttle.admit(key, record: call("ap-1", ["e"]), now: 1_500_000_000) else {
            Issue.record("expected a summary of the held calls")
            return
        }
        #expect(summary.count == 3)
        #expect(summary.accessPackageId == "ap-1")
        #expect(summary.requestIds == ["b", "c", "d"], "ids of the calls on the summary's package only")
        #expect(throttle.flush(now: .max).isEmpty)
    }

    @Test("past the keys it tracks, calls share one row that names no caller or peer and says why")
    func overflowNamesNoCaller() {
        var throttle = RefusalAuditThrottle()
        func call(_ caller: String) -> AuditRecord {
            AuditRecord(
                callerObjectId: caller, time: testNow, accessPackageId: "ap-1", requestIds: ["r1"], decision: .denied,
                reason: "PERMISSION_DENIED: no role", peer: "10.0.0.9:1")
        }
        for i in 0..<RefusalAuditThrottle.maxKeys {
            let key = RefusalAuditThrottle.Key(peerHost: "10.0.0.9", caller: "oid-\(i)", code: "PERMISSION_DENIED")
            _ = throttle.admit(key, record: call("oid-\(i)"), now: 0)
        }
        for i in 0..<50 {
            let key = RefusalAuditThrottle.Key(peerHost: "10.0.0.9", caller: "oid-more-\(i)", code: "PERMISSION_DENIED")
            _ = throttle.admit(key, record: call("oid-more-\(i)"), now: 1)
        }
        let rows = throttle.flush(now: .max)
        #expect(rows.count == 1, "only the overflow key held calls")
        #expect(rows.first?.count == 49, "the first overflowing call had its own row")
        #expect(rows.first?.callerObjectId == nil)
        #expect(rows.first?.peer == nil)
        #expect(
            rows.first?.reason
                == "calls from more than 4096 peer, caller and status combinations in one second, counted together (package and ids: the newest call's): 49× PERMISSION_DENIED: no role")
    }

    @Test("a summary counts each reason its calls had: one last call cannot hide a run of others")
    func summaryCountsReasons() {
        var throttle = RefusalAuditThrottle()
        let key = RefusalAuditThrottle.Key(peerHost: "10.0.0.9", caller: nil, code: "UNAUTHENTICATED")
        func call(_ reason: String) -> AuditRecord {
            AuditRecord(
                callerObjectId: nil, time: testNow, accessPackageId: "ap-1", requestIds: ["r1"], decision: .denied,
                reason: reason, peer: "10.0.0.9:1")
        }
        #expect(throttle.admit(key, record: call("UNAUTHENTICATED: bad signature"), now: 0) == .write(summary: nil))
        for i in 1...9 { #expect(throttle.admit(key, record: call("UNAUTHENTICATED: bad signature"), now: Int64(i)) == .held) }
        #expect(throttle.admit(key, record: call("UNAUTHENTICATED: no token"), now: 10) == .held)
        let summary = throttle.flush(now: 2_000_000_000).first
        #expect(summary?.count == 10)
        #expect(summary?.reason == "9× UNAUTHENTICATED: bad signature; 1× UNAUTHENTICATED: no token")
        // One reason throughout: it is the reason, as before.
        #expect(throttle.admit(key, record: call("UNAUTHENTICATED: no token"), now: 3_000_000_000) == .write(summary: nil))
        _ = throttle.admit(key, record: call("UNAUTHENTICATED: no token"), now: 3_000_000_001)
        #expect(throttle.flush(now: .max).first?.reason == "UNAUTHENTICATED: no token")
    }

    @Test("authorized Reprocess calls each keep their own row")
    func authorizedCallsKeepRows() async throws {
        try await withEmbeddedStore(requests: [makeRequest("r1")]) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            for _ in 0..<20 {
                _ = try? await handler.reprocess(reprocessRequest(ids: ["nope"]), context: makeContext())
            }
            let records = try await store.auditRecords(limit: 100)
            #expect(records.count == 20)
            #expect(records.allSatisfy { $0.count == 1 })
        }
    }

    @Test("held-back refusals are written as a summary when the store closes")
    func flushOnClose() async throws {
        try await withTemporaryDirectory { path in
            do {
                let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
                for i in 0..<10 {
                    await store.recordDeniedReprocess(
                        caller: nil, packageId: "ap-1", requestIds: ["r\(i % 4)", "r-all"], reason: "UNAUTHENTICATED: x",
                        peer: "1.2.3.4:5")
                }
                await store.close()
            }
            let reopened = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            let records = try await reopened.auditRecords(limit: 10)
            #expect(records.map(\.count) == [1, 9])
            // The summary names every id the held calls named, once each, in first-seen order.
            #expect(records.last?.requestIds == ["r1", "r-all", "r2", "r3", "r0"])
            await reopened.close()
        }
    }
}

@Suite("audit.log after a crash")
struct AuditLogReconcileTests {
    @Test("lines lost between a commit and its audit.log line are appended at the next start")
    func lostLinesAreRestored() async throws {
        try await withTemporaryDirectory { path in
            do {
                let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
                try await store.importFixture(baseFixture(requests: [makeRequest("r1"), makeRequest("r2")]))
                let handler = AccessPackageRequestsHandler(store: store)
                _ = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
                _ = try await handler.reprocess(reprocessRequest(ids: ["r2"]), context: makeContext())
                await store.close()
            }
            // As if the process died after the second commit, before its line was written.
            let file = path + "/audit.log"
            let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 2)
            try (lines[0] + "\n").write(toFile: file, atomically: false, encoding: .utf8)

            let reopened = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            await reopened.close()
            let restored = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            #expect(restored.map(String.init) == lines.map(String.init))
            let objects = try restored.map {
                try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            #expect(objects.map { $0["seq"] as? Int } == [1, 2])
            #expect(objects[1]["request_ids"] as? [String] == ["r2"])
            #expect(objects[1]["outcomes"] as? [String] == ["REPROCESS_OUTCOME_ACCEPTED"])
        }
    }

    @Test("the audit table's JSON arrays: empty, plain, and strings that need escaping")
    func jsonArrays() throws {
        #expect(AuditLogFile.jsonArray([]) == Array("[]".utf8))
        #expect(AuditLogFile.jsonArray(["a"]) == Array(#"["a"]"#.utf8))
        let odd = ["req-1", "quo\"te", "back\\slash", "tab\tnew\nline", "ünï"]
        let parsed = try JSONSerialization.jsonObject(with: Data(AuditLogFile.jsonArray(odd))) as? [String]
        #expect(parsed == odd)
    }

    @Test("a line built from the row's arrays is the line built from the record")
    func lineFromRowArrays() {
        let records = [
            AuditRecord(
                callerObjectId: "oid-7", time: testNow, accessPackageId: "ap-1", requestIds: ["r1", "quo\"te", "tab\t"],
                outcomes: [.accepted, .notFound, .windowExpired], decision: .allowed),
            AuditRecord(
                callerObjectId: nil, time: testNow, accessPackageId: "ap-2", requestIds: [], decision: .denied,
                reason: "PERMISSION_DENIED: role READER", peer: "10.0.0.7:5312", count: 3),
        ]
        for record in records {
            #expect(
                AuditLogFile.line(for: record, seq: 42, arrays: AuditLogFile.JSONArrays(record))
                    == AuditLogFile.line(for: record, seq: 42))
        }
    }

    @Test("the file's last lines are read back far enough for the rule, however long the lines")
    func recentSeqsOfLongLines() throws {
        let path = NSTemporaryDirectory() + "audit-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try #require(AuditLogFile(path: path))
        // A hundred ids of 256 bytes each (the most a line keeps): about 27 KB a line, so the
        // first 1 MiB read back holds under 40 of them.
        let ids = (0..<AuditRecord.maxRequestIds).map { String(repeating: "\($0 % 10)", count: 256) }
        for seq in 1...300 {
            let record = AuditRecord(
                callerObjectId: "oid-7", time: testNow, accessPackageId: "ap-1", requestIds: ids,
                outcomes: Array(repeating: .notFound, count: ids.count), decision: .allowed)
            file.append(record, seq: Int64(seq))
        }
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int > 4 << 20)
        let recent = try #require(file.recentSeqs(wantedLines: 100))
        #expect(recent.count >= 100 && recent.last == 300)
        #expect(file.recentSeqs(wantedLines: 1_000) == Array(1...300), "the whole file when it holds fewer")
        // Ordinary lines: the first window holds the lines wanted.
        #expect(file.recentSeqs(wantedLines: 10)!.count < 300)
    }

    @Test("a cut-off last line (a crash, a full disk) is dropped when the file is opened, so the next line stands alone")
    func cutOffLastLine() throws {
        let path = NSTemporaryDirectory() + "audit-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"seq":1,"a":1}"#.utf8 + [0x0A] + #"{"seq":2,"acc"#.utf8).write(to: URL(fileURLWithPath: path))
        let file = try #require(AuditLogFile(path: path))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"seq\":1,\"a\":1}\n")
        #expect(file.append(lines: Array(#"{"seq":3}"#.utf8) + [0x0A]))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"seq\":1,\"a\":1}\n{\"seq\":3}\n")
        #expect(file.recentSeqs() == [1, 3])
        // Nothing but a cut-off line: nothing is left.
        try Data(#"{"seq":4,"#.utf8).write(to: URL(fileURLWithPath: path))
        _ = try #require(AuditLogFile(path: path))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
    }

    @Test("an append the disk refuses says so")
    func refusedAppend() throws {
        let file = try #require(AuditLogFile(path: "/dev/full"))  // every write: ENOSPC
        #expect(!file.append(lines: Array("{}\n".utf8)))
    }

    @Test("a database emptied behind its audit.log (truncated, replaced by an older copy) fails start-up, not serves empty")
    func databaseBehindItsAuditLog() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
            let handler = AccessPackageRequestsHandler(store: store)
            _ = try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            await store.close()
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: path + "/entitlement.sqlite3" + suffix)
            }
            #expect(FileManager.default.createFile(atPath: path + "/entitlement.sqlite3", contents: Data()))
            do {
                _ = try RequestStore(directory: path, clock: ManualWallClock(testNow))
                Issue.record("the store opened on an emptied database")
            } catch {
                #expect("\(error)".contains("holds audit rows up to seq 0 but audit.log has seq 1"), "\(error)")
            }
            // Moving audit.log aside is the way to start on it anyway.
            try FileManager.default.moveItem(atPath: path + "/audit.log", toPath: path + "/audit.log.old")
            let fresh = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            await fresh.close()
        }
    }
}
