import EntitlementAPI
package import Logging
import ProtoWire
import ServerLogging

/// Where an audited call is written besides the store's audit table: one structured line in the
/// server's log and one in `audit.log` (`seq` nil for a record the table could not take).
/// Used on its store's actor only.
package final class AuditTrail {
    /// Also handed to the embedded store's SQLite writer, which appends the lines of committed
    /// records itself (one write per transaction).
    let file: AuditLogFile
    package let logger: Logger
    /// The logger's handler when lines can go straight into it (cast once, not per call).
    private let lineHandler: LineLogHandler?

    /// Opens `directory/audit.log` for appending.
    package init(directory: String, logger: Logger) throws(StoreError) {
        guard let file = AuditLogFile(path: directory + "/audit.log", logger: logger) else {
            throw StoreError.io("cannot open \(directory)/audit.log for appending")
        }
        self.file = file
        self.logger = logger
        self.lineHandler = logger.handler as? LineLogHandler
    }

    /// The seq of the file's last line, nil when it has none (see `AuditLogFile.lastSeq`).
    func lastSeq() -> Int64? { file.lastSeq() }

    /// The seqs of the file's last lines (see `AuditLogFile.recentSeqs`).
    package func recentSeqs() -> [Int64]? { file.recentSeqs() }

    /// Appends a line to audit.log only (a record committed elsewhere; start-up reconciliation).
    package func appendToFile(_ record: AuditRecord, seq: Int64) { file.append(record, seq: seq) }

    /// Both lines: audit.log and the server's log.
    package func log(_ record: AuditRecord, seq: Int64?) {
        file.append(record, seq: seq)
        logToServer(record)
    }

    /// The server's log line only (audit.log has the record already).
    package func logToServer(_ record: AuditRecord) {
        let (level, message): (Logger.Level, String) =
            record.decision == .allowed ? (.notice, "reprocess") : (.warning, "reprocess refused")
        // Written on the store's actor for every call: fields straight into the line when the
        // handler allows it, otherwise through swift-log's metadata.
        if let handler = lineHandler,
            handler.writeLine(
                level: level, message: message, source: "Entitlement", whateverTheLevel: true,
                appendFields: { line in Self.appendFields(of: record, to: &line) })
        {
            return
        }
        logger.log(level: level, "\(message)", metadata: Self.metadata(of: record))
    }

    /// The line's fields in key order (the order `LineLogHandler` sorts metadata into); ids and
    /// outcomes as one comma-separated value each, as `metadata(of:)` has them.
    static func appendFields(of record: AuditRecord, to line: inout LogLine) {
        line.append("audit.access_package_id", record.accessPackageId)
        line.append("audit.caller", record.callerObjectId ?? "-")
        if record.count != 1 { line.append("audit.count", record.count) }
        line.append("audit.decision", record.decision.rawValue)
        if !record.outcomes.isEmpty { line.append("audit.outcomes", joining: record.outcomes.map(\.protoName)) }
        if let peer = record.peer { line.append("audit.peer", peer) }
        if !record.reason.isEmpty { line.append("audit.reason", record.reason) }
        line.append("audit.request_ids", joining: record.requestIds)
    }

    /// The same fields as swift-log metadata, for a logger with some other handler.
    static func metadata(of record: AuditRecord) -> Logger.Metadata {
        // Ids and outcomes as one comma-separated value each: a log handler renders an array
        // element by element.
        var metadata: Logger.Metadata = [
            "audit.decision": .string(record.decision.rawValue),
            "audit.caller": .string(record.callerObjectId ?? "-"),
            "audit.access_package_id": .string(record.accessPackageId),
            "audit.request_ids": .string(record.requestIds.joined(separator: ",")),
        ]
        if !record.outcomes.isEmpty {
            metadata["audit.outcomes"] = .string(record.outcomes.map(\.protoName).joined(separator: ","))
        }
        if !record.reason.isEmpty { metadata["audit.reason"] = .string(record.reason) }
        if let peer = record.peer { metadata["audit.peer"] = .string(peer) }
        if record.count != 1 { metadata["audit.count"] = .stringConvertible(record.count) }
        return metadata
    }
}

