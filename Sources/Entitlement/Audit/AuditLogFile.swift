import ProtoWire

#if canImport(Glibc)
import Glibc
#endif

/// `audit.log` in the data dir: one JSON object per audited Reprocess call, appended, for operators
/// to read and ship. The `audit` table in the store is the durable record; this file is its
/// readable copy, written right after the record is committed (or when committing it failed).
final class AuditLogFile {
    private let descriptor: Int32
    private let path: String

    /// Opens (creating, 0600) `path` for appending; nil if it cannot be opened.
    init?(path: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        descriptor = fd
        self.path = path
    }

    deinit {
        close(descriptor)
    }

    /// Appends one line; `seq` is the record's place in the audit table (nil: not in it).
    func append(_ record: AuditRecord, seq: Int64?) {
        var line = "{"
        if let seq { line += "\"seq\":\(seq)," }
        line += "\"time\":\"\(RFC3339.format(record.time))\",\"decision\":\"\(record.decision.rawValue)\""
        line += ",\"caller\":" + (record.callerObjectId.map(Self.quoted) ?? "null")
        line += ",\"access_package_id\":" + Self.quoted(record.accessPackageId)
        line += ",\"request_ids\":[" + record.requestIds.map(Self.quoted).joined(separator: ",") + "]"
        if !record.outcomes.isEmpty {
            line += ",\"outcomes\":[" + record.outcomes.map { Self.quoted($0.protoName) }.joined(separator: ",") + "]"
        }
        if !record.reason.isEmpty { line += ",\"reason\":" + Self.quoted(record.reason) }
        if let peer = record.peer { line += ",\"peer\":" + Self.quoted(peer) }
        if record.count != 1 { line += ",\"count\":\(record.count)" }
        line += "}\n"
        // One write per line with O_APPEND, so concurrent writers never interleave within a line.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    /// The `seq` of the last line that has one: 0 for an empty file, nil when the file has
    /// lines but none with a seq (written before lines carried one: nothing to reconcile by).
    func lastSeq() -> Int64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return 0 }
        // Lines are short (ids and reasons are clipped): the last 64 KiB hold the last few.
        let window = min(Int(size), 64 * 1024)
        var tail = [UInt8](repeating: 0, count: window)
        let read = tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress, window, off_t(Int(size) - window)) }
        guard read > 0 else { return nil }
        let text = String(decoding: tail[0..<read], as: UTF8.self)
        for line in text.split(separator: "\n").reversed() {
            guard line.hasPrefix("{\"seq\":") else { continue }
            let digits = line.dropFirst(7).prefix { $0.isNumber }
            if let seq = Int64(digits) { return seq }
        }
        return nil
    }

    /// A JSON string literal. Control characters are already escaped by `CallerText`; quotes and
    /// backslashes are escaped here.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
