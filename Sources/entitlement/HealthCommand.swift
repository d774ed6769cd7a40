import ArgumentParser
import EntitlementAPI

/// `entitlement health`: one `grpc.health.v1.Health/Check`.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check whether the server (or one of its services) is serving.",
        discussion: """
            Prints the serving status (--output json: {"status":"SERVING"}). Exit status: 0 SERVING; 1 any \
            other status (named on stderr) or the call failed; 2 usage.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(help: "Service to check; empty means the whole server.")
    var service = ""

    @OptionGroup var output: OutputOptions

    func run() async throws {
        let status = try await client.withClient(authorized: false) { transport in
            var request = HealthCheckRequest()
            request.service = service
            return try await HealthClient(transport: transport)
                .check(request, options: client.callOptions(authorized: false))
                .status
        }
        print(output.isJSON ? ProtoJSON.line(.object([("status", .string(status.protoName))])) : status.protoName)
        if status != .serving {
            writeStandardError("error: \(status.protoName): the server is not serving\(service.isEmpty ? "" : " \(service)")")
            throw ExitCode.failure
        }
    }
}
