public import CoreMetrics
import EntitlementAPI

/// The store's metrics: commit latency and batch size, reprocess outcomes, delivery attempts.
/// Made from an injected factory (the server's Prometheus registry); `disabled` records nothing.
public struct StoreMetrics: Sendable {
    let commitSeconds: Timer
    let commitBatchSize: Recorder
    let outcomes: [Int32: Counter]
    package let attemptsDelivered: Counter
    package let attemptsFailed: Counter

    public init(factory: any MetricsFactory) {
        commitSeconds = Timer(label: "entitlement_store_commit_seconds", factory: factory)
        commitBatchSize = Recorder(label: "entitlement_store_commit_batch_size", factory: factory)
        var outcomes: [Int32: Counter] = [:]
        for outcome in ReprocessOutcome.allCases where outcome != .unspecified {
            outcomes[outcome.rawValue] = Counter(
                label: "entitlement_reprocess_outcomes_total", dimensions: [("outcome", outcome.protoName)], factory: factory)
        }
        self.outcomes = outcomes
        attemptsDelivered = Counter(
            label: "entitlement_delivery_attempts_total", dimensions: [("result", "delivered")], factory: factory)
        attemptsFailed = Counter(
            label: "entitlement_delivery_attempts_total", dimensions: [("result", "failed")], factory: factory)
    }

    public static let disabled = StoreMetrics(factory: NOOPMetricsHandler.instance)

    package func recordOutcomes(_ results: [ReprocessVerdict]) {
        for result in results { outcomes[result.outcome.rawValue]?.increment() }
    }
}
