import CoreMetrics
import Prometheus

/// swift-prometheus's factory writes no `# HELP` line (swift-metrics has no place for the text),
/// so a scrape would not say what a family counts. This one registers each metric it knows
/// with its help text, through the same registry and buckets; others go to the plain factory.
struct DescribedMetricsFactory: MetricsFactory {
    let base: PrometheusMetricsFactory

    static let help: [String: String] = [
        "grpc_server_started_total": "RPCs started on the server, by service, method and type.",
        "grpc_server_handled_total": "RPCs completed on the server, by service, method, type and status code.",
        "grpc_server_handling_seconds": "Time from an RPC's start to its status, in seconds (streams: their whole life).",
        "grpc_server_msg_received_total": "Request messages received, by service, method and type.",
        "grpc_server_msg_sent_total": "Response messages sent, by service, method and type.",
        "entitlement_calls_in_flight": "Calls whose handlers are running now.",
        "entitlement_open_connections": "Client connections open now.",
        "entitlement_watch_streams": "WatchRequests streams open now.",
        "entitlement_delivery_backlog":
            "Requests accepted for delivery and not yet delivered (DELIVERING); while the store is out of reach, the last count read.",
        "entitlement_store_committing": "1 while the store commits, 0 while its commits fail (health then says NOT_SERVING).",
        "entitlement_store_commit_seconds": "Time each store commit (a group of writes) took, in seconds.",
        "entitlement_store_commit_batch_size": "Writes in each store commit.",
        "entitlement_reprocess_outcomes_total": "Reprocess results, by outcome.",
        "entitlement_delivery_attempts_total": "Provisioning attempts of a resource, by result.",
        "entitlement_bytes_received_total": "Bytes read from client connections, HTTP/2 framing included.",
        "entitlement_bytes_sent_total": "Bytes written to client connections, HTTP/2 framing included.",
        "entitlement_token_cache_lookups_total": "Lookups of bearer tokens in the verified-token cache, by result.",
        "entitlement_shed_total":
            "Calls and connections refused by one of the server's limits, and streams reset because their reader stopped, by limit.",
    ]

    private func descriptor(_ label: String) -> MetricNameDescriptor? {
        Self.help[label].map { MetricNameDescriptor(metricName: label, unitName: "", helpText: $0) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let descriptor = descriptor(label) else { return base.makeCounter(label: label, dimensions: dimensions) }
        return base.registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        base.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard let descriptor = descriptor(label) else {
            return base.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        guard aggregate else { return base.registry.makeGauge(descriptor: descriptor, labels: dimensions) }
        let buckets = base.valueHistogramBuckets[label] ?? base.defaultValueHistogramBuckets
        return base.registry.makeValueHistogram(descriptor: descriptor, labels: dimensions, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let descriptor = descriptor(label) else { return base.makeMeter(label: label, dimensions: dimensions) }
        return base.registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let descriptor = descriptor(label) else { return base.makeTimer(label: label, dimensions: dimensions) }
        let buckets = base.durationHistogramBuckets[label] ?? base.defaultDurationHistogramBuckets
        return base.registry.makeDurationHistogram(descriptor: descriptor, labels: dimensions, buckets: buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { base.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
