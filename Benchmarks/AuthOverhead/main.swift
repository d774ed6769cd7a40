// ListRequests through the authorization interceptor (cached token) vs the same handler with no
// interceptor, in one process and one run, alternating rounds. In-process on purpose: network
// time would hide the interceptor's cost. Run with scripts/bench-auth.
import Entitlement
import EntitlementAPI
import EntitlementAuth
import EntitlementServerCore
import Foundation
import Logging
import RPCCore

let calls = Int(ProcessInfo.processInfo.environment["BENCH_CALLS"] ?? "") ?? 4_000
let rounds = Int(ProcessInfo.processInfo.environment["BENCH_ROUNDS"] ?? "") ?? 21
let directory = NSTemporaryDirectory() + "auth-bench-" + UUID().uuidString
defer { try? FileManager.default.removeItem(atPath: directory) }

var quiet = Logger(label: "bench")
quiet.logLevel = .critical
let demo = try DemoEnvironment(dataDirectory: directory, host: "127.0.0.1", port: 0)
let store = try RequestStore(directory: directory, logger: quiet)
try await DemoEnvironment.populate(store)
let verifier = try await TokenVerifier(
    configuration: TokenVerifier.Configuration(
        jwksPath: demo.configuration.jwksPath, issuer: DemoEnvironment.issuer, audience: DemoEnvironment.audience,
        tenantId: DemoEnvironment.tenantId),
    logger: quiet)
let interceptor = AuthorizationInterceptor(
    verifier: verifier, directory: StoreRoleDirectory(store: store), auditor: StoreDeniedAuditor(store: store))

var router = MethodRouter()
AccessPackageRequestsHandler(store: store).register(into: &router)
let handler = router.handler(forPath: AccessPackageRequestsMethods.listRequests.path)!
var request = ListRequestsRequest()
request.accessPackageId = "ap-crm-users"
request.pageSize = 50
let body = request.serializedBytes()

func context(token: String?) -> ServerContext {
    ServerContext(
        method: AccessPackageRequestsMethods.listRequests, metadata: Metadata(),
        authorization: token.map { "Bearer \($0)" }, peer: "bench", deadline: nil)
}

/// Calls per second for `calls` sequential calls, each decoded, handled and its response encoded
/// as the server does (only the network is left out).
func measure(token: String?, interceptors: [any ServerInterceptor]) async throws -> Double {
    let start = ContinuousClock.now
    for _ in 0..<calls {
        let response = try await handler.handle(request: body, context: context(token: token), interceptors: interceptors)
        precondition(response.messageSize > 1000)
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(calls) / seconds
}

// A Global Administrator (tenant-wide role) and a catalog owner (roles looked up in the store).
let admin = demo.adminToken
let owner = try demo.token(objectId: DemoData.salesOwnerObjectId)
_ = try await measure(token: admin, interceptors: [interceptor])  // warm the token cache and code
_ = try await measure(token: owner, interceptors: [interceptor])

// Each round measures the three back to back; the overhead is taken per round and the median
// reported, so drift in machine speed between rounds cancels out.
// The order within a round rotates, so running first (or last) favours none of them.
var bare: [Double] = [], viaAdmin: [Double] = [], viaOwner: [Double] = []
for round in 0..<rounds {
    for slot in 0..<3 {
        switch (round + slot) % 3 {
        case 0: bare.append(try await measure(token: nil, interceptors: []))
        case 1: viaAdmin.append(try await measure(token: admin, interceptors: [interceptor]))
        default: viaOwner.append(try await measure(token: owner, interceptors: [interceptor]))
        }
    }
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func overhead(_ with: [Double], baseline: [Double]) -> Double {
    median(zip(baseline, with).map { (1 - $1 / $0) * 100 })
}
func padded(_ text: String) -> String { text + String(repeating: " ", count: max(0, 46 - text.count)) }
print("ListRequests, page of 50, \(calls) calls per round, \(rounds) rounds (medians):")
print(padded("no interceptor") + String(format: "%9.0f calls/s", median(bare)))
print(padded("interceptor, Global Administrator (cached)")
    + String(format: "%9.0f calls/s  overhead %5.1f%%", median(viaAdmin), overhead(viaAdmin, baseline: bare)))
print(padded("interceptor, catalog owner (cached)")
    + String(format: "%9.0f calls/s  overhead %5.1f%%", median(viaOwner), overhead(viaOwner, baseline: bare)))
await store.close()
