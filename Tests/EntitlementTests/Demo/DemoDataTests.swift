import Entitlement
import EntitlementAPI
import Testing

@Suite("Demo data")
struct DemoDataTests {
    @Test("the demo is deterministic, covers every state, and has reprocessable and expired failures")
    func shape() async throws {
        #expect(DemoData.fixture(now: testNow).requests == DemoData.fixture(now: testNow).requests)
        try await withTemporaryDirectory { path in
            let store = try RequestStore(directory: path, clock: ManualWallClock(testNow))
            let summary = try await DemoData.populate(store: store, now: testNow)
            #expect(summary.requestsInserted >= 200)
            #expect(try await DemoData.populate(store: store, now: testNow).totalInserted == 0)

            let requests = DemoData.fixture(now: testNow).requests
            let states = Set(requests.map(\.state))
            #expect(states.isSuperset(of: RequestState.allKnownCases.filter { $0 != .unspecified }))
            let policy = ReprocessPolicy()
            let outcomes = requests.map {
                policy.evaluate(requestId: $0.id, request: $0, accessPackageId: $0.accessPackageId, now: testNow)
                    .outcome
            }
            #expect(outcomes.contains(.accepted))
            #expect(outcomes.contains(.windowExpired))
            #expect(await store.catalogRoles(principalId: DemoData.salesOwnerObjectId) == ["cat-sales": [.owner]])
            await store.close()
        }
    }
}
