@testable import Entitlement
import EntitlementAPI
import Testing

@Suite("The WAL stays bounded")
struct WALCheckpointTests {
    /// A statement left on a row held a read transaction open from start-up on: no checkpoint
    /// could pass it, the main file never received a page and the WAL grew by every commit.
    @Test("between writes the store holds no read transaction, so a checkpoint copies the whole WAL")
    func checkpointPassesTheStore() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: (0..<50).map { makeRequest("r\($0)") }))
            _ = try await AccessPackageRequestsHandler(store: store)
                .reprocess(reprocessRequest(ids: ["r1", "r2"]), context: makeContext())
            #expect(try await store.grantCount() == 0)

            let other = try SQLiteDatabase(path: path + "/entitlement.sqlite3")
            let checkpoint = try other.statement("PRAGMA wal_checkpoint(PASSIVE)")
            #expect(try checkpoint.step())
            let (busy, frames, copied) = (checkpoint.int64(at: 0), checkpoint.int64(at: 1), checkpoint.int64(at: 2))
            checkpoint.reset()
            other.close()
            await store.close()
            #expect(busy == 0)
            #expect(frames > 0)
            #expect(copied == frames, "a reader left open stops the checkpoint short of the WAL's end")
        }
    }
}
