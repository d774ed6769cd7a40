import ArgumentParser
import EntitlementAPI
import RPCCore

/// `entitlement reprocess`: retries delivery of requests whose access was not fully provisioned.
struct ReprocessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reprocess",
        abstract: "Reprocess requests of an access package (1 to 100 ids).",
        discussion: """
            Prints one line per id, in the order given: id, outcome, resulting state, detail. \
            Outcomes such as NOT_ELIGIBLE are results, not failures: the exit status is 0 whenever the call succeeds.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(name: .customLong("package"), help: "Access package id.")
    var packageID: String

    @Flag(help: "Print the response as proto3 JSON.")
    var json = false

    @Flag(help: "After reprocessing, watch the accepted requests until they settle and print the final state of each.")
    var wait = false

    @Argument(help: "Request ids to reprocess.")
    var requestIDs: [String]

    func validate() throws {
        guard !packageID.isEmpty else { throw ValidationError("--package must not be empty") }
        guard (1...100).contains(requestIDs.count) else { throw ValidationError("give 1 to 100 request ids") }
    }

    func run() async throws {
        try await client.withClient(authorized: true) { transport in
            let api = AccessPackageRequestsClient(transport: transport)
            var request = ReprocessRequest()
            request.accessPackageId = packageID
            request.requestIds = requestIDs
            let response = try await api.reprocess(request, options: client.callOptions(authorized: true))
            if json {
                print(ProtoJSON.render(ProtoJSON.value(response)))
            } else {
                for result in response.results { print(Formatting.line(for: result)) }
            }
            let accepted = response.results.filter { $0.outcome == .accepted }.map(\.requestId)
            guard wait, !accepted.isEmpty else { return }
            try await Self.waitUntilSettled(accepted, package: packageID, api: api, options: client.callOptions(authorized: true), json: json)
        }
    }

    /// Watches `ids` until none is DELIVERING, then prints each one's final state.
    static func waitUntilSettled(
        _ ids: [String], package: String, api: AccessPackageRequestsClient, options: CallOptions, json: Bool
    ) async throws {
        var watch = WatchRequestsRequest()
        watch.accessPackageId = package
        watch.requestIds = ids
        watch.untilSettled = true
        var final: [String: AccessPackageRequest] = [:]
        for try await change in try await api.watchRequests(watch, options: options) {
            if let request = change.request { final[request.id] = request }
        }
        if !json { print("settled:") }
        for id in ids {
            guard let request = final[id] else { continue }
            print(json ? ProtoJSON.render(ProtoJSON.value(request)) : Formatting.changeLine(for: request))
        }
    }
}
