import RPCCore

/// Aggregates audit rows of refused (unauthenticated or denied) Reprocess calls, so a flood of
/// them cannot fill the disk: at most one row per peer, caller and reason per second, then a
/// summary row for the calls held back in that second, carrying how many they were and the
/// distinct ids they named on the newest call's package (up to `maxSummaryIds`; the package and
/// time are the newest call's), and each distinct reason with how many calls had it (so one call
/// with another reason last cannot hide a run of forged signatures behind its own).
/// Authorized calls never pass through here: each keeps its row.
///
/// Bounded: it tracks at most `maxKeys` keys; past that, new keys share one overflow key.
package struct RefusalAuditThrottle: Sendable {
    package init() {}

    struct Key: Hashable, Sendable {
        var peerHost: String
        var caller: String?
        /// The status name the reason starts with ("UNAUTHENTICATED", "PERMISSION_DENIED").
        var code: String
    }

    /// What to do with one refused call.
    enum Admission: Equatable {
        /// Write this call's row, after `summary`: the calls held back in the key's last window,
        /// when it ended before a flush wrote them.
        case write(summary: AuditRecord?)
        /// Held back: a row for this key was written less than a window ago.
        case held
    }

    static let window: Int64 = 1_000_000_000
    static let maxKeys = 4_096
    static let overflowKey = Key(peerHost: "*", caller: nil, code: "*")

    /// The most distinct request ids a summary row lists.
    static let maxSummaryIds = 100
    /// The most distinct reasons a summary row counts; the rest are counted together.
    static let maxSummaryReasons = 8

    private struct Entry {
        var windowStart: Int64
        var held: Int
        /// A record of the newest held call, for the summary row.
        var last: AuditRecord?
        /// The distinct ids the held calls named, in first-seen order, up to `maxSummaryIds`.
        var heldIds: [String] = []
        /// How many held calls had each reason, in first-seen order, up to `maxSummaryReasons`.
        var reasons: [(reason: String, count: Int)] = []
        var otherReasons = 0
    }

    private var entries: [Key: Entry] = [:]

    /// Whether any call is held back (a flush is then due once its window has passed).
    var hasHeld: Bool { entries.values.contains { $0.held > 0 } }

    mutating func admit(_ key: Key, record: AuditRecord, now: Int64) -> Admission {
        var key = key
        if entries[key] == nil, entries.count >= Self.maxKeys { key = Self.overflowKey }
        guard var entry = entries[key], now - entry.windowStart < Self.window else {
            let summary = entries[key].flatMap { Self.summary(of: $0, key: key) }
            entries[key] = Entry(windowStart: now, held: 0, last: nil)
            return .write(summary: summary)
        }
        entry.held += 1
        // The summary names the newest call's package, so only ids of calls on it: a call on
        // another package starts the list again. Ids compare by bytes, as the stores do.
        if entry.last?.accessPackageId.hasSameBytes(as: record.accessPackageId) != true { entry.heldIds.removeAll() }
        entry.last = record
        if let index = entry.reasons.firstIndex(where: { $0.reason == record.reason }) {
            entry.reasons[index].count += 1
        } else if entry.reasons.count < Self.maxSummaryReasons {
            entry.reasons.append((record.reason, 1))
        } else {
            entry.otherReasons += 1
        }
        for id in record.requestIds
        where entry.heldIds.count < Self.maxSummaryIds && !entry.heldIds.contains(where: { $0.hasSameBytes(as: id) }) {
            entry.heldIds.append(id)
        }
        entries[key] = entry
        return .held
    }

    /// Summary rows for calls held back in windows that have ended, one per key; forgets keys
    /// with nothing left to report.
    mutating func flush(now: Int64) -> [AuditRecord] {
        var rows: [AuditRecord] = []
        for (key, entry) in entries where now - entry.windowStart >= Self.window {
            if let row = Self.summary(of: entry, key: key) { rows.append(row) }
            entries[key] = nil
        }
        return rows
    }

    /// The summary row of an entry's held calls: who, when, why and which package of the newest,
    /// how many they were, and the ids they named on that package; nil if none were held. The
    /// overflow key's row names no caller or peer: its calls came from many.
    private static func summary(of entry: Entry, key: Key) -> AuditRecord? {
        guard entry.held > 0, var last = entry.last else { return nil }
        last.count = entry.held
        last.requestIds = entry.heldIds
        if key == overflowKey {
            last.callerObjectId = nil
            last.peer = nil
            let reasons = entry.reasons.sorted { $0.count > $1.count }.map { "\($0.count)× \(Self.clipped($0.reason, to: 120))" }
                + (entry.otherReasons > 0 ? ["\(entry.otherReasons)× other reasons"] : [])
            last.reason = Self.clipped(
                "calls from more than \(maxKeys) peer, caller and status combinations in one second, counted together "
                    + "(package and ids: the newest call's): "
                    + reasons.joined(separator: "; "),
                to: CallerText.maxMessageBytes)
        } else if entry.reasons.count > 1 || entry.otherReasons > 0 {
            // Most frequent first: "9× UNAUTHENTICATED: bad signature; 1× UNAUTHENTICATED: …".
            // Each reason clipped, so a long one cannot push the rare ones out of the row.
            var parts = entry.reasons.sorted { $0.count > $1.count }.map { "\($0.count)× \(Self.clipped($0.reason, to: 120))" }
            if entry.otherReasons > 0 { parts.append("\(entry.otherReasons)× other reasons") }
            last.reason = Self.clipped(parts.joined(separator: "; "), to: CallerText.maxMessageBytes)
        }
        return last
    }

    /// At most `limit` bytes (the reasons are cleaned already: only cut).
    private static func clipped(_ text: String, to limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var out = ""
        for character in text {
            guard out.utf8.count + character.utf8.count <= limit else { break }
            out.append(character)
        }
        return out + "…"
    }
}
