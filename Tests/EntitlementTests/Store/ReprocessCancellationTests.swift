@testable import Entitlement
import Dispatch
import EntitlementAPI
import Testing

/// A Reprocess whose caller gives up (deadline, cancel) while it waits for its transaction is
/// dropped, not committed after the caller was told it failed.
@Suite("A Reprocess abandoned before its commit")
struct ReprocessCancellationTests {
    @Test("is not carried out, and its audit row says the caller gave up")
    func abandonedBeforeCommit() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
            let handler = AccessPackageRequestsHandler(store: store)

            // Hold the writer thread, so the call waits for its transaction.
            let entered = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let holder = Task {
                try await store.write { _ in
                    entered.signal()
                    release.wait()
                }
            }
            while entered.wait(timeout: .now()) == .timedOut { try await Task.sleep(for: .milliseconds(1)) }

            let call = Task { try await handler.reprocess(reprocessRequest(ids: ["r1"]), context: makeContext()) }
            while store.writer.pendingCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
            call.cancel()
            release.signal()
            try await holder.value

            await #expect(throws: StoreError.self) { try await call.value }
            let stored = try #require(await store.request(id: "r1"))
            #expect(stored.state == .deliveryFailed && stored.reprocessCount == 0)
            let last = try #require(try await store.auditRecords(limit: 1).last)
            #expect(last.decision == .rejected && last.reason.contains("gave up"), "\(last)")
            await store.close()
        }
    }
}
