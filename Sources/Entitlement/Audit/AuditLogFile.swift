import Logging
import ProtoWire
import ServerLogging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `audit.log` in the data dir: one JSON object per audited Reprocess call, appended, for operators
/// to read and ship. The `audit` table in the store is the durable record; this file is its
/// readable copy, written right after the record is committed (or when committing it failed).
/// Safe to share between threads: appends take turns, each one `write` to a descriptor opened
/// O_APPEND. A line is whole or absent: one the disk took only part of (full) is cut off again,
/// and a cut-off last line left by a crash is dropped when the file is opened, so the next
/// record never runs into it (the database's rows bring back what the file is missing).
final class AuditLogFile: Sendable {
    private let descriptor: Int32
    private let path: String
    private let logger: Logger?
    /// Appends take turns: one cut back after a partial write must not cut another's lines.
    private let appendTurn = Mutex<Void>(())
    /// When a failed append was last logged (at most one error line a minute).
    /// Failing appends are logged once a minute (a full disk fails every call's).
    private let failureLog = LogThrottle(limit: 1, per: .seconds(60))

    /// Opens (creating, 0600) `path` for appending; nil if it cannot be opened.
    init?(path: String, logger: Logger? = nil) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        descriptor = fd
        self.path = path
        self.logger = logger
        if let dropped = dropCutOffLastLine(), dropped > 0 {
            logger?.warning(
                "audit.log ended in a cut-off line (a crash or a full disk); dropped it",
                metadata: ["bytes": .stringConvertible(dropped), "path": .string(path)])
        }
    }

    /// Truncates the file after its last newline; how many bytes went (nil: it cannot be read).
    private func dropCutOffLastLine() -> Int? {
        let size = Int(lseek(descriptor, 0, SEEK_END))
        guard size > 0 else { return 0 }
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return nil }
        defer { close(reader) }
        // Lines are at most tens of KB; look back up to 1 MiB for the last newline.
        let window = min(size, 1 << 20)
        var tail = [UInt8](repeating: 0, count: window)
        let read = tail.withUnsafeMutableBytes { pread(reader, $0.baseAddress, window, off_t(size - window)) }
        guard read == window else { return nil }
        if tail.last == UInt8(ascii: "\n") { return 0 }
        let keep = tail.lastIndex(of: UInt8(ascii: "\n")).map { size - window + $0 + 1 } ?? (window == size ? 0 : size)
        guard keep < size, ftruncate(descriptor, off_t(keep)) == 0 else { return 0 }
        return size - keep
    }

    deinit {
        close(descriptor)
    }

    /// Appends one line; `seq` is the record's place in the audit table (nil: not in it).
    func append(_ record: AuditRecord, seq: Int64?) {
        append(lines: Self.line(for: record, seq: seq))
    }

    /// Appends whole lines (each with its newline) in one write with O_APPEND, one append at a
    /// time. If the disk takes only part of them, the file is cut back to where it was: a torn
    /// line would run into the next one. Returns whether they were written.
    @discardableResult
    func append(lines: [UInt8]) -> Bool {
        let failure: Int32? = appendTurn.withLock { _ in
            lines.withUnsafeBytes { raw -> Int32? in
                var offset = 0
                while offset < raw.count {
                    let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0, errno == EINTR { continue }
                    if written <= 0 {
                        let error = written < 0 ? errno : ENOSPC
                        // Appends take turns, so the file ends with this append's `offset`
                        // bytes: found only on failure, no seek on every append.
                        if offset > 0 {
                            let end = lseek(descriptor, 0, SEEK_END)
                            if end >= offset { _ = ftruncate(descriptor, end - off_t(offset)) }
                        }
                        return error
                    }
                    offset += written
                }
                return nil
            }
        }
        guard let failure else { return true }
        reportFailure(errno: failure, bytes: lines.count)
        return false
    }

    private func reportFailure(errno error: Int32, bytes: Int) {
        guard let unlogged = failureLog.admit() else { return }
        var metadata: Logger.Metadata = [
            "path": .string(path), "bytes": .stringConvertible(bytes),
            "error": .string(String(cString: strerror(error))),
        ]
        if unlogged > 0 { metadata["more_since_last_line"] = "\(unlogged)" }
        logger?.error("cannot append to audit.log (the calls' records are in the store's audit table)", metadata: metadata)
    }

    /// The arrays of a record as JSON, made once for the audit row and reused for its line.
    struct JSONArrays: Sendable {
        let requestIds: [UInt8]
        /// nil when the record has no outcomes (a refused call).
        let outcomes: [UInt8]?

        init(_ record: AuditRecord) {
            requestIds = jsonArray(record.requestIds)
            outcomes = record.outcomes.isEmpty ? nil : jsonArray(record.outcomes.lazy.map(\.protoName))
        }
    }

    /// The line's bytes, built in one buffer: it is written once per audited call, so it must not
    /// cost a string per field.
    /// - Parameter arrays: the record's arrays already rendered (for the audit row); made here if nil.
    static func line(for record: AuditRecord, seq: Int64?, arrays: JSONArrays? = nil) -> [UInt8] {
        let arrays = arrays ?? JSONArrays(record)
        var out: [UInt8] = []
        out.reserveCapacity(160 + record.requestIds.count * 32 + record.outcomes.count * 24 + record.reason.utf8.count)
        func raw(_ text: StaticString) {
            text.withUTF8Buffer { out.append(contentsOf: $0) }
        }
        out.append(UInt8(ascii: "{"))
        if let seq {
            raw("\"seq\":")
            out.appendUTF8(String(seq))
            out.append(UInt8(ascii: ","))
        }
        raw("\"time\":\"")
        RFC3339.append(record.time, to: &out)
        raw("\",\"decision\":\"")
        out.appendUTF8(record.decision.rawValue)
        raw("\",\"caller\":")
        if let caller = record.callerObjectId { out.appendJSONString(caller) } else { raw("null") }
        raw(",\"access_package_id\":")
        out.appendJSONString(record.accessPackageId)
        raw(",\"request_ids\":")
        out += arrays.requestIds
        if let outcomes = arrays.outcomes {
            raw(",\"outcomes\":")
            out += outcomes
        }
        if !record.reason.isEmpty {
            raw(",\"reason\":")
            out.appendJSONString(record.reason)
        }
        if let peer = record.peer {
            raw(",\"peer\":")
            out.appendJSONString(peer)
        }
        if record.count != 1 {
            raw(",\"count\":")
            out.appendUTF8(String(record.count))
        }
        raw("}\n")
        return out
    }

    /// `["a","b"]`: strings as a JSON array, escaped as in the lines, in UTF-8 (the audit table's id
    /// and outcome columns, bound as TEXT straight from these bytes).
    static func jsonArray(_ strings: some Collection<String>) -> [UInt8] {
        var out: [UInt8] = []
        // Sized for strings that need no escaping (ids, outcome names): one buffer, not a doubling series.
        out.reserveCapacity(strings.reduce(2) { $0 + $1.utf8.count + 3 })
        appendJSONArray(strings, to: &out)
        return out
    }

    /// Appends `["a","b"]`, each string escaped by `appendJSONString`.
    private static func appendJSONArray(_ strings: some Sequence<String>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, string) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.appendJSONString(string)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// The `seq` of the last line that has one: 0 for an empty file, nil when the file has
    /// lines but none with a seq (written before lines carried one: nothing to reconcile by).
    func lastSeq() -> Int64? { recentSeqs(wantedLines: 1).map { $0.last ?? 0 } }

    /// The seqs of the file's last lines, in file order: at least `wantedLines` of them, or all
    /// when fewer (the last 1 MiB holds thousands of ordinary lines; a window grows to 64 MiB
    /// for lines of a hundred long ids each). Empty for an empty file, nil when it has lines but
    /// none of those carry a seq.
    func recentSeqs(wantedLines: Int = 2_000) -> [Int64]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0 else { return [] }
        var window = 1 << 20
        while true {
            window = min(window, size)
            guard let seqs = Self.seqs(in: fd, from: size - window, count: window) else { return nil }
            if seqs.count >= wantedLines || window == size || window >= 64 << 20 { return seqs.isEmpty ? nil : seqs }
            window *= 4
        }
    }

    /// The seqs of the lines starting in `count` bytes from `offset` (a line cut at the start
    /// of the window does not begin with `{"seq":`, which no JSON string holds unescaped).
    /// Scanned as bytes: a 64 MiB window is not copied into a `String` as well.
    private static func seqs(in fd: Int32, from offset: Int, count: Int) -> [Int64]? {
        var tail = [UInt8](repeating: 0, count: count)
        let read = tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard read > 0 else { return nil }
        let prefix = Array(#"{"seq":"#.utf8)
        var seqs: [Int64] = []
        var lineStart = 0
        while lineStart < read {
            let lineEnd = tail[lineStart..<read].firstIndex(of: UInt8(ascii: "\n")) ?? read
            if lineEnd - lineStart > prefix.count, tail[lineStart..<(lineStart + prefix.count)].elementsEqual(prefix) {
                var value: Int64 = 0
                var digits = 0
                for byte in tail[(lineStart + prefix.count)..<lineEnd] {
                    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 else { break }
                    value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                    digits += 1
                }
                if digits > 0 { seqs.append(value) }
            }
            lineStart = lineEnd + 1
        }
        return seqs
    }
}
