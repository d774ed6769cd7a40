import Foundation
import Histogram

/// The result of one `entitlement load` run: what `--report` writes (JSON), what `--html` and
/// `load-compare` draw, and what the summary prints. Latencies in milliseconds.
struct LoadReport: Codable, Sendable {
    struct Settings: Codable, Sendable {
        var target: String
        var rpc: String
        var connections: Int
        var concurrency: Int
        /// closed, open, or closed-throttled (a closed loop held to --rate).
        var loop: String
        var rate: Double?
        var durationS: Double?
        var requests: Int?
        var warmupS: Double
        var package: String?
        var pageSize: Int32?
        var ids: Int?
        var compression: String
        /// check or full (`--decode`); absent in reports written before the option existed.
        var decode: String?
    }

    struct Latency: Codable, Sendable {
        var p50: Double
        var p90: Double
        var p99: Double
        var p999: Double
        var p9999: Double
        var max: Double
        var mean: Double
    }

    struct Second: Codable, Sendable {
        var t: Int
        var ok: Int
        var errors: Int
    }

    struct Rate: Codable, Sendable {
        var target: Double
        var achieved: Double
        var kept: Bool
        var maxLagMs: Double
    }

    var label: String
    var startedAt: String
    var settings: Settings
    var total: Int
    var ok: Int
    /// Failed calls by status name.
    var errors: [String: Int]
    /// Every call by status name, OK included.
    var statuses: [String: Int]
    var rps: Double
    var durationS: Double
    var latencyMs: Latency?
    /// (percentile, ms) points of the latency distribution up to p99.99, for the chart.
    var percentiles: [[Double]]
    var timeline: [Second]
    var rate: Rate?
    /// Calls made outside the measurement (finding ids, one per connection to open it, warm-up):
    /// with `total` they are every call the server saw.
    var setupCalls: Int
    var outcomes: [String: Int]
    var byRpc: [String: Int]
    var itemsPerCall: Double
    /// True when Ctrl-C or SIGTERM stopped the run before its end (absent otherwise).
    var interrupted: Bool?
    /// Which of them: "SIGINT" or "SIGTERM".
    var interruptedBy: String?

