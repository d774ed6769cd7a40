import Entitlement
import EntitlementPostgres
import EntitlementAPI
import Foundation
import ProtoWire
import RPCCore
import Testing

/// A fixed "now" for tests: 2027-01-15T08:00:00Z.
let testNow = Timestamp(seconds: 1_800_000_000)
let day: Int64 = 86_400

/// A fresh data directory, removed when `body` ends.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = NSTemporaryDirectory() + "entitlement-tests-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// The stores the domain tests run against: the embedded one always, the PostgreSQL one when
/// `ENTITLEMENT_TEST_POSTGRES` names a server (the test command starts a throwaway cluster).
enum StoreKind: String, CustomTestStringConvertible, Sendable {
    case embedded
    case postgres

    static var all: [StoreKind] { PostgresTestDatabase.serverURL == nil ? [.embedded] : [.embedded, .postgres] }

    var testDescription: String { rawValue }
}

/// A store of `kind`, fresh (its own data dir, and its own database for PostgreSQL), with catalogs
/// `cat-a`/`cat-b` and packages `ap-1` (cat-a), `ap-2` (cat-b), plus the given requests.
func withStore<T>(
    _ kind: StoreKind,
    clock: ManualWallClock = ManualWallClock(testNow),
    requests: [AccessPackageRequest] = [],
    _ body: (any RequestStoring, ManualWallClock) async throws -> T
) async throws -> T {
    switch kind {
    case .embedded:
        return try await withEmbeddedStore(clock: clock, requests: requests) { try await body($0, $1) }
    case .postgres:
        return try await withPostgresStore(clock: clock, requests: requests) { store, _ in try await body(store, clock) }
    }
}

/// The PostgreSQL store on a database of its own, for tests that also reach the database
/// (`url`) or what only this store has.
func withPostgresStore<T>(
    clock: ManualWallClock = ManualWallClock(testNow),
    requests: [AccessPackageRequest] = [],
    _ body: (PostgresRequestStore, PostgresStoreURL) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { path in
        try await PostgresTestDatabase.with { url in
            let store = try await PostgresRequestStore.connect(url: url, directory: path, clock: clock)
            do {
                try await store.importFixture(baseFixture(requests: requests))
                let result = try await body(store, url)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        }
    }
}

/// The embedded store, for tests of what only it has (its files, injected commit failures).
func withEmbeddedStore<T>(
    clock: ManualWallClock = ManualWallClock(testNow),
    requests: [AccessPackageRequest] = [],
    _ body: (RequestStore, ManualWallClock) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { path in
        let store = try RequestStore(directory: path, clock: clock)
        try await store.importFixture(baseFixture(requests: requests))
        let result = try await body(store, clock)
        await store.close()
        return result
    }
}

func baseFixture(requests: [AccessPackageRequest] = []) -> Fixture {
    Fixture(
        catalogs: [CatalogInfo(id: "cat-a", displayName: "Sales"), CatalogInfo(id: "cat-b", displayName: "Finance")],
        accessPackages: [
            AccessPackageInfo(id: "ap-1", catalogId: "cat-a", displayName: "CRM users"),
            AccessPackageInfo(id: "ap-2", catalogId: "cat-b", displayName: "Ledger"),
        ],
        roleAssignments: [RoleAssignment(principalId: "oid-7", catalogId: "cat-a", role: .owner)],
        requests: requests)
}

/// A request created `createdAt` seconds after the epoch, completed `completedAgo` seconds before `testNow`.
func makeRequest(
    _ id: String,
    package: String = "ap-1",
    state: RequestState = .deliveryFailed,
    createdAt: Int64 = testNow.seconds - 2 * day,
    completedAgo: Int64? = day,
    resources: Int = 2
) -> AccessPackageRequest {
    var request = AccessPackageRequest()
    request.id = id
    request.accessPackageId = package
    request.state = state
    request.createdAt = Timestamp(seconds: createdAt)
    request.completedAt = completedAgo.map { Timestamp(seconds: testNow.seconds - $0) }
    var requestor = Subject()
    requestor.id = "user-1"
    requestor.displayName = "Ada"
    requestor.principalName = "ada@contoso.example"
    request.requestor = requestor
    for r in 0..<resources {
        var resource = ResourceDelivery()
        resource.resourceId = "res-\(r + 1)"
        resource.displayName = "Resource \(r + 1)"
        resource.resourceType = "group"
        resource.state = state == .delivered ? .delivered : .failed
        resource.error = state == .delivered ? "" : "timeout"
        resource.attempts = 1
        request.resources.append(resource)
    }
    return request
}

/// A server context as the auth interceptor leaves it: the verified caller attached.
func makeContext(caller: String? = "oid-7", method: MethodDescriptor = AccessPackageRequestsMethods.reprocess)
    -> ServerContext
{
    var context = ServerContext(
        method: method, metadata: Metadata(), authorization: nil, peer: "127.0.0.1:1", deadline: nil)
    if let caller { context[CallerKey.self] = Caller(objectId: caller, directoryRoleIds: []) }
    return context
}

func listRequest(
    _ packageId: String = "ap-1", states: [RequestState] = [], pageSize: Int32 = 0, pageToken: String = ""
) -> ListRequestsRequest {
    var request = ListRequestsRequest()
    request.accessPackageId = packageId
    request.states = states
    request.pageSize = pageSize
    request.pageToken = pageToken
    return request
}

func reprocessRequest(_ packageId: String = "ap-1", ids: [String]) -> ReprocessRequest {
    var request = ReprocessRequest()
    request.accessPackageId = packageId
    request.requestIds = ids
    return request
}

/// Expects `body` to fail with an `RPCError` of `code` whose message contains `fragment`.
func expectRPCError(
    _ code: RPCError.Code,
    containing fragment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code), but the call succeeded", sourceLocation: sourceLocation)
    } catch {
        let rpc = RPCError(mapping: error)
        #expect(rpc.code == code, "\(rpc)", sourceLocation: sourceLocation)
        if !fragment.isEmpty {
            #expect(rpc.message.contains(fragment), "message: \(rpc.message)", sourceLocation: sourceLocation)
        }
    }
}

/// Polls the store until `request` satisfies `done`, for at most `limit` (a safety net, never an assertion on time).
func waitFor(
    _ id: String,
    in store: any RequestStoring,
    limit: Duration = .seconds(20),
    until done: (AccessPackageRequest) -> Bool
) async throws -> AccessPackageRequest {
    let deadline = ContinuousClock.now + limit
    while true {
        let request = try #require(try await store.request(id: id))
        if done(request) || ContinuousClock.now > deadline { return request }
        try await Task.sleep(for: .milliseconds(5))
    }
}
