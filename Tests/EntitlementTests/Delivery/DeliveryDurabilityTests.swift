import Dispatch
import Foundation
import EntitlementAPI
import ProtoWire
import RPCCore
import Testing

@testable import Entitlement

@Suite("Delivery is durable before it is visible")
struct DeliveryDurabilityTests {
    @Test("an attempt whose commit fails is not visible, and the request can be attempted again")
    func failedAttemptInvisible() async throws {
        try await withEmbeddedStore(requests: [makeRequest("r1", state: .delivering, completedAgo: nil, resources: 2)]) { store, _ in
            let before = try #require(await store.request(id: "r1"))
            #expect(await store.claimDeliveringRequests().map(\.id) == ["r1"])
            await store.injectCommitFailures(1)
            await #expect(throws: StoreError.self) {
                try await store.recordDeliveryAttempt(requestId: "r1", resourceIndex: 0, delivered: true)
            }
            #expect(await store.request(id: "r1") == before)
            let after = try #require(try await store.recordDeliveryAttempt(requestId: "r1", resourceIndex: 0, delivered: true))
            #expect(after.resources[0].attempts == before.resources[0].attempts + 1)
            #expect(after.resources[0].state == .delivered)
        }
    }

    @Test("after a failed commit the store's own probe finds commits succeed again, with no call writing")
    func probeAfterFailedCommit() async throws {
        try await withEmbeddedStore(requests: [makeRequest("r1", state: .delivering, completedAgo: nil, resources: 1)]) { store, _ in
            _ = await store.claimDeliveringRequests()
            await store.probeCommit()  // committing: nothing to probe
            #expect(store.isCommitting)
            await store.injectCommitFailures(2)
            await #expect(throws: StoreError.self) {
                try await store.recordDeliveryAttempt(requestId: "r1", resourceIndex: 0, delivered: true)
            }
            #expect(!store.isCommitting)  // health: NOT_SERVING
            await store.probeCommit()  // the disk is still "full"
            #expect(!store.isCommitting)
            await store.probeCommit()
            #expect(store.isCommitting)  // SERVING again, though no call wrote
        }
    }

    @Test("a settlement whose commit fails leaves the request DELIVERING, in memory and on disk")
    func failedFinishStaysDelivering() async throws {
        try await withTemporaryDirectory { path in
            do {
                let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
                try await store.importFixture(
                    baseFixture(requests: [makeRequest("r1", state: .delivering, completedAgo: nil, resources: 1)]))
                _ = await store.claimDeliveringRequests()
                try await store.recordDeliveryAttempt(requestId: "r1", resourceIndex: 0, delivered: true)
                await store.injectCommitFailures(1)
                await #expect(throws: StoreError.self) { try await store.finishDelivery(requestId: "r1") }
                #expect(await store.request(id: "r1")?.state == .delivering)
                await store.close()
            }
            let reopened = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            let request = try #require(await reopened.request(id: "r1"))
            #expect(request.state == .delivering)
            #expect(request.resources[0].state == .delivered)
            await reopened.close()
        }
    }

    @Test("concurrent attempts on one request's resources all land, even when one commit fails")
    func concurrentAttempts() async throws {
        try await withEmbeddedStore(requests: [makeRequest("r1", state: .delivering, completedAgo: nil, resources: 6)]) { store, _ in
            _ = await store.claimDeliveringRequests()
            await store.injectCommitFailures(1)
            let failures = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<6 {
                    group.addTask {
                        (try? await store.recordDeliveryAttempt(requestId: "r1", resourceIndex: index, delivered: true)) == nil
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            // Whatever failed is retried; then every resource is delivered exactly as attempted.
            let request = try #require(await store.request(id: "r1"))
            for index in request.resources.indices where request.resources[index].state != .delivered {
                try await store.recordDeliveryAttempt(requestId: "r1", resourceIndex: index, delivered: true)
            }
            let settled = try #require(try await store.finishDelivery(requestId: "r1"))
            #expect(failures >= 1)
            #expect(settled.state == .delivered)
            #expect(settled.resources.allSatisfy { $0.state == .delivered })
        }
    }

    @Test("the worker re-queues a delivery stopped by a failed commit; it settles without a restart")
    func workerRetriesAfterStoreFailure() async throws {
        try await withEmbeddedStore(requests: [makeRequest("r1", resources: 2)]) { store, _ in
            let accepted = try await AccessPackageRequestsHandler(store: store)
                .reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
            #expect(accepted.results.map(\.outcome) == [.accepted])
            await store.injectCommitFailures(3)
            let worker = DeliveryWorker(
                store: store, provisioner: BuiltInProvisioner(store: store),
                configuration: DeliveryConfiguration(maxAttempts: 3, baseDelay: .milliseconds(5), maxDelay: .milliseconds(20)))
            let running = Task { await worker.run() }
            defer { running.cancel() }
            let settled = try await waitFor("r1", in: store, limit: .seconds(10)) { $0.state != .delivering }
            #expect(settled.state == .delivered)
            #expect(await store.deliveryRetryCount(requestId: "r1") == 0)
        }
    }
}

@Suite("SQLite writer queue")
struct SQLiteWriterQueueTests {
    @Test("past its bound the writer refuses new work at once with overloaded (UNAVAILABLE)")
    func boundedQueue() async throws {
        try await withTemporaryDirectory { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let database = try SQLiteDatabase(path: path + "/q.sqlite3")
            let writer = SQLiteWriter(database: database, maxPending: 4)
            // One transaction holds the writer thread; the queue behind it fills up.
            let (blocker, release) = holdWriterThread(writer)
            await blocker.started()
            let queued = (0..<4).map { _ in Task { try await writer.perform { _ in 1 } } }
            for _ in 0..<10_000 where writer.pendingCount < 4 { try await Task.sleep(for: .milliseconds(1)) }
            try #require(writer.pendingCount == 4)
            await #expect {
                try await writer.perform { _ in 1 }
            } throws: { error in
                guard case StoreError.overloaded = error else { return false }
                return (error as? StoreError)?.rpcError.code == .unavailable
            }
            release.signal()
            try await blocker.task.value
            for task in queued { #expect(try await task.value == 1) }
            #expect(try await writer.perform { _ in 2 } == 2)
            await writer.close()
        }
    }

    @Test("close commits everything submitted before it, refuses work after it, and may be called again")
    func closeFinishesThenRefuses() async throws {
        try await withTemporaryDirectory { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let database = try SQLiteDatabase(path: path + "/c.sqlite3")
            let writer = SQLiteWriter(database: database)
            try await writer.perform { try $0.execute("CREATE TABLE t (n INTEGER)") }
            // The writer is held busy while 20 inserts queue behind it and close is asked for.
            let (blocker, release, inserts) = try await insertsQueuedBehindHeldWriter(writer, values: 0..<20)
            let closing = Task { await writer.close() }
            release.signal()
            await closing.value
            try await blocker.task.value
            for insert in inserts { try await insert.value }
            await #expect(throws: StoreError.self) { try await writer.perform { _ in 1 } }
            await writer.close()
            let reopened = try SQLiteDatabase(path: path + "/c.sqlite3")
            #expect(try reopened.statement("SELECT COUNT(*) FROM t").firstInt64() == 20)
            reopened.close()
        }
    }

    @Test("after a large batch the writer coalesces, yet commits every later call, a lone one included")
    func coalescingLosesNothing() async throws {
        try await withTemporaryDirectory { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let database = try SQLiteDatabase(path: path + "/k.sqlite3")
            // `fresh` long enough that every batch after the first large one is judged under load.
            let writer = SQLiteWriter(
                database: database, coalescing: .init(minBatch: 4, wait: .milliseconds(1), fresh: .seconds(60)))
            try await writer.perform { try $0.execute("CREATE TABLE t (n INTEGER)") }
            let (blocker, release, crowd) = try await insertsQueuedBehindHeldWriter(writer, values: 0..<8)
            release.signal()
            try await blocker.task.value
            for insert in crowd { try await insert.value }
            // The last batch carried 8 (≥ minBatch), so the next caller, alone, meets the
            // coalescing wait (fewer than half a batch pending): it is committed all the same, and
            // so are the ones after it, in order.
            for n in 8..<11 { try await writer.perform { try $0.execute("INSERT INTO t VALUES (\(n))") } }
            let rows = try await column(of: writer, "SELECT n FROM t ORDER BY rowid")
            #expect(rows.count == 11)
            #expect(Array(rows.suffix(3)) == [8, 9, 10])
            await writer.close()
        }
    }

    @Test("once SQLite has rolled a transaction back itself, the rest of its batch fails unrun, not committed alone")
    func lostTransactionFailsTheRest() async throws {
        try await withTemporaryDirectory { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let database = try SQLiteDatabase(path: path + "/l.sqlite3")
            let writer = SQLiteWriter(database: database)
            try await writer.perform { try $0.execute("CREATE TABLE t (n INTEGER)") }
            let (blocker, release) = holdWriterThread(writer)
            await blocker.started()
            // In one batch, in this order: the transaction is lost (as SQLite loses it on a full
            // disk or an I/O error), then a caller's insert.
            let lost = Task { try await writer.perform(singleStatement: true) { try $0.execute("ROLLBACK") } }
            for _ in 0..<10_000 where writer.pendingCount < 1 { try await Task.sleep(for: .milliseconds(1)) }
            let insert = Task { try await writer.perform(singleStatement: true) { try $0.execute("INSERT INTO t VALUES (1)") } }
            for _ in 0..<10_000 where writer.pendingCount < 2 { try await Task.sleep(for: .milliseconds(1)) }
            try #require(writer.pendingCount == 2)
            release.signal()
            try await blocker.task.value
            await #expect(throws: (any Error).self) { try await lost.value }
            await #expect(throws: (any Error).self, "its caller is told it failed") { try await insert.value }
            let count = { try await writer.perform { try $0.statement("SELECT COUNT(*) FROM t").firstInt64() } }
            #expect(try await count() == 0, "and it did not commit on its own")
            try await writer.perform(singleStatement: true) { try $0.execute("INSERT INTO t VALUES (2)") }
            #expect(try await count() == 1, "the next transaction works")
            await writer.close()
        }
    }

    @Test("a single-statement operation that fails leaves the rest of its transaction committed")
    func singleStatementFailsAlone() async throws {
        try await withTemporaryDirectory { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let database = try SQLiteDatabase(path: path + "/s.sqlite3")
            let writer = SQLiteWriter(database: database)
            try await writer.perform { try $0.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)") }
            let (blocker, release) = holdWriterThread(writer)
            await blocker.started()
            // One batch: 1 and 3 commit; the duplicate 1 fails alone, its statement rolled back.
            let inserts = [1, 1, 3].map { n in
                Task { try await writer.perform(singleStatement: true) { try $0.execute("INSERT INTO t VALUES (\(n))") } }
            }
            for _ in 0..<10_000 where writer.pendingCount < 3 { try await Task.sleep(for: .milliseconds(1)) }
            release.signal()
            try await blocker.task.value
            var failures = 0
            for insert in inserts {
                do { try await insert.value } catch { failures += 1 }
            }
            #expect(failures == 1)
            let rows = try await column(of: writer, "SELECT n FROM t ORDER BY n")
            #expect(rows == [1, 3])
            await writer.close()
        }
    }

    @Test("a writer never used closes at once, and refuses work afterwards")
    func unusedWriterCloses() async throws {
        try await withTemporaryDirectory { path in
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let writer = SQLiteWriter(database: try SQLiteDatabase(path: path + "/u.sqlite3"))
            await writer.close()
            await #expect(throws: StoreError.self) { try await writer.perform { _ in 1 } }
            await writer.close()
        }
    }
}

/// The first column of every row `sql` selects, read on the writer thread.
private func column(of writer: SQLiteWriter, _ sql: String) async throws -> [Int64] {
    try await writer.perform { database in
        let select = try database.statement(sql)
        var values: [Int64] = []
        while try select.step() { values.append(select.int64(at: 0)) }
        return values
    }
}

/// `INSERT INTO t` of each value, all pending behind a transaction that holds the writer thread
/// (see `holdWriterThread`), so they reach it as one batch once `release` is signalled.
private func insertsQueuedBehindHeldWriter(
    _ writer: SQLiteWriter, values: Range<Int>
) async throws -> (blocker: HeldWriter, release: DispatchSemaphore, inserts: [Task<Void, any Error>]) {
    let (blocker, release) = holdWriterThread(writer)
    await blocker.started()
    let inserts = values.map { n in Task { try await writer.perform { try $0.execute("INSERT INTO t VALUES (\(n))") } } }
    for _ in 0..<10_000 where writer.pendingCount < values.count { try await Task.sleep(for: .milliseconds(1)) }
    try #require(writer.pendingCount == values.count)
    return (blocker, release, inserts)
}

/// A transaction that holds the writer thread until `release` is signalled. The test awaits its
/// start instead of blocking on it: a test blocking a thread of the concurrency pool (as wide as
/// the cores) can starve the very task it waits for.
private func holdWriterThread(_ writer: SQLiteWriter) -> (blocker: HeldWriter, release: DispatchSemaphore) {
    let release = DispatchSemaphore(value: 0)
    let (started, signal) = AsyncStream<Void>.makeStream()
    // The wait for `release` is on the writer's own thread, never on the pool.
    let task = Task { try await writer.perform { _ in signal.yield(); release.wait() } }
    return (HeldWriter(task: task, startedSignals: started), release)
}

private struct HeldWriter {
    let task: Task<Void, any Error>
    let startedSignals: AsyncStream<Void>

    func started() async {
        for await _ in startedSignals { return }
    }
}
