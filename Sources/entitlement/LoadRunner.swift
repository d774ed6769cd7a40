import EntitlementAPI
import Histogram
import ProtoWire
import RPCCore
import Synchronization

/// The prepared calls of a load test on one connection, one per RPC of the mix; each request
/// message is built once.
struct LoadCall: Sendable {
    private enum Kind: Sendable {
        case list(AccessPackageRequestsClient, ListRequestsRequest)
        case listChecked(any ClientTransport, ListRequestsRequest)
        case reprocess(AccessPackageRequestsClient, ReprocessRequest)
        case health(HealthClient, HealthCheckRequest)
        case watch(AccessPackageRequestsClient, WatchRequestsRequest)
    }

    let rpc: LoadRPC
    private let kind: Kind
    private let options: CallOptions

    init(
        rpc: LoadRPC, transport: any ClientTransport, options: CallOptions, packageID: String, pageSize: Int32,
        ids: [String], decoding: ResponseDecoding = .full
    ) {
        self.rpc = rpc
        var options = options
        switch rpc {
        case .list:
            var request = ListRequestsRequest()
            request.accessPackageId = packageID
            request.pageSize = pageSize
            switch decoding {
            case .check: kind = .listChecked(transport, request)
            case .full: kind = .list(AccessPackageRequestsClient(transport: transport), request)
            }
        case .reprocess:
            var request = ReprocessRequest()
            request.accessPackageId = packageID
            request.requestIds = ids
            kind = .reprocess(AccessPackageRequestsClient(transport: transport), request)
        case .health:
            options.metadata = Metadata()  // health checks need no token
            kind = .health(HealthClient(transport: transport), HealthCheckRequest())
        case .watch:
            var request = WatchRequestsRequest()
            request.accessPackageId = packageID
            request.requestIds = ids
            kind = .watch(AccessPackageRequestsClient(transport: transport), request)
        }
        self.options = options
    }

    /// One call; what the response held is tallied in `tally`. A watch call ends once the
    /// snapshot (one message per watched id) is in: its latency is the time to the snapshot.
    func perform(into tally: inout LoadTally) async throws {
        switch kind {
        case .list(let client, let request):
            let response = try await client.listRequests(request, options: options)
            tally.items += response.requests.count
        case .listChecked(let transport, let request):
            // The generated client's method, with a response type that reads the page's fields
            // without building its requests.
            let response = try await transport.unary(
                AccessPackageRequestsMethods.listRequests, request: request, responseType: ListPageCheck.self,
                options: options)
            tally.items += response.message.requests
        case .reprocess(let client, let request):
            let response = try await client.reprocess(request, options: options)
            for item in response.results { tally.outcomes[item.outcome.protoName, default: 0] += 1 }
            tally.items += response.results.count
        case .health(let client, let request):
            let response = try await client.check(request, options: options)
            tally.outcomes[response.status.protoName, default: 0] += 1
        case .watch(let client, let request):
            var received = 0
            let stream = try await client.watchRequests(request, options: options)
            // Leaving the loop does not end the call: cancel it, or every watch stays open until
            // its deadline (256 of them at --concurrency 1, measured).
            defer { stream.cancel() }
            for try await _ in stream {
                received += 1
                if received >= request.requestIds.count { break }
            }
            tally.items += received
        }
    }
}

/// The RPCs of a `--mix` in its proportions. Each call takes the next slot of the whole run, so
/// the counts keep the proportions however much faster some RPCs are than others (slots taken
/// per worker gave the workers stuck on slow calls fewer of everything).
final class LoadCycle: Sendable {
    private let rpcs: [LoadRPC]
    private let next = Atomic<Int>(0)

    init(_ rpcs: [LoadRPC]) {
        precondition(!rpcs.isEmpty, "a cycle has an RPC")
        self.rpcs = rpcs
    }

    func take() -> LoadRPC { rpcs[next.wrappingAdd(1, ordering: .relaxed).oldValue % rpcs.count] }
}

/// How a worker paces its calls.
enum LoadPacing: Sendable {
    /// Back to back: the next call starts when the last ended.
    case closed
    /// Each worker's share of `rate` on a fixed schedule. `measureFromSchedule`: latency counts
    /// from the intended send time (open loop: a stall delays every call scheduled behind it, and
    /// that delay is in the percentiles); otherwise from the actual send (a throttled closed
    /// loop, which hides it: coordinated omission).
    case scheduled(rate: Double, measureFromSchedule: Bool)
}

/// When the test stops starting calls: a call budget, a deadline, or both (whichever comes first).
/// Or an interruption (Ctrl-C): no call starts after it, and those in flight end as they do.
final class LoadStop: Sendable {
    private let started = Atomic<Int>(0)
    /// The signal that interrupted the run; 0 while none has.
    private let interrupted = Atomic<Int32>(0)
    private let limit: Int?
    private let deadline: ContinuousClock.Instant?

