import Entitlement
import EntitlementAPI
import Foundation
import ProtoWire
import Testing

@Suite("Persistence")
struct PersistenceTests {
    @Test("an acceptance survives reopening, and the reopened store delivers it")
    func acceptanceSurvivesReopen() async throws {
        try await withTemporaryDirectory { path in
            let clock = ManualWallClock(testNow)
            let token: String
            do {
                let store = try RequestStore(directory: path, clock: clock)
                try await store.importFixture(
                    baseFixture(requests: (0..<5).map { makeRequest("r\($0)", createdAt: Int64($0)) }))
                let handler = AccessPackageRequestsHandler(store: store)
                let response = try await handler.reprocess(reprocessRequest(ids: ["r1", "r2"]), context: makeContext())
                #expect(response.results.map(\.outcome) == [.accepted, .accepted])
                token = try await handler.listRequests(listRequest(pageSize: 2), context: makeContext()).nextPageToken
                await store.close()
            }

            let store = try RequestStore(directory: path, clock: clock)
            #expect(await store.countRequests() == 5)
            let reopened = try #require(await store.request(id: "r1"))
            #expect(reopened.state == .delivering)
            #expect(reopened.reprocessCount == 1)
            #expect(reopened.lastReprocessedAt == testNow)
            #expect(reopened.resources.allSatisfy { $0.state == .pending })
            #expect(
                await store.accessPackage(id: "ap-1")
                    == AccessPackageInfo(id: "ap-1", catalogId: "cat-a", displayName: "CRM users"))
            #expect(await store.catalogRoles(principalId: "oid-7") == ["cat-a": [.owner]])
            #expect(try await store.auditRecords(limit: 5).map(\.outcomes) == [[.accepted, .accepted]])

            // The page-token key is kept in the data dir, so tokens survive restarts.
            let page = try await AccessPackageRequestsHandler(store: store)
                .listRequests(listRequest(pageSize: 2, pageToken: token), context: makeContext())
            #expect(page.decoded.requests.map(\.id) == ["r2", "r1"])

            let worker = DeliveryWorker(
                store: store, provisioner: BuiltInProvisioner(store: store),
                configuration: DeliveryConfiguration(baseDelay: .milliseconds(1), maxDelay: .milliseconds(2)))
            let running = Task { await worker.run() }
            defer { running.cancel() }
            for id in ["r1", "r2"] {
                #expect(try await waitFor(id, in: store) { $0.state != .delivering }.state == .delivered)
            }
            await store.close()
        }
    }

    @Test("delivery progress is persisted as it happens")
    func deliveryPersisted() async throws {
        try await withTemporaryDirectory { path in
            do {
                let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
                try await store.importFixture(baseFixture(requests: [makeRequest("r1")]))
                let worker = DeliveryWorker(
                    store: store, provisioner: FailingProvisioner(failing: ["res-1"]),
                    configuration: DeliveryConfiguration(maxAttempts: 2, baseDelay: .milliseconds(1)))
                let running = Task { await worker.run() }
                _ = try await AccessPackageRequestsHandler(store: store)
                    .reprocess(reprocessRequest(ids: ["r1"]), context: makeContext())
                _ = try await waitFor("r1", in: store) { $0.state != .delivering }
                running.cancel()
                await running.value
                await store.close()
            }
            let store = try RequestStore(directory: path)
            let request = try #require(await store.request(id: "r1"))
            #expect(request.state == .partiallyDelivered)
            #expect(request.resources.map(\.attempts) == [3, 2])
            await store.close()
        }
    }

    @Test("the data dir and page-token key are created with private permissions")
    func permissions() async throws {
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path + "/nested/dir")
            let attributes = try FileManager.default.attributesOfItem(atPath: path + "/nested/dir/page-token.key")
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            #expect((attributes[.size] as? NSNumber)?.intValue == 32)
            #expect(FileManager.default.fileExists(atPath: path + "/nested/dir/entitlement.sqlite3"))
            await store.close()
        }
    }

    @Test("ids holding NUL and other control bytes are stored whole and survive reopening")
    func controlBytesInIds() async throws {
        try await withTemporaryDirectory { path in
            let odd = "req\u{0}with-nul\nand-newline"
            do {
                let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
                try await store.importFixture(baseFixture(requests: [makeRequest(odd)]))
                await store.close()
            }
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            #expect(await store.request(id: odd)?.id == odd)
            await store.close()
        }
    }
}
