import ArgumentParser
import EntitlementAPI

/// `entitlement health`: one `grpc.health.v1.Health/Check`.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check whether the server (or one of its services) is serving.",
        discussion: "Prints the serving status. Exit status: 0 SERVING, 2 any other status, 1 the call failed."
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "Service to check; empty means the whole server.")
    var service = ""

    func run() async throws {
        let status = try await client.withClient(authorized: false) { transport in
            var request = HealthCheckRequest()
            request.service = service
            return try await HealthClient(transport: transport)
                .check(request, options: client.callOptions(authorized: false))
                .status
        }
        print(status.protoName)
        if status != .serving { throw ExitCode(2) }
    }
}
