import ArgumentParser

/// `entitlement`: an operator CLI and load tester for the entitlement gRPC service.
@main
struct EntitlementCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entitlement",
        abstract: "Operate and load-test the entitlement gRPC service.",
        discussion: """
            Every subcommand talks gRPC over h2c to --host/--port. Calls other than health carry \
            `authorization: Bearer <token>` from --token or $ENTITLEMENT_TOKEN. A failed call prints \
            `error: <CODE>: <message>` on stderr and exits with status 1.
            """,
        subcommands: [HealthCommand.self, ListCommand.self, ReprocessCommand.self, WatchCommand.self, LoadCommand.self]
    )
}
