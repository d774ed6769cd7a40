import ArgumentParser
import EntitlementAPI

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

    @Argument(help: "Request ids to reprocess.")
    var requestIDs: [String]

    func validate() throws {
        guard !packageID.isEmpty else { throw ValidationError("--package must not be empty") }
        guard (1...100).contains(requestIDs.count) else { throw ValidationError("give 1 to 100 request ids") }
    }

    func run() async throws {
        let response = try await client.withClient(authorized: true) { transport in
            var request = ReprocessRequest()
            request.accessPackageId = packageID
            request.requestIds = requestIDs
            return try await AccessPackageRequestsClient(transport: transport)
                .reprocess(request, options: client.callOptions(authorized: true))
        }
        if json {
            print(ProtoJSON.render(ProtoJSON.value(response)))
        } else {
            for result in response.results { print(Formatting.line(for: result)) }
        }
    }
}