/// The audit behaviour both stores share: refused calls are aggregated (`RefusalAuditThrottle`),
/// and a record the table cannot take is still logged.
package protocol RefusalAuditing: Actor {
    var refusalThrottle: RefusalAuditThrottle { get set }
    var refusalFlushScheduled: Bool { get set }
    var auditTrail: AuditTrail { get }
    var auditClock: any WallClock { get }
    /// Appends the record in its own transaction and, once committed, its audit.log line.
    func insertAuditRecord(_ record: AuditRecord) async throws(StoreError)
}

extension RefusalAuditing {
    package func appendAuditRecord(_ record: AuditRecord) async throws(StoreError) {
        try await insertAuditRecord(record)
        auditTrail.logToServer(record)
    }

    package func appendAuditOrLog(_ record: AuditRecord) async {
        do {
            try await appendAuditRecord(record)
        } catch {
            auditTrail.log(record, seq: nil)
            auditTrail.logger.error("cannot write the audit record", metadata: ["error": .string(error.description)])
        }
    }

    /// Refused calls cost the caller nothing, so they are aggregated: at most one row per peer
    /// host, caller and status per second; calls held back in that second are counted in a
    /// summary row written once the second has passed. A failure to write is logged, not thrown.
    package func auditDenied(caller: String?, packageId: String, requestIds: [String], reason: String, peer: String?) async {
        let record = AuditRecord(
            callerObjectId: caller, time: auditClock.now(), accessPackageId: packageId, requestIds: requestIds,
            decision: .denied, reason: reason, peer: peer)
        let key = RefusalAuditThrottle.Key(
            peerHost: Self.host(of: peer), caller: record.callerObjectId,
            code: String(reason.prefix { $0 != ":" }.prefix(32)))
        switch refusalThrottle.admit(key, record: record, now: Self.nanoseconds(record.time)) {
        case .held:
            scheduleRefusalFlush()
        case .write(let summary):
            if let summary { await appendAuditOrLog(summary) }
            await appendAuditOrLog(record)
        }
    }

    package func auditRejected(caller: String?, packageId: String, requestIds: [String], reason: String) async {
        await appendAuditOrLog(
            AuditRecord(
                callerObjectId: caller, time: auditClock.now(), accessPackageId: packageId, requestIds: requestIds,
                decision: .rejected, reason: reason))
    }

    /// Writes the summary rows of refused calls held back in seconds that have ended.
    package func flushRefusalAudit() async {
        refusalFlushScheduled = false
        for row in refusalThrottle.flush(now: Self.nanoseconds(auditClock.now())) {
            await appendAuditOrLog(row)
        }
        if refusalThrottle.hasHeld { scheduleRefusalFlush() }
    }

    /// Writes every held-back summary row now (the store is closing).
    package func flushAllRefusalAudit() async {
        for row in refusalThrottle.flush(now: .max) { await appendAuditOrLog(row) }
    }

    private func scheduleRefusalFlush() {
        guard !refusalFlushScheduled else { return }
        refusalFlushScheduled = true
        Task {
            try? await Task.sleep(for: .milliseconds(1_100))
            await self.flushRefusalAudit()
        }
    }

    private static func nanoseconds(_ time: Timestamp) -> Int64 {
        time.seconds &* 1_000_000_000 &+ Int64(time.nanos)
    }

    /// "10.0.0.7" of "10.0.0.7:53412" (and "::1" of "[::1]:80"): one client's connections share a key.
    private static func host(of peer: String?) -> String {
        guard let peer, let colon = peer.lastIndex(of: ":") else { return peer ?? "" }
        return String(peer[..<colon])
    }
}