    init(limit: Int?, deadline: ContinuousClock.Instant?) {
        self.limit = limit
        self.deadline = deadline
    }

    /// Stops the run; false when it was interrupted already.
    func interrupt(signal: Int32) -> Bool {
        interrupted.compareExchange(expected: 0, desired: signal, ordering: .relaxed).exchanged
    }

    var interruptingSignal: Int32? {
        let signal = interrupted.load(ordering: .relaxed)
        return signal == 0 ? nil : signal
    }

    var wasInterrupted: Bool { interruptingSignal != nil }

    /// Sleeps until `instant`, waking within 100 ms of an interruption (a slow rate's wait would
    /// hold Ctrl-C up for as long as one interval); false when interrupted.
    func wait(until instant: ContinuousClock.Instant, clock: ContinuousClock) async -> Bool {
        while !wasInterrupted && !Task.isCancelled {
            let now = clock.now
            guard now < instant else { return true }
            try? await Task.sleep(until: min(instant, now + .milliseconds(100)), tolerance: .microseconds(50), clock: clock)
        }
        return false
    }

    func mayStart(at instant: ContinuousClock.Instant) -> Bool {
        if wasInterrupted { return false }
        if let deadline, instant >= deadline { return false }
        guard let limit else { return true }
        return started.wrappingAdd(1, ordering: .relaxed).oldValue < limit
    }
}

/// How long a closed-loop worker waits after a call that failed UNAVAILABLE: 10 ms, doubling to
/// 500 ms while calls keep failing UNAVAILABLE; back to none on any other outcome.
struct LoadBackoff {
    static let first = Duration.milliseconds(10)
    static let longest = Duration.milliseconds(500)
    private var current: Duration?

    /// The pause before the next call, or nil for none.
    mutating func next(after status: String) -> Duration? {
        guard status == "UNAVAILABLE" else {
            current = nil
            return nil
        }
        let pause = current.map { min($0 * 2, Self.longest) } ?? Self.first
        current = pause
        return pause
    }
}

/// Counts of one worker between flushes; merged into the recorder.
struct LoadTally: Sendable {
    var statuses: [String: Int] = [:]
    var outcomes: [String: Int] = [:]
    var byRPC: [String: Int] = [:]
    var items = 0
    /// Latencies (µs) of successful calls since the last flush, and the second each call ended in.
    var latencies: [UInt64] = []
    var endings: [(second: Int, ok: Bool)] = []
    /// How late calls started against their schedule (open loop), at worst.
    var maxLagMicroseconds: UInt64 = 0
    var started = 0

    static let flushEvery = 256
    /// Also flushed this often, so the once-a-second progress line counts every call, not
    /// whole batches (a slow run would otherwise show 0, 1024, 2048...).
    static let flushInterval = Duration.milliseconds(100)

}

/// Everything a run measured, shared by its workers. Workers batch locally and flush every
/// `LoadTally.flushEvery` calls, so the lock is taken rarely; the histogram bounds memory for any
/// duration (latencies up to an hour, 3 significant digits).
final class LoadRecorder: Sendable {
    struct Totals: Sendable {
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var statuses: [String: Int] = [:]
        var outcomes: [String: Int] = [:]
        var byRPC: [String: Int] = [:]
        var items = 0
        var okPerSecond: [Int] = []
        var errorsPerSecond: [Int] = []
        var maxLagMicroseconds: UInt64 = 0
        var started = 0

        var total: Int { statuses.values.reduce(0, +) }
        var ok: Int { statuses["OK"] ?? 0 }
    }

    private let totals = Mutex(Totals())
    /// Seconds are counted from here (the timeline of calls/s).
    let origin: ContinuousClock.Instant
    /// A warm-up recorder keeps counts only (its calls are reported as setup calls).
    let keepsLatencies: Bool

    init(origin: ContinuousClock.Instant, keepsLatencies: Bool = true) {
        self.origin = origin
        self.keepsLatencies = keepsLatencies
    }

    func flush(_ tally: inout LoadTally) {
        totals.withLock { totals in
            totals.statuses.merge(tally.statuses, uniquingKeysWith: +)
            totals.outcomes.merge(tally.outcomes, uniquingKeysWith: +)
            totals.byRPC.merge(tally.byRPC, uniquingKeysWith: +)
            totals.items += tally.items
            totals.started += tally.started
            totals.maxLagMicroseconds = max(totals.maxLagMicroseconds, tally.maxLagMicroseconds)
            if keepsLatencies {
                for latency in tally.latencies {
                    _ = totals.histogram.record(min(latency, totals.histogram.highestTrackableValue))
                }
                for ending in tally.endings {
                    // Bounded: at most one slot per second of the run (a day is 86,400).
                    guard ending.second >= 0, ending.second < 86_401 else { continue }
                    while totals.okPerSecond.count <= ending.second {
                        totals.okPerSecond.append(0)
                        totals.errorsPerSecond.append(0)
                    }
                    if ending.ok { totals.okPerSecond[ending.second] += 1 } else { totals.errorsPerSecond[ending.second] += 1 }
                }
            }
        }
        tally = LoadTally()
    }

