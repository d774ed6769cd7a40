import Entitlement
import EntitlementAPI
import ProtoWire
import RPCCore
import Testing

@Suite("ListRequests")
struct ListRequestsTests {
    @Test("an empty access_package_id is INVALID_ARGUMENT", arguments: StoreKind.all)
    func emptyPackage(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            await expectRPCError(.invalidArgument, containing: "access_package_id") {
                _ = try await handler.listRequests(listRequest(""), context: makeContext())
            }
        }
    }

    @Test("an unknown access package is NOT_FOUND", arguments: StoreKind.all)
    func unknownPackage(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            await expectRPCError(.notFound, containing: "ap-404") {
                _ = try await handler.listRequests(listRequest("ap-404"), context: makeContext())
            }
        }
    }

    @Test("an unknown access package with a page token is NOT_FOUND, not a token error", arguments: StoreKind.all)
    func unknownPackageWithToken(kind: StoreKind) async throws {
        try await withStore(kind, requests: (0..<3).map { makeRequest("r\($0)", createdAt: Int64($0)) }) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            let token = try await handler.listRequests(listRequest(pageSize: 1), context: makeContext()).nextPageToken
            await expectRPCError(.notFound, containing: "ap-404") {
                _ = try await handler.listRequests(listRequest("ap-404", pageToken: token), context: makeContext())
            }
        }
    }

    @Test("a package without requests lists nothing and no token", arguments: StoreKind.all)
    func emptyPackageListing(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let response = try await AccessPackageRequestsHandler(store: store)
                .listRequests(listRequest("ap-2"), context: makeContext())
            #expect(response.requests.isEmpty)
            #expect(response.nextPageToken.isEmpty)
        }
    }

    @Test("order is created_at descending, then id ascending; other packages are not listed", arguments: StoreKind.all)
    func ordering(kind: StoreKind) async throws {
        let requests = [
            makeRequest("b", createdAt: 100), makeRequest("a", createdAt: 100), makeRequest("c", createdAt: 300),
            makeRequest("d", createdAt: 200), makeRequest("x", package: "ap-2", createdAt: 250),
        ]
        try await withStore(kind, requests: requests) { store, _ in
            let response = try await AccessPackageRequestsHandler(store: store)
                .listRequests(listRequest(), context: makeContext())
            #expect(response.decoded.requests.map(\.id) == ["c", "d", "a", "b"])
            #expect(response.decoded.requests.allSatisfy { $0.catalogId == "cat-a" })
        }
    }

    @Test("sub-second created_at orders by nanoseconds", arguments: StoreKind.all)
    func nanosecondOrdering(kind: StoreKind) async throws {
        var early = makeRequest("early", createdAt: 100)
        early.createdAt = Timestamp(seconds: 100, nanos: 1)
        var late = makeRequest("late", createdAt: 100)
        late.createdAt = Timestamp(seconds: 100, nanos: 900_000_000)
        try await withStore(kind, requests: [early, late]) { store, _ in
            let response = try await AccessPackageRequestsHandler(store: store)
                .listRequests(listRequest(), context: makeContext())
            #expect(response.decoded.requests.map(\.id) == ["late", "early"])
        }
    }

    @Test(
        "states filter: empty means all, otherwise any of them",
        arguments: StoreKind.all, [
            ([RequestState](), ["r6", "r5", "r4", "r3", "r2", "r1"]),
            ([.delivered], ["r5", "r2"]),
            ([.deliveryFailed, .submitted], ["r6", "r3", "r1"]),
            ([.delivered, .delivered], ["r5", "r2"]),
            ([.canceled], []),
        ])
    func stateFilter(kind: StoreKind, _ arguments: ([RequestState], [String])) async throws {
        let (states, expected) = arguments
        let requests = [
            makeRequest("r1", state: .deliveryFailed, createdAt: 1), makeRequest("r2", state: .delivered, createdAt: 2),
            makeRequest("r3", state: .submitted, createdAt: 3),
            makeRequest("r4", state: .partiallyDelivered, createdAt: 4),
            makeRequest("r5", state: .delivered, createdAt: 5), makeRequest("r6", state: .deliveryFailed, createdAt: 6),
        ]
        try await withStore(kind, requests: requests) { store, _ in
            let response = try await AccessPackageRequestsHandler(store: store)
                .listRequests(listRequest(states: states), context: makeContext())
            #expect(response.decoded.requests.map(\.id) == expected)
        }
    }

    @Test("an unrecognized state value is INVALID_ARGUMENT naming it", arguments: StoreKind.all)
    func unrecognizedState(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            await expectRPCError(.invalidArgument, containing: "42") {
                _ = try await handler.listRequests(
                    listRequest(states: [.delivered, RequestState(rawValue: 42)]), context: makeContext())
            }
        }
    }

    @Test("REQUEST_STATE_UNSPECIFIED is not a filter", arguments: StoreKind.all)
    func unspecifiedState(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            await expectRPCError(.invalidArgument, containing: "REQUEST_STATE_UNSPECIFIED") {
                _ = try await handler.listRequests(listRequest(states: [.unspecified]), context: makeContext())
            }
        }
    }

    @Test("page_size: negative is INVALID_ARGUMENT", arguments: StoreKind.all)
    func negativePageSize(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            await expectRPCError(.invalidArgument, containing: "page_size") {
                _ = try await handler.listRequests(listRequest(pageSize: -1), context: makeContext())
            }
        }
    }

    @Test(
        "page_size: 0 means 50, above 1000 means 1000",
        arguments: StoreKind.all, [
            (Int32(0), 50), (Int32(1), 1), (Int32(7), 7), (Int32(1000), 1000), (Int32(1001), 1000), (Int32.max, 1000),
        ])
    func pageSizes(kind: StoreKind, _ arguments: (Int32, Int)) async throws {
        let (pageSize, expected) = arguments
        let requests = (0..<1_100).map { makeRequest("req-\($0)", createdAt: Int64($0)) }
        try await withStore(kind, requests: requests) { store, _ in
            let response = try await AccessPackageRequestsHandler(store: store)
                .listRequests(listRequest(pageSize: pageSize), context: makeContext())
            #expect(response.requests.count == expected)
            #expect(!response.nextPageToken.isEmpty)
        }
    }

    @Test("the last page has no next_page_token, even when it is exactly full", arguments: StoreKind.all)
    func lastPage(kind: StoreKind) async throws {
        let requests = (0..<10).map { makeRequest("req-\($0)", createdAt: Int64($0)) }
        try await withStore(kind, requests: requests) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            let first = try await handler.listRequests(listRequest(pageSize: 5), context: makeContext())
            #expect(first.requests.count == 5)
            #expect(!first.nextPageToken.isEmpty)
            let second = try await handler.listRequests(
                listRequest(pageSize: 5, pageToken: first.nextPageToken), context: makeContext())
            #expect(second.decoded.requests.map(\.id) == ["req-4", "req-3", "req-2", "req-1", "req-0"])
            #expect(second.nextPageToken.isEmpty)
        }
    }

    @Test(
        "a token reused with another access_package_id or other states is INVALID_ARGUMENT",
        arguments: StoreKind.all, [
            ("ap-2", [RequestState]()),
            ("ap-1", [RequestState.delivered]),
            ("ap-1", [RequestState.deliveryFailed, .delivered]),
        ])
    func reusedToken(kind: StoreKind, _ arguments: (String, [RequestState])) async throws {
        let (packageId, states) = arguments
        let requests = (0..<10).map { makeRequest("req-\($0)", state: .deliveryFailed, createdAt: Int64($0)) }
        try await withStore(kind, requests: requests) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            let first = try await handler.listRequests(
                listRequest(states: [.deliveryFailed], pageSize: 3), context: makeContext())
            await expectRPCError(.invalidArgument, containing: "different access_package_id or states") {
                _ = try await handler.listRequests(
                    listRequest(packageId, states: states, pageSize: 3, pageToken: first.nextPageToken),
                    context: makeContext())
            }
        }
    }

    @Test("the same states in another order or repeated keep the token valid", arguments: StoreKind.all)
    func statesOrderIrrelevant(kind: StoreKind) async throws {
        let requests = (0..<10).map {
            makeRequest("req-\($0)", state: $0 % 2 == 0 ? .delivered : .deliveryFailed, createdAt: Int64($0))
        }
        try await withStore(kind, requests: requests) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            let first = try await handler.listRequests(
                listRequest(states: [.delivered, .deliveryFailed], pageSize: 3), context: makeContext())
            let second = try await handler.listRequests(
                listRequest(
                    states: [.deliveryFailed, .delivered, .delivered], pageSize: 3, pageToken: first.nextPageToken),
                context: makeContext())
            #expect(second.decoded.requests.map(\.id) == ["req-6", "req-5", "req-4"])
        }
    }

    @Test("a tampered or garbage token is INVALID_ARGUMENT saying so", arguments: StoreKind.all)
    func tamperedToken(kind: StoreKind) async throws {
        let requests = (0..<10).map { makeRequest("req-\($0)", createdAt: Int64($0)) }
        try await withStore(kind, requests: requests) { store, _ in
            let handler = AccessPackageRequestsHandler(store: store)
            let token = try await handler.listRequests(listRequest(pageSize: 3), context: makeContext()).nextPageToken
            var bytes = Array(token.utf8)
            let middle = bytes.count / 2
            bytes[middle] = bytes[middle] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let tampered = String(decoding: bytes, as: UTF8.self)
            await expectRPCError(.invalidArgument, containing: "tampered") {
                _ = try await handler.listRequests(
                    listRequest(pageSize: 3, pageToken: tampered), context: makeContext())
            }
            for garbage in ["garbage!", "abc", String(repeating: "A", count: 80), "💥"] {
                await expectRPCError(.invalidArgument, containing: "page_token") {
                    _ = try await handler.listRequests(
                        listRequest(pageSize: 3, pageToken: garbage), context: makeContext())
                }
            }
        }
    }

    @Test("a token signed with another data dir's key is refused", arguments: StoreKind.all)
    func foreignKey(kind: StoreKind) async throws {
        let requests = (0..<10).map { makeRequest("req-\($0)", createdAt: Int64($0)) }
        let token = try await withStore(kind, requests: requests) { store, _ in
            try await AccessPackageRequestsHandler(store: store)
                .listRequests(listRequest(pageSize: 3), context: makeContext()).nextPageToken
        }
        try await withStore(kind, requests: requests) { store, _ in
            await expectRPCError(.invalidArgument, containing: "tampered") {
                _ = try await AccessPackageRequestsHandler(store: store)
                    .listRequests(listRequest(pageSize: 3, pageToken: token), context: makeContext())
            }
        }
    }
}
