import ArgumentParser
import EntitlementAPI
import Foundation
import H2Transport
import NIOCore
import NIOPosix
import RPCCore

/// `entitlement load`: a load test on the generated client. Closed loop by default; open loop at
/// `--rate`, where latency counts from each call's intended send time, so a stalled server shows
/// in the percentiles instead of quietly slowing the test down (coordinated omission).
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load-test the service and report calls/s, statuses and latency percentiles.",
        discussion: """
            --concurrency calls are in flight at most, spread over --connections HTTP/2 connections, for \
            --duration (10s, 2m, 500ms or seconds; 10s if neither it nor --requests is given) or --requests \
            calls. Without --rate each worker calls back to back (closed loop). With --rate N/s the calls are \
            scheduled N per second (open loop): a call's latency counts from when it was due, so queueing \
            behind a stall is measured; if every worker is busy the tester cannot keep the rate and says so \
            (raise --concurrency). --loop closed with --rate paces a closed loop instead (what most tools do; \
            it hides stalls). Percentiles come from an HdrHistogram (bounded memory, 3 significant digits). \
            Calls in flight at the end are awaited. One call per connection is made first, untimed; --warmup \
            runs the load untimed before measuring. A closed-loop worker whose call fails UNAVAILABLE (server \
            down or restarting) pauses 10 ms, doubling to 0.5 s, before its next call. Exit status 1 if any call failed. Reprocess outcomes \
            (NOT_ELIGIBLE, …) are results, not failures; without --ids, reprocess and watch use up to 10 ids \
            of requests that are not eligible (found with one list call), so no delivery is started.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "RPC to call: list, reprocess, health or watch (watch: the time to a watch's snapshot). (default: list)")
    var rpc: LoadRPC?

    @Option(help: ArgumentHelp("A weighted mix of RPCs instead of --rpc, e.g. list=8,reprocess=1,health=1.", valueName: "rpc=weight,…"))
    var mix: MixArgument?

    @Option(name: .customLong("package"), help: "Access package id (list, reprocess, watch).")
    var packageID: String?

    @Option(parsing: .unconditional, help: "Calls in flight at once (workers).")
    var concurrency = 64

    @Option(parsing: .unconditional, help: "Separate HTTP/2 connections; workers are spread evenly over them.")
    var connections = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("How long to start calls: 10s, 2m, 500ms, or seconds.", valueName: "duration"))
    var duration: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after starting this many calls.", valueName: "count"))
    var requests: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Run the load this long, untimed, before measuring.", valueName: "duration"))
    var warmup = DurationArgument(seconds: 0)

    @Option(parsing: .unconditional, help: ArgumentHelp("Calls per second to schedule (open loop): 500 or 500/s.", valueName: "N/s"))
    var rate: RateArgument?

    @Option(help: "open (the default with --rate) or closed.")
    var loop: LoopMode?

    @Option(parsing: .unconditional, help: "Page size for list calls.")
    var pageSize: Int32 = 50

    @Option(
        help: ArgumentHelp(
            "check: read each list page's fields and count its requests without building them; full: decode every response with the generated types, as an application would (client CPU per page of 50: about twice)."))
    var decode: ResponseDecoding = .check

    @Option(help: ArgumentHelp("Comma-separated request ids for reprocess and watch calls.", valueName: "id,id,…"))
    var ids: String?

    @Option(help: ArgumentHelp("Write the results as JSON to this file.", valueName: "path"))
    var report: String?

    @Option(help: ArgumentHelp("Write a self-contained HTML page with the charts to this file.", valueName: "path"))
    var html: String?

    @Option(help: "The run's name in reports and charts.")
    var label: String?

    private var rpcs: MixArgument { mix ?? MixArgument(single: rpc ?? .list) }
    private var needsPackage: Bool { rpcs.weights.contains { $0.rpc != .health } }
    private var needsIDs: Bool { rpcs.weights.contains { $0.rpc == .reprocess || $0.rpc == .watch } }
    private var pacingName: String {
        guard rate != nil else { return "closed" }
        return (loop ?? .open) == .open ? "open" : "closed-throttled"
    }

    func validate() throws {
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 10000") }
        guard (1...1_000).contains(connections) else { throw ValidationError("--connections must be 1 to 1000") }
        guard connections <= concurrency else { throw ValidationError("--connections must not exceed --concurrency") }
        if let duration, !(duration.seconds > 0 && duration.seconds <= 86_400) {
            throw ValidationError("--duration must be more than 0 and at most 24 hours")
        }
        guard warmup.seconds <= 3_600 else { throw ValidationError("--warmup must be at most 1 hour") }
        if let requests, requests < 1 { throw ValidationError("--requests must be at least 1") }
        if let rate, rate.perSecond > 10_000_000 { throw ValidationError("--rate must be at most 10000000/s") }
        if loop != nil, rate == nil { throw ValidationError("--loop needs --rate (without it the loop is closed)") }
        guard pageSize >= 0 else { throw ValidationError("--page-size must not be negative") }
        if needsPackage, packageID?.isEmpty ?? true { throw ValidationError("--package is required for \(rpcs.description)") }
        if mix != nil, rpc != nil { throw ValidationError("give --rpc or --mix, not both") }
        for (flag, path) in [("--report", report), ("--html", html)] {
            if let path { try Self.checkWritable(path, flag: flag) }
        }
        if let ids {
            let list = Self.parseIDs(ids)
            guard (1...100).contains(list.count) else { throw ValidationError("--ids must hold 1 to 100 ids") }
            guard Set(list).count == list.count else { throw ValidationError("--ids must not repeat an id") }
        }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: min(connections, System.coreCount))
        let address = client.address
        let transports = (0..<connections).map { _ in
            GRPCClient(host: address.host, port: address.port, eventLoopGroup: group)
        }
        let outcome: Result<LoadReport, any Error>
        do {
            outcome = .success(try await measure(transports))
        } catch {
            outcome = .failure(error)
        }
        for transport in transports { await transport.close() }
        try? await group.shutdownGracefully()

        switch outcome {
        case .success(let result):
            print(result.text)
            if let warning = result.rateWarning { writeStandardError(warning) }
            if let report { try write(result.json(), to: report) }
            if let html { try write(Data(LoadHTML.render([result], title: result.label).utf8), to: html) }
            // As a shell reports a process the signal ended: 130 for Ctrl-C, 143 for SIGTERM.
            if let name = result.interruptedBy, let signal = Self.interruptSignals.first(where: { $0.name == name }) {
                throw ExitCode(128 + signal.number)
            }
            if result.ok < result.total { throw ExitCode.failure }
        case .failure(let error as RPCError):
            client.reportFailure(error, authorized: needsPackage)
            throw ExitCode.failure
        case .failure(let error):
            throw error
        }
    }

    /// A report path that cannot be written is a usage error before the run, not after it.
    private static func checkWritable(_ path: String, flag: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(flag) \(path): there is no directory \(directory)")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw ValidationError("\(flag) \(path) is a directory") }
            guard FileManager.default.isWritableFile(atPath: path) else {
                throw ValidationError("\(flag) \(path) is not writable")
            }
        } else if !FileManager.default.isWritableFile(atPath: directory) {
            throw ValidationError("\(flag) \(path): the directory \(directory) is not writable")
        }
    }

    private func write(_ data: Data, to path: String) throws {
        do {
            // Not atomic: a report may go to a device or a pipe (and a full disk must say so).
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw ReportError("cannot write \(path): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
    }

    /// Prepares the calls, opens every connection with one call each, warms up, then measures.
    private func measure(_ transports: [GRPCClient]) async throws -> LoadReport {
        let options = client.callOptions(authorized: true)
        var setupCalls = 0
        var requestIDs: [String] = []
        if needsIDs {
            requestIDs = try await resolveIDs(transports[0], options: options, setupCalls: &setupCalls)
        }
        let perConnection = transports.map { transport in
            Dictionary(uniqueKeysWithValues: rpcs.weights.map {
                ($0.rpc, LoadCall(
                    rpc: $0.rpc, transport: transport, options: options, packageID: packageID ?? "", pageSize: pageSize,
                    ids: requestIDs, decoding: decode))
            })
        }

        // Untimed: connection set-up is not what this measures, and a server that refuses every
        // call (wrong token, unknown package) is reported once, not a million times.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for calls in perConnection {
                for call in calls.values {
                    group.addTask {
                        var scratch = LoadTally()
                        try await call.perform(into: &scratch)
                    }
                }
            }
            try await group.waitForAll()
        }
        setupCalls += perConnection.count * rpcs.weights.count

        let clock = ContinuousClock()
        if warmup.seconds > 0 {
            let start = clock.now
            let warm = LoadRecorder(origin: start, keepsLatencies: false)
            await runPhase(perConnection, executors: transports.map(\.executor), stop: LoadStop(limit: nil, deadline: start + warmup.duration), recorder: warm, clock: clock, start: start)
            setupCalls += warm.snapshot().total
        }

        let effective = duration ?? (requests == nil ? DurationArgument(seconds: 10) : nil)
        let startedAt = Date()
        let start = clock.now
        let recorder = LoadRecorder(origin: start)
        let stop = LoadStop(limit: requests, deadline: effective.map { start + $0.duration })
        let progress = LoadProgress(recorder: recorder, clock: clock)
        let reporter = Task { await progress.run() }
        let traps = Self.trapInterrupts(stop)
        await runPhase(perConnection, executors: transports.map(\.executor), stop: stop, recorder: recorder, clock: clock, start: start)
        Self.release(traps)
        // A timed run measures over its whole window: paced workers stop at their last call's
        // slot, so the span to the last call alone overstated rates (3 calls at 1/s: "1.5/s").
        // An interrupted one measures up to now.
        let elapsed =
            stop.wasInterrupted ? clock.now - start : max(clock.now - start, requests == nil ? effective?.duration ?? .zero : .zero)
        reporter.cancel()
        await reporter.value

        let settings = LoadReport.Settings(
            target: client.addressText, rpc: rpcs.weights.count == 1 ? rpcs.weights[0].rpc.rawValue : rpcs.description,
            connections: connections, concurrency: concurrency, loop: pacingName, rate: rate?.perSecond,
            durationS: effective?.seconds, requests: requests, warmupS: warmup.seconds,
            package: needsPackage ? packageID : nil, pageSize: rpcs.weights.contains { $0.rpc == .list } ? pageSize : nil,
            ids: needsIDs ? requestIDs.count : nil, compression: client.compression.rawValue, decode: decode.rawValue)
        let label = self.label ?? "\(settings.rpc) \(pacingName)\(rate.map { " \(Formatting.decimal($0.perSecond, digits: 0))/s" } ?? "") c\(concurrency)"
        return LoadReport(
            label: label, startedAt: startedAt, settings: settings, totals: recorder.snapshot(), elapsed: elapsed,
            setupCalls: setupCalls,
            interruptedBy: stop.interruptingSignal.flatMap { number in Self.interruptSignals.first { $0.number == number }?.name })
    }

    static let interruptSignals: [(number: Int32, name: String)] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")]

    /// Ctrl-C or SIGTERM during the measured run stops it: no call starts after it, those in
    /// flight end, and what was measured is reported (and written) as interrupted. A second one
    /// exits at once, as the default would.
    private static func trapInterrupts(_ stop: LoadStop) -> InterruptTraps {
        var traps = InterruptTraps()
        for (number, _) in interruptSignals {
            // Ignored while a dispatch source handles it (a handler of its own would end the process).
            traps.previous.append((number, signal(number, SIG_IGN)))
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard stop.interrupt(signal: number) else { Foundation.exit(128 + number) }
                writeStandardError("interrupted: finishing the calls in flight, then reporting (again to quit at once)")
            }
            source.resume()
            traps.sources.append(source)
        }
        return traps
    }

    /// The signal sources of the measured run, and the dispositions they replaced.
    struct InterruptTraps {
        var sources: [any DispatchSourceSignal] = []
        var previous: [(Int32, __sighandler_t?)] = []
    }

    private static func release(_ traps: InterruptTraps) {
        // The old dispositions first: a signal between the two steps then acts as it did before
        // the run, instead of being ignored with no source left to see it.
        for (number, disposition) in traps.previous { signal(number, disposition) }
        for source in traps.sources { source.cancel() }
    }

    private func runPhase(
        _ perConnection: [[LoadRPC: LoadCall]], executors: [any TaskExecutor], stop: LoadStop, recorder: LoadRecorder,
        clock: ContinuousClock, start: ContinuousClock.Instant
    ) async {
        let pacing: LoadPacing =
            rate.map { .scheduled(rate: $0.perSecond, measureFromSchedule: (loop ?? .open) == .open) } ?? .closed
        let cycle = LoadCycle(rpcs.cycle)
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<concurrency {
                let worker = LoadWorker(
                    index: index, workers: concurrency, calls: perConnection[index % perConnection.count], cycle: cycle,
                    pacing: pacing)
                // On its connection's event loop: a call costs no thread hop there and back.
                group.addTask(executorPreference: executors[index % executors.count]) {
                    await worker.run(until: stop, recorder: recorder, clock: clock, start: start)
                }
            }
        }
    }

    /// `--ids`, or up to 10 requests of the package in states reprocess never accepts.
    private func resolveIDs(_ transport: GRPCClient, options: CallOptions, setupCalls: inout Int) async throws -> [String] {
        if let ids { return Self.parseIDs(ids) }
        var request = ListRequestsRequest()
        request.accessPackageId = packageID ?? ""
        request.states = [.submitted, .pendingApproval, .denied, .canceled, .scheduled]
        request.pageSize = 10
        setupCalls += 1
        let page = try await AccessPackageRequestsClient(transport: transport).listRequests(request, options: options)
        guard !page.requests.isEmpty else {
            throw RPCError(code: .notFound, message: "no ineligible requests in \(packageID ?? "") to reprocess or watch; pass --ids")
        }
        return page.requests.map(\.id)
    }

    static func parseIDs(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty }
    }
}

/// `--rpc` values.
enum LoadRPC: String, ExpressibleByArgument, CaseIterable, Sendable, CustomStringConvertible {
    case list
    case reprocess
    case health
    case watch

    var description: String { rawValue }
}

/// `--loop` values.
enum LoopMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    case open
    case closed
}

/// How much of each response the tester reads (`--decode`).
enum ResponseDecoding: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// List pages: every top-level field read and checked, the requests counted, not built.
    case check
    /// Every response decoded into the generated types.
    case full
}

/// The live progress line: rewritten in place once a second on a terminal (stderr), a plain line
/// every 5 seconds otherwise.
struct LoadProgress: Sendable {
    let recorder: LoadRecorder
    let clock: ContinuousClock

    func run() async {
        let terminal = isatty(2) != 0
        let every: Duration = terminal ? .seconds(1) : .seconds(5)
        var last = (calls: 0, at: clock.now)
        var printed = false
        while true {
            do { try await Task.sleep(for: every) } catch { break }
            let now = clock.now
            let (calls, errors, p99) = recorder.progress()
            let span = now - last.at
            let seconds = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
            let rate = seconds > 0 ? Double(calls - last.calls) / seconds : 0
            last = (calls, now)
            let elapsed = (now - recorder.origin).components.seconds
            let line = "[\(elapsed)s] \(calls) calls  \(Formatting.decimal(rate, digits: 0)) calls/s  \(errors) errors  p99 \(Formatting.decimal(Double(p99) / 1_000, digits: 2)) ms"
            if terminal {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
                printed = true
            } else {
                writeStandardError(line)
            }
        }
        if terminal, printed { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// `entitlement load-compare`: two or more `--report` files on one chart.
struct LoadCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-compare",
        abstract: "Compare load reports: a table, and with --html one page charting them together."
    )

    @Argument(help: "Report files written by `entitlement load --report`.")
    var reports: [String]

    @Option(help: ArgumentHelp("Write a self-contained HTML page with the runs on one chart.", valueName: "path"))
    var html: String?

    @Option(help: "The page's title.")
    var title = "entitlement load: comparison"

    func validate() throws {
        guard reports.count >= 2 else { throw ValidationError("give at least two report files") }
    }

    func run() throws {
        let loaded = try reports.map(LoadReport.read(path:))
        print("run                                      calls/s      p50 ms      p99 ms    p99.9 ms      errors")
        for report in loaded {
            let l = report.latencyMs
            let cell = { (v: Double?) in (v.map { Formatting.decimal($0, digits: 3) } ?? "-").leftPadded(12) }
            print(
                report.label.padding(toLength: 36, withPad: " ", startingAt: 0) + Formatting.decimal(report.rps, digits: 1).leftPadded(12)
                    + cell(l?.p50) + cell(l?.p99) + cell(l?.p999) + String(report.total - report.ok).leftPadded(12)
                    // After the numbers: a long label is cut to its column.
                    + (report.interrupted == true ? "  (interrupted)" : ""))
        }
        if let html {
            guard FileManager.default.createFile(atPath: html, contents: Data(try LoadHTML.render(loaded, title: title).utf8)) else {
                throw ReportError("cannot write \(html)")
            }
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
