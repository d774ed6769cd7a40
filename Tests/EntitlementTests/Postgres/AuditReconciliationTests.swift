@testable import EntitlementPostgres
import Testing

/// Which audit rows a replica restarted after kill -9 looks for in its audit.log.
@Suite struct AuditReconciliationTests {
    /// Lines in commit order: seqs out of place by up to `spread` (calls in flight), as concurrent
    /// Reprocess calls write them.
    static func commitOrder(_ seqs: ClosedRange<Int64>, spread: Int) -> [Int64] {
        var lines = Array(seqs)
        for i in stride(from: 0, to: lines.count - spread, by: spread) { lines[i..<(i + spread)].reverse() }
        return lines
    }

    @Test("no line before the file's last ones is taken for a missing one; the lost last commits are")
    func firstSeqToReconcile() {
        let file = Self.commitOrder(1...5_000, spread: 40)
        let window = Array(file.suffix(1_990))  // what recentSeqs reads: its start cuts a block
        let before = file.dropLast(1_990)
        let from = PostgresRequestStore.firstSeqToReconcile(recentSeqs: window)
        // Each line before the window has a lower seq, so none is appended a second time
        // (the window's lowest seq let some of them through).
        #expect(before.allSatisfy { $0 < from })
        #expect(window.min()! < before.max()!)  // what made the old rule append twice
        // The last commits, lost by a kill before their lines were written, are looked for.
        #expect(from <= 4_900)
        #expect(PostgresRequestStore.firstSeqToReconcile(recentSeqs: []) == 0)
    }
}
