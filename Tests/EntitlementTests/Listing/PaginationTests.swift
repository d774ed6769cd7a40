import Entitlement
import EntitlementAPI
import RPCCore
import Testing

@Suite("Keyset pagination")
struct PaginationTests {
    /// 5,000 requests; created_at collides in groups of 3 so the id tie-break matters.
    static let requests: [AccessPackageRequest] = (0..<5_000).map { n in
        makeRequest(
            "req-\(n)", state: n % 4 == 0 ? .delivered : .deliveryFailed,
            createdAt: testNow.seconds - 3 * day + Int64(n / 3), completedAgo: day, resources: 1)
    }

    static let expectedOrder: [String] = requests.sorted { ListingKey($0) < ListingKey($1) }.map(\.id)

    /// Pages through `ap-1` by `pageSize`, returning the ids in the order received.
    static func pageThrough(
        _ handler: AccessPackageRequestsHandler, states: [RequestState] = [], pageSize: Int32
    ) async throws -> [String] {
        var ids: [String] = []
        var token = ""
        var pages = 0
        repeat {
            let response = try await handler.listRequests(
                listRequest(states: states, pageSize: pageSize, pageToken: token), context: makeContext())
            #expect(response.requests.count <= Int(pageSize))
            ids += response.decoded.requests.map(\.id)
            token = response.nextPageToken
            pages += 1
        } while !token.isEmpty && pages < 10_000
        return ids
    }

    @Test("5,000 requests paged by 7 come back each exactly once, in order", arguments: StoreKind.all)
    func pagesEveryRequestOnce(kind: StoreKind) async throws {
        try await withStore(kind, requests: Self.requests) { store, _ in
            let ids = try await Self.pageThrough(AccessPackageRequestsHandler(store: store), pageSize: 7)
            #expect(ids.count == 5_000)
            #expect(ids == Self.expectedOrder)
        }
    }

    @Test("requests with ids as long as an import takes page one by one", arguments: StoreKind.all)
    func longestIds(kind: StoreKind) async throws {
        let ids = ["a", "b", "c"].map { String(repeating: $0 + "ü", count: Fixture.maxIdBytes / 3) }
        let requests = ids.map { makeRequest($0, state: .deliveryFailed, createdAt: testNow.seconds - day) }
        try await withStore(kind, requests: requests) { store, _ in
            let listed = try await Self.pageThrough(AccessPackageRequestsHandler(store: store), pageSize: 1)
            #expect(listed == ids)
        }
    }

    @Test("a state-filtered listing pages through exactly the matching requests", arguments: StoreKind.all)
    func filteredPaging(kind: StoreKind) async throws {
        try await withStore(kind, requests: Self.requests) { store, _ in
            let ids = try await Self.pageThrough(
                AccessPackageRequestsHandler(store: store), states: [.delivered], pageSize: 7)
            let expected = Self.expectedOrder.filter { Int($0.dropFirst(4))! % 4 == 0 }
            #expect(ids == expected)
        }
    }

    @Test("paging while other requests are reprocessed never repeats or skips an unchanged request", arguments: StoreKind.all)
    func pagingDuringReprocess(kind: StoreKind) async throws {
        try await withStore(kind, requests: Self.requests) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            // Every request with n % 4 == 1 is reprocessed (DELIVERY_FAILED → DELIVERING) while paging.
            let changing = Self.requests.map(\.id).filter { Int($0.dropFirst(4))! % 4 == 1 }
            async let reprocessing: Void = {
                for batch in stride(from: 0, to: changing.count, by: 25) {
                    let ids = Array(changing[batch..<min(batch + 25, changing.count)])
                    let response = try await handler.reprocess(reprocessRequest(ids: ids), context: makeContext())
                    #expect(response.results.allSatisfy { $0.outcome == .accepted })
                    await Task.yield()
                }
            }()
            let unfiltered = try await Self.pageThrough(handler, pageSize: 7)
            let filtered = try await Self.pageThrough(handler, states: [.delivered, .deliveryFailed], pageSize: 7)
            try await reprocessing

            #expect(unfiltered == Self.expectedOrder)
            // In the filtered listing a changing request may appear or not; everything else exactly once, in order.
            let changingSet = Set(changing)
            #expect(Set(filtered).count == filtered.count)
            #expect(
                filtered.filter { !changingSet.contains($0) } == Self.expectedOrder.filter { !changingSet.contains($0) }
            )
            let positions = Dictionary(uniqueKeysWithValues: Self.expectedOrder.enumerated().map { ($1, $0) })
            #expect(filtered.map { positions[$0]! } == filtered.map { positions[$0]! }.sorted())
        }
    }
}
