import ArgumentParser
import EntitlementAPI
import H2Transport
import NIOCore
import NIOPosix
import RPCCore

/// `entitlement load`: a closed-loop load test — N calls always in flight over C connections,
/// stopping by itself after a duration or a number of calls.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load-test one RPC and report calls/s, errors and latency percentiles.",
        discussion: """
            Keeps --concurrency calls in flight, spread over --connections HTTP/2 connections, until \
            --duration seconds have passed or --requests calls were started (10 seconds if neither is given). \
            Calls in flight at the end are awaited. Latency percentiles cover successful calls, in microseconds. \
            Exits with status 1 if any call failed. Reprocess outcomes (NOT_ELIGIBLE, …) are results, not failures; \
            without --ids, reprocess uses up to 10 ids of requests that are not eligible, found with one list call, \
            so every call does the same work and no delivery is started.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "RPC to call: list, reprocess or health.")
    var rpc: LoadRPC = .list

    @Option(name: .customLong("package"), help: "Access package id (list and reprocess).")
    var packageID: String?

    @Option(help: "Calls in flight at once.")
    var concurrency = 64

    @Option(help: "Separate HTTP/2 connections; calls are spread evenly over them.")
    var connections = 1

    @Option(help: ArgumentHelp("Stop starting calls after this many seconds.", valueName: "seconds"))
    var duration: Double?

    @Option(help: ArgumentHelp("Stop after starting this many calls.", valueName: "count"))
    var requests: Int?

    @Option(help: "Page size for list calls.")
    var pageSize: Int32 = 50

    @Option(help: ArgumentHelp("Comma-separated request ids for reprocess calls.", valueName: "id,id,…"))
    var ids: String?

    func validate() throws {
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 10000") }
        guard (1...1_000).contains(connections) else { throw ValidationError("--connections must be 1 to 1000") }
        guard connections <= concurrency else { throw ValidationError("--connections must not exceed --concurrency") }
        if let duration, !(duration.isFinite && duration > 0 && duration <= 86_400) {
            throw ValidationError("--duration must be more than 0 and at most 86400 seconds")
        }
        if let requests, requests < 1 { throw ValidationError("--requests must be at least 1") }
        guard pageSize >= 0 else { throw ValidationError("--page-size must not be negative") }
        if rpc != .health, packageID?.isEmpty ?? true { throw ValidationError("--package is required for --rpc \(rpc)") }
        if let ids {
            let list = Self.parseIDs(ids)
            guard (1...100).contains(list.count) else { throw ValidationError("--ids must hold 1 to 100 ids") }
            guard Set(list).count == list.count else { throw ValidationError("--ids must not repeat an id") }
        }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: min(connections, System.coreCount))
        let transports = (0..<connections).map { _ in
            GRPCClient(host: client.host, port: client.port, eventLoopGroup: group)
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
        case .success(let report):
            print(report.text)
            if report.failed > 0 { throw ExitCode.failure }
        case .failure(let error as RPCError):
            client.reportFailure(error, authorized: rpc != .health)
            throw ExitCode.failure
        case .failure(let error):
            throw error
        }
    }

    /// Prepares the calls, opens every connection with one call each, then runs the timed phase.
    private func measure(_ transports: [GRPCClient]) async throws -> LoadReport {
        let options = client.callOptions(authorized: rpc != .health)
        let reprocessIDs = rpc == .reprocess ? try await resolveIDs(transports[0], options: options) : []
        let calls = transports.map { LoadCall(rpc: rpc, transport: $0, options: options, packageID: packageID ?? "", pageSize: pageSize, ids: reprocessIDs) }

        // Warm-up, untimed: connection set-up is not what this measures, and a server that refuses
        // every call (wrong token, unknown package) is reported once, not a million times.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for call in calls {
                group.addTask {
                    var scratch = WorkerResult()
                    try await call.perform(into: &scratch)
                }
            }
            try await group.waitForAll()
        }

        let clock = ContinuousClock()
        let effectiveDuration = duration ?? (requests == nil ? 10 : nil)
        let started = clock.now
        let stop = LoadStop(
            limit: requests,
            deadline: effectiveDuration.map { started + .nanoseconds(Int64(($0 * 1_000_000_000).rounded())) }
        )
        let merged = await withTaskGroup(of: WorkerResult.self) { group in
            for worker in 0..<concurrency {
                let call = calls[worker % calls.count]
                group.addTask { await call.runWorker(until: stop, clock: clock) }
            }
            var merged = WorkerResult()
            for await result in group { merged.merge(result) }
            return merged
        }
        let elapsed = clock.now - started

        var setup = "\(rpc)"
        if let packageID, rpc != .health { setup += "  package \(packageID)" }
        if rpc == .list { setup += "  page size \(pageSize)" }
        if rpc == .reprocess { setup += "  \(reprocessIDs.count) ids" }
        setup += "  compression \(client.compression.rawValue)"
        return LoadReport(
            setup: setup,
            target: "\(client.host):\(client.port)  connections \(connections)  concurrency \(concurrency)",
            elapsed: elapsed,
            result: merged,
            rpc: rpc
        )
    }

    /// `--ids`, or up to 10 requests of the package in states reprocess never accepts.
    private func resolveIDs(_ transport: GRPCClient, options: CallOptions) async throws -> [String] {
        if let ids { return Self.parseIDs(ids) }
        var request = ListRequestsRequest()
        request.accessPackageId = packageID ?? ""
        request.states = [.submitted, .pendingApproval, .denied, .canceled, .scheduled]
        request.pageSize = 10
        let page = try await AccessPackageRequestsClient(transport: transport).listRequests(request, options: options)
        guard !page.requests.isEmpty else {
            throw RPCError(code: .notFound, message: "no ineligible requests in \(packageID ?? "") to reprocess; pass --ids")
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

    var description: String { rawValue }
}