    func snapshot() -> Totals { totals.withLock { $0 } }

    /// Calls so far, errors so far, and p99 so far (µs), for the progress line.
    func progress() -> (calls: Int, errors: Int, p99: UInt64) {
        totals.withLock { ($0.total, $0.total - $0.ok, $0.histogram.totalCount > 0 ? $0.histogram.valueAtPercentile(99) : 0) }
    }
}

/// One worker: one call in flight at a time, on its connection's prepared calls, picking the RPC
/// of each call from the mix's cycle so the whole run keeps the mix's proportions.
struct LoadWorker: Sendable {
    let index: Int
    let workers: Int
    let calls: [LoadRPC: LoadCall]
    let cycle: LoadCycle
    let pacing: LoadPacing

    func run(until stop: LoadStop, recorder: LoadRecorder, clock: ContinuousClock, start: ContinuousClock.Instant) async {
        var tally = LoadTally()
        var n = 0
        // A scheduled worker takes every `workers`-th slot of the whole run's schedule.
        var interval = Duration.zero
        var measureFromSchedule = false
        if case .scheduled(let rate, let fromSchedule) = pacing {
            interval = .nanoseconds(Int64((Double(workers) / rate * 1_000_000_000).rounded()))
            measureFromSchedule = fromSchedule
        }
        let offset = interval / workers * index
        var flushed = clock.now
        var backoff = LoadBackoff()
        while !Task.isCancelled {
            var origin = clock.now
            if interval > .zero {
                let intended = start + offset + interval * n
                // Calls scheduled before the end but not started by then (the tester fell behind
                // the rate) are not sent: a run kept going after --duration, for as long as the
                // backlog took. The rate report shows them missing.
                guard stop.mayStart(at: max(intended, origin)) else { break }
                if intended > origin {
                    // Ctrl-C during the wait: the call was not sent yet, and is not.
                    guard await stop.wait(until: intended, clock: clock) else { break }
                }
                let sent = clock.now
                if sent > intended { tally.maxLagMicroseconds = max(tally.maxLagMicroseconds, Self.microseconds(sent - intended)) }
                origin = measureFromSchedule ? intended : sent
            } else {
                guard stop.mayStart(at: origin) else { break }
            }
            let rpc = cycle.take()
            n += 1
            tally.started += 1
            tally.byRPC[rpc.rawValue, default: 0] += 1
            var status = "OK"
            do {
                try await calls[rpc]!.perform(into: &tally)
            } catch let error as RPCError {
                status = error.code.description
            } catch {
                status = "CLIENT_ERROR"
            }
            let ended = clock.now
            tally.statuses[status, default: 0] += 1
            if status == "OK" { tally.latencies.append(Self.microseconds(ended - origin)) }
            tally.endings.append((Self.seconds(ended - recorder.origin), status == "OK"))
            if tally.endings.count >= LoadTally.flushEvery || ended - flushed >= LoadTally.flushInterval {
                recorder.flush(&tally)
                flushed = ended
            }
            // Closed loop, server down or restarting: pause before the next call rather than spin
            // out tens of thousands of failures a second (a paced loop keeps its schedule).
            if interval == .zero, let pause = backoff.next(after: status) {
                try? await Task.sleep(for: pause, clock: clock)
            }
        }
        recorder.flush(&tally)
    }

    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000)
    }

    static func seconds(_ duration: Duration) -> Int { Int(duration.components.seconds) }
}

/// A ListRequestsResponse read for the load tester: every field's tag, wire type and length are
/// checked and the requests counted, but not built (a page of 50 is ~750 strings, and building
/// them, not the server, was what limited the tester). Decode-only: encoding writes nothing.
struct ListPageCheck: ProtoMessage {
    /// How many `requests` entries the page held.
    var requests = 0
    var hasNextPageToken = false
    var unknownFields = UnknownFields()

    init() {}

    func encodedSize() -> Int { 0 }

    func encode(to writer: inout ProtoWriter) {}

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1 where tag.wireType == .lengthDelimited:
            _ = try reader.readLengthDelimited()
            requests += 1
        case 2 where tag.wireType == .lengthDelimited:
            hasNextPageToken = !(try reader.readString(tag)).isEmpty
        default:
            try reader.skipField(tag, into: &unknownFields)
        }
    }
}