    init(
        label: String, startedAt: Date, settings: Settings, totals: LoadRecorder.Totals, elapsed: Duration,
        setupCalls: Int, interruptedBy: String? = nil
    ) {
        self.interrupted = interruptedBy == nil ? nil : true
        self.interruptedBy = interruptedBy
        self.label = label
        self.startedAt = ISO8601DateFormatter().string(from: startedAt)
        self.settings = settings
        statuses = totals.statuses
        total = totals.total
        ok = totals.ok
        errors = totals.statuses.filter { $0.key != "OK" }
        durationS = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        rps = durationS > 0 ? Double(total) / durationS : 0
        let histogram = totals.histogram
        if histogram.totalCount > 0 {
            let ms = { (p: Double) in Double(histogram.valueAtPercentile(p)) / 1_000 }
            latencyMs = Latency(
                p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9), p9999: ms(99.99),
                max: Double(histogram.max) / 1_000, mean: histogram.mean / 1_000)
            percentiles = Self.curve(histogram)
        } else {
            latencyMs = nil
            percentiles = []
        }
        timeline = totals.okPerSecond.indices.map {
            Second(t: $0, ok: totals.okPerSecond[$0], errors: totals.errorsPerSecond[$0])
        }
        if let target = settings.rate {
            let achieved = durationS > 0 ? Double(totals.started) / durationS : 0
            rate = Rate(
                target: target, achieved: achieved, kept: achieved >= 0.95 * target,
                maxLagMs: Double(totals.maxLagMicroseconds) / 1_000)
        }
        self.setupCalls = setupCalls
        outcomes = totals.outcomes
        byRpc = totals.byRPC
        itemsPerCall = ok > 0 ? Double(totals.items) / Double(ok) : 0
    }

    /// Points at 0, 10, …, 90, 91, …, 99, 99.1, …, 99.9, 99.91, …, 99.99 and 100: even steps on
    /// the chart's log scale of 1 / (1 − p).
    static func curve(_ histogram: Histogram<UInt64>) -> [[Double]] {
        var points: [Double] = []
        var base = 0.0
        var step = 10.0
        while step >= 0.01 {
            for i in 0..<9 { points.append(base + Double(i) * step) }
            base += 9 * step
            step /= 10
        }
        points.append(99.99)
        return points.map { [$0, Double(histogram.valueAtPercentile($0)) / 1_000] } + [[100, Double(histogram.max) / 1_000]]
    }

    /// The summary printed at the end of a run.
    var text: String {
        var lines = [
            "rpc:         \(settings.rpc)\(settings.package.map { "  package \($0)" } ?? "")\(settings.pageSize.map { "  page size \($0)" } ?? "")\(settings.ids.map { "  \($0) ids" } ?? "")  compression \(settings.compression)",
            "target:      \(settings.target)  connections \(settings.connections)  concurrency \(settings.concurrency)  loop \(settings.loop)\(settings.rate.map { "  rate \(Formatting.decimal($0, digits: 1))/s" } ?? "")",
            "elapsed:     \(Formatting.decimal(durationS, digits: 3)) s\(interrupted == true ? " (interrupted: the calls made until then)" : "")",
            "calls:       \(total) (\(ok) ok, \(total - ok) failed)",
            "calls/s:     \(Formatting.decimal(rps, digits: 1))",
        ]
        if let l = latencyMs {
            let f = { (v: Double) in Formatting.decimal(v, digits: 3) }
            lines.append("latency ms:  p50 \(f(l.p50))  p90 \(f(l.p90))  p99 \(f(l.p99))  p99.9 \(f(l.p999))  max \(f(l.max))")
        } else {
            lines.append("latency ms:  (no successful calls)")
        }
        lines.append("statuses:    " + Self.tally(statuses, empty: "-"))
        if !outcomes.isEmpty { lines.append("outcomes:    " + Self.tally(outcomes, empty: "-")) }
        if byRpc.count > 1 { lines.append("by rpc:      " + Self.tally(byRpc, empty: "-")) }
        if settings.rpc == "list" { lines.append("requests:    \(Formatting.decimal(itemsPerCall, digits: 1)) per response") }
        if let rate {
            lines.append(
                "rate:        target \(Formatting.decimal(rate.target, digits: 1))/s, sent \(Formatting.decimal(rate.achieved, digits: 1))/s, worst start \(Formatting.decimal(rate.maxLagMs, digits: 1)) ms late")
        }
        return lines.joined(separator: "\n")
    }

    /// A line on stderr when the tester could not keep `--rate`.
    var rateWarning: String? {
        guard let rate, !rate.kept else { return nil }
        return "warning: could not keep --rate \(Formatting.decimal(rate.target, digits: 1))/s: sent \(Formatting.decimal(rate.achieved, digits: 1))/s. "
            + "Every worker was busy: raise --concurrency (or --connections), or the server is slower than the rate."
    }

    static func tally(_ counts: [String: Int], empty: String) -> String {
        guard !counts.isEmpty else { return empty }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }
            .joined(separator: ", ")
    }

    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    static func read(path: String) throws -> LoadReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("cannot read \(path)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(LoadReport.self, from: data)
        } catch let error as DecodingError {
            throw ReportError("\(path) is not an `entitlement load --report` file: \(Self.explain(error))")
        } catch {
            throw ReportError("\(path) is not an `entitlement load --report` file: \(error)")
        }
    }

    /// A decoding error in a sentence: where in the file, and what was wrong there (Swift's own
    /// description is a dump of coding paths and contexts).
    private static func explain(_ error: DecodingError) -> String {
        func place(_ path: [any CodingKey]) -> String {
            // As the file spells them (the report's keys are snake_case).
            let snake = { (name: String) in
                name.reduce(into: "") { $0 += $1.isUppercase ? "_" + $1.lowercased() : String($1) }
            }
            let keys = path.map { $0.intValue.map { "[\($0)]" } ?? ".\(snake($0.stringValue))" }.joined()
            return keys.isEmpty ? "the document" : String(keys.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(place(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(place(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(place(context.codingPath)) is malformed"
        @unknown default:
            return "\(error)"
        }
    }
}

struct ReportError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
