import EntitlementAPI
import RPCCore
import Synchronization

/// One prepared call of a load test, bound to one connection; the request message is built once.
struct LoadCall: Sendable {
    private enum Kind: Sendable {
        case list(AccessPackageRequestsClient, ListRequestsRequest)
        case reprocess(AccessPackageRequestsClient, ReprocessRequest)
        case health(HealthClient, HealthCheckRequest)
    }

    private let kind: Kind
    private let options: CallOptions

    init(rpc: LoadRPC, transport: any ClientTransport, options: CallOptions, packageID: String, pageSize: Int32, ids: [String]) {
        self.options = options
        switch rpc {
        case .list:
            var request = ListRequestsRequest()
            request.accessPackageId = packageID
            request.pageSize = pageSize
            kind = .list(AccessPackageRequestsClient(transport: transport), request)
        case .reprocess:
            var request = ReprocessRequest()
            request.accessPackageId = packageID
            request.requestIds = ids
            kind = .reprocess(AccessPackageRequestsClient(transport: transport), request)
        case .health:
            kind = .health(HealthClient(transport: transport), HealthCheckRequest())
        }
    }

    /// One call; what the response held is tallied in `result`.
    func perform(into result: inout WorkerResult) async throws {
        switch kind {
        case .list(let client, let request):
            let response = try await client.listRequests(request, options: options)
            result.items += response.requests.count
        case .reprocess(let client, let request):
            let response = try await client.reprocess(request, options: options)
            for item in response.results { result.outcomes[item.outcome.protoName, default: 0] += 1 }
            result.items += response.results.count
        case .health(let client, let request):
            let response = try await client.check(request, options: options)
            result.outcomes[response.status.protoName, default: 0] += 1
        }
    }

    /// Calls back to back until `stop` says no more; everything is recorded locally, no locks.
    func runWorker(until stop: LoadStop, clock: ContinuousClock) async -> WorkerResult {
        var result = WorkerResult()
        while true {
            let start = clock.now
            guard stop.mayStart(at: start) else { break }
            do {
                try await perform(into: &result)
                result.latencies.append(Self.microseconds(clock.now - start))
            } catch let error as RPCError {
                result.errors[error.code.description, default: 0] += 1
            } catch {
                result.errors["CLIENT_ERROR", default: 0] += 1
            }
        }
        return result
    }

    private static func microseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)
    }
}

/// When the test stops starting calls: a call budget, a deadline, or both (whichever comes first).
final class LoadStop: Sendable {
    private let started = Atomic<Int>(0)
    private let limit: Int?
    private let deadline: ContinuousClock.Instant?

    init(limit: Int?, deadline: ContinuousClock.Instant?) {
        self.limit = limit
        self.deadline = deadline
    }

    func mayStart(at now: ContinuousClock.Instant) -> Bool {
        if let deadline, now >= deadline { return false }
        guard let limit else { return true }
        return started.wrappingAdd(1, ordering: .relaxed).oldValue < limit
    }
}

/// What one worker saw; merged once at the end.
struct WorkerResult: Sendable {
    var latencies: [Int] = []
    var errors: [String: Int] = [:]
    var outcomes: [String: Int] = [:]
    var items = 0

    mutating func merge(_ other: WorkerResult) {
        latencies.append(contentsOf: other.latencies)
        errors.merge(other.errors, uniquingKeysWith: +)
        outcomes.merge(other.outcomes, uniquingKeysWith: +)
        items += other.items
    }
}

/// The printed summary of a load test.
struct LoadReport {
    let setup: String
    let target: String
    let elapsed: Duration
    let result: WorkerResult
    let rpc: LoadRPC

    var succeeded: Int { result.latencies.count }
    var failed: Int { result.errors.values.reduce(0, +) }

    var text: String {
        let (s, atto) = elapsed.components
        let seconds = Double(s) + Double(atto) / 1e18
        let total = succeeded + failed
        var lines = [
            "rpc:         \(setup)",
            "target:      \(target)",
            "elapsed:     \(Formatting.decimal(seconds, digits: 3)) s",
            "calls:       \(total) (\(succeeded) ok, \(failed) failed)",
            "calls/s:     \(Formatting.decimal(seconds > 0 ? Double(total) / seconds : 0, digits: 1))",
        ]
        let sorted = result.latencies.sorted()
        if sorted.isEmpty {
            lines.append("latency us:  (no successful calls)")
        } else {
            let p = { (q: Double) in String(Self.percentile(sorted, q)) }
            lines.append("latency us:  p50 \(p(0.50))  p90 \(p(0.90))  p99 \(p(0.99))  max \(sorted[sorted.count - 1])")
        }
        lines.append("errors:      " + Self.tally(result.errors, empty: "none"))
        switch rpc {
        case .list:
            let perCall = succeeded > 0 ? Double(result.items) / Double(succeeded) : 0
            lines.append("requests:    \(Formatting.decimal(perCall, digits: 1)) per response")
        case .reprocess, .health:
            lines.append("outcomes:    " + Self.tally(result.outcomes, empty: "-"))
        }
        return lines.joined(separator: "\n")
    }

    /// Nearest-rank percentile of an ascending, non-empty array.
    static func percentile(_ sorted: [Int], _ q: Double) -> Int {
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    private static func tally(_ counts: [String: Int], empty: String) -> String {
        guard !counts.isEmpty else { return empty }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }
            .joined(separator: ", ")
    }
}
