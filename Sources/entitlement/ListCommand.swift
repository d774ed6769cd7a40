import ArgumentParser
import EntitlementAPI

/// `entitlement list`: one page, or every page, of an access package's requests.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the requests of an access package, newest first.",
        discussion: """
            Prints each request (id, state, times in RFC 3339 UTC, reprocess count, requestor, resources), \
            then the next page token. --all follows pages to the end. --output json prints the proto3 JSON \
            mapping of each ListRequestsResponse, one page per line, so `| entitlement reprocess --package P -` \
            reprocesses what was listed.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(name: .customLong("package"), help: "Access package id.")
    var packageID: String

    @Option(
        name: .customLong("state"),
        help: ArgumentHelp(
            "Only requests in this state (repeatable), e.g. REQUEST_STATE_DELIVERY_FAILED or delivery_failed.",
            valueName: "state"
        )
    )
    var states: [RequestStateArgument] = []

    @Option(parsing: .unconditional, help: "Requests per page (0 = server default 50, at most 1000).")
    var pageSize: Int32 = 0

    @Option(help: "Continue from this page token.")
    var pageToken = ""

    @Flag(help: "Follow next page tokens until the last page.")
    var all = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard !packageID.isEmpty else { throw ValidationError("--package must not be empty") }
        guard pageSize >= 0 else { throw ValidationError("--page-size must not be negative") }
    }

    func run() async throws {
        var output = ListOutput(json: output.isJSON, all: all)
        try await client.withClient(authorized: true) { transport in
            let service = AccessPackageRequestsClient(transport: transport)
            let options = client.callOptions(authorized: true)
            var request = ListRequestsRequest()
            request.accessPackageId = packageID
            request.states = states.map(\.state)
            request.pageSize = pageSize
            request.pageToken = pageToken
            while true {
                let page = try await service.listRequests(request, options: options)
                output.write(page)
                guard all, !page.nextPageToken.isEmpty else { break }
                request.pageToken = page.nextPageToken
            }
        }
        output.finish()
    }
}

/// Streams pages to stdout so `--all` never holds more than one page.
private struct ListOutput {
    let json: Bool
    let all: Bool
    private var count = 0

    init(json: Bool, all: Bool) {
        self.json = json
        self.all = all
    }

    mutating func write(_ page: ListRequestsResponse) {
        count += page.requests.count
        if json {
            print(ProtoJSON.line(ProtoJSON.value(page)))
            return
        }
        for request in page.requests { print(Formatting.lines(for: request)) }
        if !all { print("next page token: \(page.nextPageToken.isEmpty ? "(none, last page)" : page.nextPageToken)") }
    }

    func finish() {
        guard all, !json else { return }
        print("\(count) request\(count == 1 ? "" : "s"), last page reached")
    }
}

/// A `--state` value: the proto enum name, with or without the `REQUEST_STATE_` prefix, any case.
struct RequestStateArgument: ExpressibleByArgument, Sendable {
    let state: RequestState

    init?(argument: String) {
        var name = argument.uppercased()
        if !name.hasPrefix("REQUEST_STATE_") { name = "REQUEST_STATE_" + name }
        guard let state = RequestState(protoName: name), state != .unspecified else { return nil }
        self.state = state
    }

    static var allValueStrings: [String] {
        RequestState.allKnownCases.filter { $0 != .unspecified }.map(\.protoName)
    }
}
