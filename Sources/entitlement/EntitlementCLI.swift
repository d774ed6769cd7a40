import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `entitlement`: an operator CLI and load tester for the entitlement gRPC service.
@main
struct EntitlementCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entitlement",
        abstract: "Operate and load-test the entitlement gRPC service.",
        discussion: """
            Every subcommand talks gRPC over h2c to --target host:port (or --host/--port). Calls other \
            than health carry `authorization: Bearer <token>` from --token or $ENTITLEMENT_TOKEN. \
            --output json prints the proto3 JSON mapping of each response, one per line. Exit status: \
            0 the calls succeeded; 1 a call failed (`error: <CODE>: <message>` on stderr); 2 usage.
            """,
        subcommands: [
            HealthCommand.self, ListCommand.self, ReprocessCommand.self, WatchCommand.self, LoadCommand.self,
            LoadCompareCommand.self,
        ]
    )

    /// Runs the command; usage errors exit 2 (the convention of grep and curl that scripts test
    /// for), not ArgumentParser's 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            // Output lost to a full disk or a closed file must not pass for success.
            if fflush(nil) != 0 {
                writeStandardError("error: cannot write to standard output: \(String(cString: strerror(errno)))")
                terminate(status: 1)
            }
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            // A bare usage status: its message was written already.
            if error is ExitCode { terminate(status: 2) }
            writeStandardError(fullMessage(for: error))
            terminate(status: 2)
        }
    }
}

/// The C library's `exit` (inside a command type, `exit` is ArgumentParser's).
private func terminate(status: Int32) -> Never {
    exit(status)
}
